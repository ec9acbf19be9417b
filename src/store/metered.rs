//! A wrapper that counts the requests and bytes going to any store, for cost reports.

use std::ops::{Add, AddAssign, Range};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use serde::Serialize;

use super::{ByteStream, GetObject, ObjectInfo, Store, StoreError, StoreKind};

/// Keys per list request: S3's page size, which R2 and S3-compatible servers follow.
const LIST_PAGE_SIZE: u64 = 1000;

/// Requests made to a store and bytes moved, since it was opened or last taken.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestCounts {
    /// Objects written.
    pub puts: u64,
    /// Objects (or ranges of them) read.
    pub gets: u64,
    /// Metadata lookups.
    pub heads: u64,
    /// Objects deleted.
    pub deletes: u64,
    /// List requests, one per page of up to 1,000 keys.
    pub lists: u64,
    /// Bytes sent into the store.
    pub bytes_written: u64,
    /// Bytes read out of the store.
    pub bytes_read: u64,
}

impl RequestCounts {
    /// Whether nothing at all was counted.
    pub fn is_empty(&self) -> bool {
        *self == RequestCounts::default()
    }
}

impl Add for RequestCounts {
    type Output = RequestCounts;

    /// Adds field by field, saturating at `u64::MAX`.
    fn add(self, other: RequestCounts) -> RequestCounts {
        RequestCounts {
            puts: self.puts.saturating_add(other.puts),
            gets: self.gets.saturating_add(other.gets),
            heads: self.heads.saturating_add(other.heads),
            deletes: self.deletes.saturating_add(other.deletes),
            lists: self.lists.saturating_add(other.lists),
            bytes_written: self.bytes_written.saturating_add(other.bytes_written),
            bytes_read: self.bytes_read.saturating_add(other.bytes_read),
        }
    }
}

impl AddAssign for RequestCounts {
    fn add_assign(&mut self, other: RequestCounts) {
        *self = *self + other;
    }
}

/// A store that counts what passes through it, and otherwise behaves exactly like the
/// store it wraps.
///
/// Every call counts when it is made, whether it then succeeds or not: providers bill
/// most failed requests too. Bytes count as the streams pass through the wrapper, chunk
/// by chunk, so a write that fails halfway counts the bytes that were sent, and a read
/// that is dropped early counts only what was read. Retries inside the backend and the
/// parts of a multipart upload are not visible here, so a `put` counts once however
/// many requests it took.
#[derive(Debug)]
pub struct MeteredStore {
    inner: Arc<dyn Store>,
    meters: Arc<Meters>,
}

/// The timing of one kind of call to a store, since it was opened.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct OperationStats {
    /// `put`, `get`, `head` or `delete`.
    pub operation: &'static str,
    /// Calls made.
    pub calls: u64,
    /// Calls that failed (an absent object counts as an answer, not a failure).
    pub errors: u64,
    /// Time spent waiting for answers, in seconds (for a read: until the body starts).
    pub seconds: f64,
}

const OPERATIONS: [&str; 4] = ["put", "get", "head", "delete"];

/// The counts since the last `take`, the counts since the store was opened, and the
/// timing of each kind of call.
#[derive(Debug, Default)]
struct Meters {
    window: Counters,
    total: Counters,
    calls: [AtomicU64; 4],
    errors: [AtomicU64; 4],
    micros: [AtomicU64; 4],
}

impl Meters {
    fn add(&self, field: fn(&Counters) -> &AtomicU64, amount: u64) {
        field(&self.window).fetch_add(amount, Ordering::Relaxed);
        field(&self.total).fetch_add(amount, Ordering::Relaxed);
    }

    fn time<T>(&self, operation: usize, started: Instant, result: &Result<T, StoreError>) {
        let failed = matches!(result, Err(err) if !err.is_not_found());
        self.calls[operation].fetch_add(1, Ordering::Relaxed);
        self.errors[operation].fetch_add(u64::from(failed), Ordering::Relaxed);
        let micros = started.elapsed().as_micros() as u64;
        self.micros[operation].fetch_add(micros, Ordering::Relaxed);
    }
}

impl MeteredStore {
    /// Wraps `inner`, with every count at zero.
    pub fn new(inner: Arc<dyn Store>) -> Self {
        Self { inner, meters: Arc::default() }
    }

    /// The wrapped store.
    pub fn inner(&self) -> &Arc<dyn Store> {
        &self.inner
    }

    /// The counts so far, without resetting them.
    pub fn usage(&self) -> RequestCounts {
        self.meters.window.read(|counter| counter.load(Ordering::Relaxed))
    }

    /// The counts since the store was opened; [`MeteredStore::take`] does not reset
    /// them. For monotonic metrics.
    pub fn totals(&self) -> RequestCounts {
        self.meters.total.read(|counter| counter.load(Ordering::Relaxed))
    }

    /// Calls, errors and time spent, per kind of call, since the store was opened.
    pub fn operations(&self) -> Vec<OperationStats> {
        let load =
            |counters: &[AtomicU64; 4], index: usize| counters[index].load(Ordering::Relaxed);
        OPERATIONS
            .iter()
            .enumerate()
            .map(|(index, operation)| OperationStats {
                operation,
                calls: load(&self.meters.calls, index),
                errors: load(&self.meters.errors, index),
                seconds: load(&self.meters.micros, index) as f64 / 1e6,
            })
            .collect()
    }

    /// The counts so far, resetting them to zero: for flushing to the catalog.
    ///
    /// Each counter is taken on its own, so a request that runs during the call may
    /// land in this batch or the next, but always in exactly one.
    pub fn take(&self) -> RequestCounts {
        self.meters.window.read(|counter| counter.swap(0, Ordering::Relaxed))
    }
}

#[derive(Debug, Default)]
struct Counters {
    puts: AtomicU64,
    gets: AtomicU64,
    heads: AtomicU64,
    deletes: AtomicU64,
    lists: AtomicU64,
    bytes_written: AtomicU64,
    bytes_read: AtomicU64,
}

impl Counters {
    fn read(&self, read: impl Fn(&AtomicU64) -> u64) -> RequestCounts {
        RequestCounts {
            puts: read(&self.puts),
            gets: read(&self.gets),
            heads: read(&self.heads),
            deletes: read(&self.deletes),
            lists: read(&self.lists),
            bytes_written: read(&self.bytes_written),
            bytes_read: read(&self.bytes_read),
        }
    }
}

#[async_trait]
impl Store for MeteredStore {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn kind(&self) -> StoreKind {
        self.inner.kind()
    }

    async fn put(&self, key: &str, body: ByteStream) -> Result<ObjectInfo, StoreError> {
        self.meters.add(|c| &c.puts, 1);
        let meters = Arc::clone(&self.meters);
        let body = body
            .inspect_ok(move |chunk| meters.add(|c| &c.bytes_written, chunk.len() as u64))
            .boxed();
        let started = Instant::now();
        let result = self.inner.put(key, body).await;
        self.meters.time(0, started, &result);
        result
    }

    async fn get(&self, key: &str, range: Option<Range<u64>>) -> Result<GetObject, StoreError> {
        self.meters.add(|c| &c.gets, 1);
        let started = Instant::now();
        let result = self.inner.get(key, range).await;
        self.meters.time(1, started, &result);
        let mut object = result?;

        let meters = Arc::clone(&self.meters);
        object.body = object
            .body
            .inspect_ok(move |chunk| meters.add(|c| &c.bytes_read, chunk.len() as u64))
            .boxed();
        Ok(object)
    }

    async fn head(&self, key: &str) -> Result<ObjectInfo, StoreError> {
        self.meters.add(|c| &c.heads, 1);
        let started = Instant::now();
        let result = self.inner.head(key).await;
        self.meters.time(2, started, &result);
        result
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.meters.add(|c| &c.deletes, 1);
        let started = Instant::now();
        let result = self.inner.delete(key).await;
        self.meters.time(3, started, &result);
        result
    }

    fn list(&self, prefix: &str) -> BoxStream<'static, Result<ObjectInfo, StoreError>> {
        // The first page is requested whatever it holds; each further 1,000 keys mean
        // one more request.
        self.meters.add(|c| &c.lists, 1);
        let meters = Arc::clone(&self.meters);
        let mut keys = 0u64;
        self.inner
            .list(prefix)
            .inspect_ok(move |_| {
                keys += 1;
                if keys > LIST_PAGE_SIZE && (keys - 1).is_multiple_of(LIST_PAGE_SIZE) {
                    meters.add(|c| &c.lists, 1);
                }
            })
            .boxed()
    }

    fn canonical_url(&self, key: &str) -> String {
        self.inner.canonical_url(key)
    }

    async fn access_url(&self, key: &str, ttl: Duration) -> Result<String, StoreError> {
        // Signing is local computation, not a request to the store.
        self.inner.access_url(key, ttl).await
    }

    async fn probe(&self) -> Option<Result<(), StoreError>> {
        self.inner.probe().await
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use futures::stream;

    use super::*;
    use crate::config::StoreConfig;
    use crate::store::open_store;

    fn metered() -> MeteredStore {
        let memory = open_store("m", &StoreConfig::empty(StoreKind::Memory)).unwrap();
        MeteredStore::new(memory)
    }

    fn body(chunks: &[&'static [u8]]) -> ByteStream {
        let chunks: Vec<_> = chunks.iter().map(|c| Ok(Bytes::from_static(c))).collect();
        stream::iter(chunks).boxed()
    }

    async fn read_all(object: GetObject) -> Vec<u8> {
        let chunks: Vec<Bytes> = object.body.try_collect().await.unwrap();
        chunks.concat()
    }

    #[tokio::test]
    async fn counts_each_call_and_the_bytes_both_ways() {
        let store = metered();

        store.put("a", body(&[b"hello ", b"world"])).await.unwrap();
        let bytes = read_all(store.get("a", None).await.unwrap()).await;
        assert_eq!(bytes, b"hello world");
        let part = read_all(store.get("a", Some(0..5)).await.unwrap()).await;
        assert_eq!(part, b"hello");
        store.head("a").await.unwrap();
        store.delete("a").await.unwrap();

        assert_eq!(
            store.usage(),
            RequestCounts {
                puts: 1,
                gets: 2,
                heads: 1,
                deletes: 1,
                lists: 0,
                bytes_written: 11,
                bytes_read: 16,
            }
        );
    }

    #[tokio::test]
    async fn failed_calls_count_too() {
        let store = metered();

        assert!(store.get("missing", None).await.unwrap_err().is_not_found());
        assert!(store.head("missing").await.is_err());

        let usage = store.usage();
        assert_eq!((usage.gets, usage.heads, usage.bytes_read), (1, 1, 0));
    }

    #[tokio::test]
    async fn a_write_that_fails_midway_counts_the_bytes_sent() {
        let store = metered();
        let failing = stream::iter(vec![
            Ok(Bytes::from_static(b"12345")),
            Err(std::io::Error::other("client went away")),
        ])
        .boxed();

        assert!(store.put("a", failing).await.is_err());

        let usage = store.usage();
        assert_eq!((usage.puts, usage.bytes_written), (1, 5));
        assert!(store.inner().head("a").await.unwrap_err().is_not_found());
    }

    #[tokio::test]
    async fn a_read_counts_only_what_was_read() {
        let store = metered();
        store.put("a", body(&[b"0123456789"])).await.unwrap();

        let object = store.get("a", None).await.unwrap();
        drop(object);

        assert_eq!(store.usage().bytes_read, 0);
    }

    #[tokio::test]
    async fn lists_count_one_request_per_page_of_keys() {
        let store = metered();
        let list = |prefix: &str| store.list(prefix).try_collect::<Vec<_>>();

        assert!(list("none/").await.unwrap().is_empty());
        assert_eq!(store.take().lists, 1);

        for i in 0..1001 {
            store.put(&format!("k/{i}"), body(&[b"x"])).await.unwrap();
        }
        store.take();
        assert_eq!(list("k/").await.unwrap().len(), 1001);
        assert_eq!(store.take().lists, 2);

        for i in 1001..2000 {
            store.put(&format!("k/{i}"), body(&[b"x"])).await.unwrap();
        }
        store.take();
        assert_eq!(list("k/").await.unwrap().len(), 2000);
        assert_eq!(store.take().lists, 2);
    }

    #[tokio::test]
    async fn take_returns_the_counts_and_starts_again_from_zero() {
        let store = metered();
        store.put("a", body(&[b"abc"])).await.unwrap();

        let taken = store.take();
        assert_eq!((taken.puts, taken.bytes_written), (1, 3));
        assert!(store.usage().is_empty());

        store.head("a").await.unwrap();
        assert_eq!(store.take().heads, 1);
    }

    #[tokio::test]
    async fn delegates_name_kind_and_urls() {
        let store = metered();

        assert_eq!(store.name(), "m");
        assert_eq!(store.kind(), StoreKind::Memory);
        assert_eq!(store.canonical_url("a/b"), store.inner().canonical_url("a/b"));
    }

    #[test]
    fn counts_add_up_and_serialize_in_camel_case() {
        let mut total = RequestCounts { puts: 1, bytes_read: u64::MAX, ..RequestCounts::default() };
        total += RequestCounts { puts: 2, bytes_read: 1, ..RequestCounts::default() };

        assert_eq!((total.puts, total.bytes_read), (3, u64::MAX));
        let json = serde_json::to_value(total).unwrap();
        assert_eq!(json["bytesWritten"], 0);
        assert_eq!(json["puts"], 3);
    }
}
