//! Errors raised by stores.

use std::time::Duration;

/// A store operation that failed, naming the store, the step and the object.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The object does not exist in the store.
    #[error("object {key} not found in store {store}")]
    NotFound {
        /// The store's name.
        store: String,
        /// The object key.
        key: String,
    },

    /// The backend refused or failed the call.
    #[error("store {store} failed to {operation} {key}")]
    Backend {
        /// The store's name.
        store: String,
        /// The step that failed, such as `put` or `head`.
        operation: &'static str,
        /// The object key, or the listed prefix.
        key: String,
        /// What the backend said.
        #[source]
        source: Box<object_store::Error>,
    },

    /// The stream of bytes being written failed before it ended.
    #[error("the bytes for {key} could not be read while writing to store {store}")]
    Body {
        /// The store's name.
        store: String,
        /// The object key.
        key: String,
        /// Why the stream failed.
        #[source]
        source: std::io::Error,
    },

    /// The store did not answer in time.
    #[error("store {store} did not answer {operation} {key} within {timeout:?}")]
    Timeout {
        /// The store's name.
        store: String,
        /// The step that timed out.
        operation: &'static str,
        /// The object key.
        key: String,
        /// The time allowed.
        timeout: Duration,
    },

    /// The store's configuration cannot work.
    #[error("store {store} is misconfigured: {message}")]
    Config {
        /// The store's name.
        store: String,
        /// What is wrong.
        message: String,
    },

    /// The store failed recently and is skipped until its cool-down ends.
    #[error("store {store} failed recently and is skipped for now")]
    Skipped {
        /// The store's name.
        store: String,
    },

    /// The store refused the credentials (HTTP 401 or 403).
    #[error("store {store} refused the credentials to {operation} {key} (HTTP {status})")]
    Unauthorized {
        /// The store's name.
        store: String,
        /// The step that was refused.
        operation: &'static str,
        /// The object key.
        key: String,
        /// The HTTP status.
        status: u16,
    },

    /// The store refused the object as too large (HTTP 413).
    #[error("store {store} refused {key} as too large")]
    TooLarge {
        /// The store's name.
        store: String,
        /// The object key.
        key: String,
    },

    /// A call to the store's HTTP API failed (a status, a connection, a bad answer).
    #[error("store {store} failed to {operation} {key}")]
    Http {
        /// The store's name.
        store: String,
        /// The step that failed.
        operation: &'static str,
        /// The object key, or the listed prefix.
        key: String,
        /// What went wrong.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },

    /// The store cannot give a URL that opens without credentials.
    #[error("store {store} has no public base URL and cannot sign URLs")]
    NoUrl {
        /// The store's name.
        store: String,
    },
}

impl StoreError {
    /// Whether the error says the object is absent (as opposed to the store failing).
    pub fn is_not_found(&self) -> bool {
        matches!(self, StoreError::NotFound { .. })
    }
}
