//! Stores: named places that hold objects.
//!
//! Every backend (a local folder, S3, Cloudflare R2, an in-memory store for unit tests)
//! implements the one [`Store`] trait. The engine never talks to a backend directly:
//! it streams bytes in and out through this trait, so a new backend (UploadThing, an
//! encrypting wrapper) slots in without touching the put and read paths.

mod breaker;
mod build;
mod error;
mod health;
mod metered;
mod object;
pub mod uploadthing;

use std::fmt::Debug;
use std::ops::Range;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;
use serde::Serialize;

pub use breaker::CircuitBreaker;
pub use build::open_store;
pub use error::StoreError;
pub(crate) use health::error_chain;
pub use health::{CANARY_PREFIX, StoreHealth, round_trip};
pub use metered::{MeteredStore, OperationStats, RequestCounts};
pub use object::ObjectStoreBackend;
pub use uploadthing::UploadThingStore;

/// A stream of bytes flowing into or out of a store.
///
/// Errors are `std::io::Error` so that a stream from a file, an HTTP body or another
/// store can be passed along unchanged; a store error travels inside as its source.
pub type ByteStream = BoxStream<'static, std::io::Result<Bytes>>;

/// What a store reports about one object.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ObjectInfo {
    /// The object key, relative to the store's prefix.
    pub key: String,
    /// Size in bytes.
    pub size: u64,
    /// The store's entity tag, when it gives one. It changes whenever the object is
    /// rewritten, which lets a reader notice a replaced object before reading it.
    pub etag: Option<String>,
}

/// An object being read: what the store reported, and the bytes.
pub struct GetObject {
    /// The whole object's metadata (not only the requested range).
    pub info: ObjectInfo,
    /// The byte range being returned.
    pub range: Range<u64>,
    /// The bytes of that range.
    pub body: ByteStream,
}

impl Debug for GetObject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GetObject")
            .field("info", &self.info)
            .field("range", &self.range)
            .finish_non_exhaustive()
    }
}

/// The kind of backend behind a store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StoreKind {
    /// A folder on local disk.
    Local,
    /// AWS S3 or any S3-compatible service (Garage, MinIO, Ceph).
    S3,
    /// Cloudflare R2, through its S3-compatible API.
    R2,
    /// Process memory; for tests and experiments only, lost on exit.
    Memory,
    /// UploadThing, through its v7 ingest and `/v6` REST API (see [`UploadThingStore`]).
    #[serde(rename = "uploadthing")]
    UploadThing,
}

impl StoreKind {
    /// The lowercase name used in configuration and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            StoreKind::Local => "local",
            StoreKind::S3 => "s3",
            StoreKind::R2 => "r2",
            StoreKind::Memory => "memory",
            StoreKind::UploadThing => "uploadthing",
        }
    }
}

/// A named place that holds objects.
///
/// Keys are relative, `/`-separated, and chosen by twinstore (never by a user). All
/// calls stream: no implementation may hold a whole object in memory.
#[async_trait]
pub trait Store: Debug + Send + Sync {
    /// The store's name from the configuration, as recorded in the catalog.
    fn name(&self) -> &str;

    /// The kind of backend.
    fn kind(&self) -> StoreKind;

    /// Writes `body` under `key`, replacing any object there.
    ///
    /// The object appears only when the whole stream has been written: a stream that
    /// ends in an error, or a call that is dropped, leaves no object behind.
    async fn put(&self, key: &str, body: ByteStream) -> Result<ObjectInfo, StoreError>;

    /// Reads the object under `key`, or only `range` of it.
    async fn get(&self, key: &str, range: Option<Range<u64>>) -> Result<GetObject, StoreError>;

    /// Reports an object's size and entity tag without reading it.
    async fn head(&self, key: &str) -> Result<ObjectInfo, StoreError>;

    /// Removes the object under `key`. Removing an absent object succeeds.
    async fn delete(&self, key: &str) -> Result<(), StoreError>;

    /// Lists every object whose key starts with `prefix`.
    fn list(&self, prefix: &str) -> BoxStream<'static, Result<ObjectInfo, StoreError>>;

    /// The stable address of an object, as recorded in the catalog.
    ///
    /// It is the public URL when the store has a public base URL; otherwise it names the
    /// object but may need credentials to open (see [`Store::access_url`]).
    fn canonical_url(&self, key: &str) -> String;

    /// A URL that opens the object now without credentials: the public URL when there
    /// is one, otherwise a URL signed for `ttl` (for stores that can sign).
    async fn access_url(&self, key: &str, ttl: Duration) -> Result<String, StoreError>;

    /// A cheap authenticated call that tells whether the store answers, for stores where
    /// the canary round trip of [`round_trip`] costs more than it tells (each canary
    /// would be a billed upload). `None`, the default, means: use the round trip.
    async fn probe(&self) -> Option<Result<(), StoreError>> {
        None
    }
}
