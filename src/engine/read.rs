//! The failover read: from the primary, or from the backup when the primary errors,
//! times out, or holds other bytes than the catalog recorded.

use std::ops::Range;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures::{Stream, StreamExt};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;
use tracing::warn;

use super::Twinstore;
use crate::catalog::{CopyRecord, CopyState, FileRecord};
use crate::error::{Error, Result};
use crate::store::{ByteStream, Store, StoreError};

/// How to read a file.
#[derive(Debug, Clone, Default)]
pub struct ReadOptions {
    /// Try the backup copy first.
    pub prefer_backup: bool,
    /// Read only these bytes (end exclusive) instead of the whole file.
    pub range: Option<Range<u64>>,
}

/// A file being read from one of its copies.
pub struct FileReader {
    /// The file's record.
    pub file: FileRecord,
    /// The store the bytes come from.
    pub store: String,
    /// The bytes being returned.
    pub range: Range<u64>,
    /// The bytes. A whole-file read ends in an error, instead of ending cleanly, if the
    /// bytes do not match the file's SHA-256.
    pub body: ByteStream,
}

impl std::fmt::Debug for FileReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileReader")
            .field("file", &self.file.id)
            .field("store", &self.store)
            .field("range", &self.range)
            .finish_non_exhaustive()
    }
}

/// Why one copy could not be read.
#[derive(Debug, thiserror::Error)]
enum CopyReadError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("store {store} did not answer within {seconds} s")]
    Timeout { store: String, seconds: u64 },
    #[error("store {store} holds an object that differs from the catalog's record ({what})")]
    Replaced { store: String, what: &'static str },
}

impl Twinstore {
    /// Opens the file `id` for reading, from the first copy that answers with the
    /// recorded object.
    ///
    /// Copies are tried primary first (backup first with `prefer_backup`); a store
    /// that failed recently is tried last (circuit breaker). A copy is passed over when
    /// its store errors, does not answer within the first-byte timeout, or reports an
    /// object whose size or entity tag differs from the catalog's (the object was
    /// replaced). A copy that fails mid-way is continued by the next copy, read from
    /// the offset reached. A whole-file read is hashed as it streams and ends in an
    /// error if the bytes differ from the SHA-256; use [`Twinstore::download`] to get
    /// the next copy automatically in that case.
    pub async fn read(&self, id: &str, options: ReadOptions) -> Result<FileReader> {
        let file = self.file(id).await?;
        self.check_servable(&file)?;
        let mut reasons = Vec::new();

        let order = self.read_order(&file, options.prefer_backup);
        for (index, copy) in order.iter().enumerate() {
            let (range, body) = match self.open_raw(&file, copy, options.range.clone()).await {
                Ok(opened) => opened,
                Err(err) => {
                    reasons.push(format!("{}: {err}", copy.store));
                    continue;
                }
            };
            // Should this copy fail mid-way, the copies after it take over at the offset
            // reached.
            let mut fallbacks = Vec::new();
            for other in &order[index + 1..] {
                let store = self.store_of(&file, &other.store)?.clone();
                fallbacks.push(Fallback { store, copy: (*other).clone() });
            }
            let body = resuming_body(ResumeState {
                body,
                fallbacks,
                position: range.start,
                end: range.end,
                file: file.clone(),
                first_byte: self.config.timeouts.first_byte,
                finished: false,
            });
            let body = if options.range.is_none() {
                VerifiedBody::new(body, file.sha256.clone(), copy.store.clone()).boxed()
            } else {
                body
            };
            let store = copy.store.clone();
            return Ok(FileReader { file, store, range, body });
        }
        Err(Error::NoReadableCopy { id: id.to_owned(), reasons: reasons.join("; ") })
    }

    /// Downloads the whole file `id` to `path`, verified against its SHA-256.
    ///
    /// The bytes go to a temporary file beside `path`, which replaces `path` only once
    /// its hash matches. A copy that fails or holds other bytes is passed over for the
    /// next one. Returns the name of the store the bytes came from.
    pub async fn download(&self, id: &str, path: &Path, prefer_backup: bool) -> Result<String> {
        let file = self.file(id).await?;
        self.check_servable(&file)?;
        self.download_record(&file, path, prefer_backup).await
    }

    /// [`Twinstore::download`] of a file already looked up, whether or not it may be
    /// served: for the engine's own work on it (rendering).
    pub(super) async fn download_record(
        &self,
        file: &FileRecord,
        path: &Path,
        prefer_backup: bool,
    ) -> Result<String> {
        let id = file.id.as_str();
        let mut reasons = Vec::new();

        for copy in self.read_order(file, prefer_backup) {
            let body = match self.open_copy(file, copy, None).await {
                Ok((_, body)) => body,
                Err(err) => {
                    reasons.push(format!("{}: {err}", copy.store));
                    continue;
                }
            };
            match write_verified(body, path).await {
                Ok(()) => return Ok(copy.store.clone()),
                Err(WriteError::Read(err)) => {
                    self.breaker.record_failure(&copy.store);
                    warn!(file_id = %id, store = %copy.store, error = %err, "read failed over");
                    reasons.push(format!("{}: {err}", copy.store));
                }
                Err(WriteError::Write(source)) => {
                    return Err(Error::Output { path: path.to_path_buf(), source });
                }
            }
        }
        Err(Error::NoReadableCopy { id: id.to_owned(), reasons: reasons.join("; ") })
    }

    /// A URL for the file `id` that works now.
    ///
    /// The primary's, unless the primary is failing (its object cannot be reached, or
    /// it failed recently) or `prefer_backup` is set. The URL is the store's public URL,
    /// or a signed one that expires after the configured time.
    pub async fn file_url(&self, id: &str, prefer_backup: bool) -> Result<String> {
        let file = self.file(id).await?;
        self.check_servable(&file)?;
        let first_byte = self.config.timeouts.first_byte;
        let ttl = self.config.timeouts.signed_url_ttl;
        let mut reasons = Vec::new();

        for copy in self.read_order(&file, prefer_backup) {
            let store = self.store_of(&file, &copy.store)?;
            let reachable = match tokio::time::timeout(first_byte, store.head(&copy.key)).await {
                Ok(Ok(info)) if info.size == file.size => Ok(()),
                Ok(Ok(_)) => Err("the object's size differs from the catalog's".to_owned()),
                Ok(Err(err)) => Err(err.to_string()),
                Err(_) => Err(format!("no answer within {first_byte:?}")),
            };
            if let Err(reason) = reachable {
                self.breaker.record_failure(&copy.store);
                reasons.push(format!("{}: {reason}", copy.store));
                continue;
            }
            self.breaker.record_success(&copy.store);
            match store.access_url(&copy.key, ttl).await {
                Ok(url) => return Ok(url),
                Err(err) => reasons.push(format!("{}: {err}", copy.store)),
            }
        }
        Err(Error::NoReadableCopy { id: id.to_owned(), reasons: reasons.join("; ") })
    }

    /// The copies worth reading, in the order to try them: by role, then stores that
    /// failed recently last.
    pub(super) fn read_order<'f>(
        &self,
        file: &'f FileRecord,
        prefer_backup: bool,
    ) -> Vec<&'f CopyRecord> {
        let roles = self.roles();
        let (first, second) = if prefer_backup {
            (&roles.backup, &roles.primary)
        } else {
            (&roles.primary, &roles.backup)
        };
        let role_rank = |copy: &CopyRecord| match &copy.store {
            store if store == first => 0,
            store if store == second => 1,
            _ => 2,
        };

        let mut copies: Vec<&CopyRecord> =
            file.copies.iter().filter(|copy| copy.state == CopyState::Stored).collect();
        copies.sort_by_key(|copy| (self.breaker.is_open(&copy.store), role_rank(copy)));
        copies
    }

    /// Starts reading one copy, checking that the store holds the recorded object. A
    /// whole-file read is hashed as it streams, and ends in an error if the bytes do
    /// not match the file's SHA-256.
    pub(super) async fn open_copy(
        &self,
        file: &FileRecord,
        copy: &CopyRecord,
        range: Option<Range<u64>>,
    ) -> Result<(Range<u64>, ByteStream)> {
        let whole = range.is_none();
        let (range, body) = self.open_raw(file, copy, range).await?;
        let body = if whole {
            VerifiedBody::new(body, file.sha256.clone(), copy.store.clone()).boxed()
        } else {
            body
        };
        Ok((range, body))
    }

    /// [`Self::open_copy`] without the hashing.
    async fn open_raw(
        &self,
        file: &FileRecord,
        copy: &CopyRecord,
        range: Option<Range<u64>>,
    ) -> Result<(Range<u64>, ByteStream)> {
        let store = self.store_of(file, &copy.store)?;
        let first_byte = self.config.timeouts.first_byte;

        let opened =
            match tokio::time::timeout(first_byte, store.get(&copy.key, range.clone())).await {
                Ok(Ok(object)) => check_object(file, copy, &object.info).map(|()| object),
                Ok(Err(err)) => Err(err.into()),
                Err(_) => Err(CopyReadError::Timeout {
                    store: copy.store.clone(),
                    seconds: first_byte.as_secs(),
                }),
            };
        let object = match opened {
            Ok(object) => object,
            Err(err) => {
                self.breaker.record_failure(&copy.store);
                warn!(file_id = %file.id, store = %copy.store, error = %err, "read failed over");
                return Err(Error::NoReadableCopy {
                    id: file.id.clone(),
                    reasons: err.to_string(),
                });
            }
        };
        self.breaker.record_success(&copy.store);
        Ok((object.range, object.body))
    }
}

/// A copy that can take over a read that failed mid-way.
struct Fallback {
    store: Arc<dyn Store>,
    copy: CopyRecord,
}

/// Where a read is, and what can continue it.
struct ResumeState {
    body: ByteStream,
    fallbacks: Vec<Fallback>,
    /// The offset of the next byte to return.
    position: u64,
    /// The end of the bytes asked for (exclusive).
    end: u64,
    file: FileRecord,
    first_byte: Duration,
    finished: bool,
}

/// The bytes of `state.body`; when it fails before its end, the rest comes from the
/// first fallback copy that opens, read from the offset reached (a ranged read), so
/// the reader sees one unbroken stream. The error is passed on only when no copy is
/// left.
fn resuming_body(state: ResumeState) -> ByteStream {
    futures::stream::unfold(state, |mut state| async move {
        if state.finished {
            return None;
        }
        loop {
            let error = match state.body.next().await {
                Some(Ok(chunk)) => {
                    state.position += chunk.len() as u64;
                    return Some((Ok(chunk), state));
                }
                None => return None,
                Some(Err(error)) => error,
            };
            if !reopen(&mut state, &error).await {
                state.finished = true;
                return Some((Err(error), state));
            }
        }
    })
    .boxed()
}

/// Opens the next fallback copy at `state.position`; false when none is left.
async fn reopen(state: &mut ResumeState, error: &std::io::Error) -> bool {
    let file_id = state.file.id.as_str();
    while !state.fallbacks.is_empty() {
        let Fallback { store, copy } = state.fallbacks.remove(0);
        let range = state.position..state.end;
        let opened = tokio::time::timeout(state.first_byte, store.get(&copy.key, Some(range)));
        match opened.await {
            Ok(Ok(object)) if check_object(&state.file, &copy, &object.info).is_ok() => {
                warn!(file_id, store = %copy.store, offset = state.position, error = %error,
                    "read failed mid-way; resumed from another copy");
                state.body = object.body;
                return true;
            }
            Ok(Ok(_)) => warn!(file_id, store = %copy.store, "fallback copy was replaced"),
            Ok(Err(err)) => warn!(file_id, store = %copy.store, error = %err, "fallback failed"),
            Err(_) => warn!(file_id, store = %copy.store, "fallback did not answer"),
        }
    }
    false
}

/// Compares what a store reports for an object with the catalog's record of the copy.
fn check_object(
    file: &FileRecord,
    copy: &CopyRecord,
    info: &crate::store::ObjectInfo,
) -> Result<(), CopyReadError> {
    let replaced = |what| CopyReadError::Replaced { store: copy.store.clone(), what };
    if info.size != file.size {
        return Err(replaced("size"));
    }
    if let (Some(recorded), Some(reported)) = (&copy.etag, &info.etag)
        && recorded != reported
    {
        return Err(replaced("entity tag"));
    }
    Ok(())
}

/// A whole-file body that is hashed as it streams; it ends in an error instead of
/// ending cleanly when the bytes do not match the expected SHA-256.
struct VerifiedBody {
    inner: ByteStream,
    hasher: Option<Sha256>,
    expected: String,
    store: String,
}

impl VerifiedBody {
    fn new(inner: ByteStream, expected: String, store: String) -> Self {
        Self { inner, hasher: Some(Sha256::new()), expected, store }
    }
}

impl Stream for VerifiedBody {
    type Item = std::io::Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        match this.inner.poll_next_unpin(cx) {
            Poll::Ready(Some(Ok(chunk))) => {
                if let Some(hasher) = &mut this.hasher {
                    hasher.update(&chunk);
                }
                Poll::Ready(Some(Ok(chunk)))
            }
            Poll::Ready(None) => {
                let Some(hasher) = this.hasher.take() else {
                    return Poll::Ready(None);
                };
                let actual = hex::encode(hasher.finalize());
                if actual == this.expected {
                    Poll::Ready(None)
                } else {
                    let message = format!(
                        "the bytes from store {} have SHA-256 {actual}, expected {}",
                        this.store, this.expected
                    );
                    Poll::Ready(Some(Err(std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        message,
                    ))))
                }
            }
            other => other,
        }
    }
}

enum WriteError {
    Read(std::io::Error),
    Write(std::io::Error),
}

/// Streams `body` into a temporary file beside `path`, then renames it over `path`.
async fn write_verified(mut body: ByteStream, path: &Path) -> Result<(), WriteError> {
    let parent = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let temp = tempfile::Builder::new()
        .prefix(".twinstore-download-")
        .tempfile_in(parent)
        .map_err(WriteError::Write)?;
    let (std_file, temp_path) = temp.into_parts();
    let mut file = tokio::fs::File::from_std(std_file);

    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(WriteError::Read)?;
        file.write_all(&chunk).await.map_err(WriteError::Write)?;
    }
    file.sync_all().await.map_err(WriteError::Write)?;
    temp_path.persist(path).map_err(|err| WriteError::Write(err.error))?;
    Ok(())
}
