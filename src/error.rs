//! The errors of twinstore's operations, as callers see them.

use crate::catalog::CatalogError;
use crate::config::ConfigError;
use crate::store::StoreError;

/// A twinstore operation that failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configuration cannot work.
    #[error(transparent)]
    Config(#[from] ConfigError),

    /// A store could not be opened or used.
    #[error(transparent)]
    Store(#[from] StoreError),

    /// The catalog failed.
    #[error(transparent)]
    Catalog(#[from] CatalogError),

    /// There is no file with this id.
    #[error("no file with id {id}")]
    FileNotFound {
        /// The id asked for.
        id: String,
    },

    /// The file has no rendition of this name (not an image, or not rendered yet).
    #[error("file {id} has no rendition {name}")]
    RenditionNotFound {
        /// The file's id.
        id: String,
        /// The rendition asked for.
        name: String,
    },

    /// The bytes to store could not be read.
    #[error("cannot read the file to store")]
    Input(#[source] std::io::Error),

    /// The primary store did not take the file, so nothing was stored.
    #[error("the primary store {store} did not accept the file; nothing was stored")]
    PrimaryFailed {
        /// The primary store's name.
        store: String,
        /// What failed.
        #[source]
        source: Box<Error>,
    },

    /// A store kept a different number of bytes than were sent.
    #[error("store {store} kept {stored} bytes of a {sent}-byte file")]
    SizeMismatch {
        /// The store's name.
        store: String,
        /// Bytes sent.
        sent: u64,
        /// Bytes the store reports.
        stored: u64,
    },

    /// No copy of the file could be read: every store failed or held other bytes.
    #[error("no copy of file {id} could be read ({reasons})")]
    NoReadableCopy {
        /// The file's id.
        id: String,
        /// Why each copy failed, joined with `; `.
        reasons: String,
    },

    /// A copy that names a store which is not configured.
    #[error("file {id} has a copy in store {store}, which is not configured")]
    UnknownStore {
        /// The file's id.
        id: String,
        /// The store's name.
        store: String,
    },

    /// Writing the downloaded file failed.
    #[error("cannot write {path}")]
    Output {
        /// Where it was being written.
        path: std::path::PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },

    /// The bytes uploaded were found infected before; nothing was stored.
    #[error("this content was found infected ({signature}) and is refused")]
    Quarantined {
        /// The signature found then.
        signature: String,
    },

    /// The file was found infected; it is never served.
    #[error("file {id} was found infected ({signature})")]
    Infected {
        /// The file's id.
        id: String,
        /// The signature found.
        signature: String,
    },

    /// The file is not known clean yet, and the configuration refuses such files.
    #[error("file {id} is not known clean yet (scan {status})")]
    NotScanned {
        /// The file's id.
        id: String,
        /// Its scan state.
        status: String,
    },

    /// A virus scan could not give a verdict.
    #[error("the virus scan failed")]
    Scan(#[from] crate::scan::ScanError),

    /// The request cannot be carried out as asked.
    #[error("{message}")]
    Invalid {
        /// What is wrong.
        message: String,
    },

    /// Some copies could not be removed; they stay recorded so that `rm` can be re-run.
    #[error("file {id} was not removed from every store ({reasons})")]
    IncompleteDelete {
        /// The file's id.
        id: String,
        /// Why each store failed, joined with `; `.
        reasons: String,
    },
}

/// Shorthand for results of twinstore's operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;
