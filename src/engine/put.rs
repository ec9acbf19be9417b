//! The redundant put: one pass over the bytes, into the primary and the backup at once.

use std::io;
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use futures::channel::mpsc;
use futures::{SinkExt, StreamExt};
use tokio_util::io::ReaderStream;
use tracing::{info, warn};

use super::Twinstore;
use super::digest::{Fingerprint, StreamDigest};
use crate::catalog::{CopyRecord, CopyState, FileRecord};
use crate::error::{Error, Result};
use crate::jobs::Job;
use crate::names::{original_key, sanitize_display_name};
use crate::store::{ByteStream, ObjectInfo, Store, StoreError};

/// Chunks queued for each store. Small on purpose: a slow store slows the reading of
/// the input (back-pressure) instead of letting chunks pile up in memory.
pub(super) const CHUNKS_QUEUED: usize = 4;

/// Size of the chunks read from a local file.
const FILE_CHUNK_BYTES: usize = 256 * 1024;

impl Twinstore {
    /// Stores the file at `path` under its file name. See [`Twinstore::put`].
    pub async fn put_path(&self, path: &Path) -> Result<FileRecord> {
        let file = tokio::fs::File::open(path).await.map_err(Error::Input)?;
        let metadata = file.metadata().await.map_err(Error::Input)?;
        if !metadata.is_file() {
            return Err(Error::Input(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{} is not a regular file", path.display()),
            )));
        }
        let name = path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default();
        let body = ReaderStream::with_capacity(file, FILE_CHUNK_BYTES).boxed();
        self.put(&name, body).await
    }

    /// Stores `body` in the primary and the backup store, and records it.
    ///
    /// The bytes pass once: they are hashed (SHA-256), counted and sniffed for their
    /// type on the way, and written to both stores at the same time. The primary must
    /// take them: if it fails, the put fails and leaves nothing behind (no catalog row,
    /// no backup object). If only the backup fails, the put succeeds and the backup
    /// copy is recorded `pending` with its error, for a later retry. The returned
    /// record is in the catalog.
    ///
    /// `name` is a label only; it is sanitized, and the object key comes from the id.
    pub async fn put(&self, name: &str, body: ByteStream) -> Result<FileRecord> {
        let _slot = self.write_slot().await;
        let id = uuid::Uuid::now_v7().to_string();
        let key = original_key(&id);
        let name = sanitize_display_name(name);
        // The roles as they are now; a migration that switches them mid-put does not
        // change where this file goes.
        let pair = Pair { primary: self.primary(), backup: self.backup() };

        let (primary_tx, primary_rx) = mpsc::channel(CHUNKS_QUEUED);
        let (backup_tx, backup_rx) = mpsc::channel(CHUNKS_QUEUED);
        // A backup that failed moments ago is not tried again for every upload: its
        // copy is recorded pending and replicated once it is back.
        let backup_skipped = self.breaker.is_open(pair.backup.name());
        let write_backup = async {
            if backup_skipped {
                return Err(StoreError::Skipped { store: pair.backup.name().to_owned() });
            }
            pair.backup.put(&key, backup_rx.boxed()).await
        };
        let (pumped, primary_result, backup_result) = tokio::join!(
            pump(body, primary_tx, backup_tx),
            pair.primary.put(&key, primary_rx.boxed()),
            write_backup,
        );
        match &backup_result {
            Ok(_) => self.breaker.record_success(pair.backup.name()),
            Err(StoreError::Body { .. } | StoreError::Skipped { .. }) => {}
            Err(_) => self.breaker.record_failure(pair.backup.name()),
        }

        let written = [primary_result.is_ok(), backup_result.is_ok()];
        let fingerprint = match pumped {
            Ok(fingerprint) => fingerprint,
            Err(PumpError::Input(err)) => {
                pair.discard(&key, written).await;
                return Err(Error::Input(err));
            }
            // The primary stopped taking bytes: its own result says why.
            Err(PumpError::PrimaryStopped) => Fingerprint::default(),
        };

        let primary_info = match confirm(pair.primary.as_ref(), primary_result, &fingerprint) {
            Ok(info) => info,
            Err(err) => {
                pair.discard(&key, written).await;
                let store = pair.primary.name().to_owned();
                return Err(Error::PrimaryFailed { store, source: Box::new(err) });
            }
        };
        let backup_outcome = confirm(pair.backup.as_ref(), backup_result, &fingerprint);
        if backup_outcome.is_err() && written[1] {
            // The backup holds an object of the wrong size: remove it, keep it pending.
            pair.discard(&key, [false, true]).await;
        }
        let written = [true, backup_outcome.is_ok()];

        // From here on the objects are written: any failure must remove them, so that
        // an upload that is not acknowledged leaves nothing behind.
        let mut record =
            pair.new_record(id, name, &key, &fingerprint, &primary_info, &backup_outcome);
        let recorded = async {
            if let Some(quarantined) = self.catalog.quarantined(&fingerprint.sha256).await? {
                warn!(sha256 = %fingerprint.sha256, signature = %quarantined.signature,
                    "refused an upload of quarantined content");
                return Err(Error::Quarantined { signature: quarantined.signature });
            }
            let jobs = self.follow_up_jobs(&mut record).await?;
            self.catalog.insert_file(&record, &jobs).await?;
            Ok(jobs)
        }
        .await;
        let jobs = match recorded {
            Ok(jobs) => jobs,
            Err(err) => {
                pair.discard(&key, written).await;
                return Err(err);
            }
        };

        if !jobs.is_empty() {
            self.jobs_queued.notify_one();
        }
        pair.log_stored(&record, backup_outcome.err());
        Ok(record)
    }

    /// The jobs a new file needs: replication of each pending copy, the virus scan, and
    /// renditions of an image (its render state becomes `pending`). While a migration
    /// runs, the file also gets a pending copy in the migration's target store.
    pub(super) async fn follow_up_jobs(&self, record: &mut FileRecord) -> Result<Vec<Job>> {
        if let Some(migration) = self.catalog.running_migration().await?
            && record.copy_in(&migration.target).is_none()
            && let Some(target) = self.store(&migration.target)
        {
            let key = record.copies[0].key.clone();
            record.copies.push(CopyRecord {
                store: migration.target.clone(),
                url: target.canonical_url(&key),
                key,
                state: CopyState::Pending,
                checksum: None,
                etag: None,
                last_error: None,
                attempts: 0,
                verified_at: None,
            });
        }

        let pending = record.copies.iter().filter(|copy| copy.state == CopyState::Pending);
        let mut jobs: Vec<Job> = pending
            .map(|copy| Job::Replicate { file_id: record.id.clone(), store: copy.store.clone() })
            .collect();
        if self.scanner.is_some() {
            jobs.push(Job::Scan { file_id: record.id.clone() });
        }
        if self.config.images.enabled && crate::render::is_renderable(&record.content_type) {
            record.render_status = "pending".to_owned();
            jobs.push(Job::Render { file_id: record.id.clone() });
        }
        Ok(jobs)
    }
}

/// The stores a put writes to.
struct Pair {
    primary: Arc<dyn Store>,
    backup: Arc<dyn Store>,
}

impl Pair {
    fn new_record(
        &self,
        id: String,
        name: String,
        key: &str,
        fingerprint: &Fingerprint,
        primary_info: &ObjectInfo,
        backup_outcome: &Result<ObjectInfo>,
    ) -> FileRecord {
        let stored_copy = |store: &dyn Store, info: &ObjectInfo| CopyRecord {
            store: store.name().to_owned(),
            key: key.to_owned(),
            url: store.canonical_url(key),
            state: CopyState::Stored,
            checksum: Some(fingerprint.sha256.clone()),
            etag: info.etag.clone(),
            last_error: None,
            attempts: 1,
            verified_at: Some(crate::catalog::now()),
        };

        let primary_copy = stored_copy(self.primary.as_ref(), primary_info);
        let backup_copy = match backup_outcome {
            Ok(info) => stored_copy(self.backup.as_ref(), info),
            Err(err) => CopyRecord {
                state: CopyState::Pending,
                checksum: None,
                etag: None,
                last_error: Some(crate::store::error_chain(err)),
                verified_at: None,
                ..stored_copy(self.backup.as_ref(), &ObjectInfo::default())
            },
        };

        let now = crate::catalog::now();
        fingerprint.new_file_record(id, name, now, primary_copy, backup_copy)
    }

    /// Removes the objects that a failed put did write (`[primary, backup]`), so that
    /// nothing is left behind.
    async fn discard(&self, key: &str, written: [bool; 2]) {
        for (store, written) in [&self.primary, &self.backup].into_iter().zip(written) {
            if written && let Err(err) = store.delete(key).await {
                warn!(store = store.name(), key, error = %err, "cannot remove a partial put");
            }
        }
    }

    fn log_stored(&self, record: &FileRecord, backup_error: Option<Error>) {
        let (primary, backup) = (&self.primary, &self.backup);
        let backup_url = record.backup_url.as_deref().unwrap_or_default();
        info!(
            file_id = %record.id,
            store = primary.name(),
            kind = primary.kind().as_str(),
            url = %record.url,
            "primary storage"
        );
        match backup_error {
            None => {
                info!(
                    file_id = %record.id,
                    store = backup.name(),
                    kind = backup.kind().as_str(),
                    url = %backup_url,
                    "backup storage"
                );
                info!(
                    file_id = %record.id,
                    name = %record.name,
                    size = record.size,
                    sha256 = %record.sha256,
                    primary = %record.url,
                    backup = %backup_url,
                    "file stored redundantly"
                );
            }
            Some(err) => warn!(
                file_id = %record.id,
                store = backup.name(),
                error = %crate::store::error_chain(&err),
                "backup copy failed; recorded as pending and queued for replication"
            ),
        }
    }
}

/// Why the pump stopped early.
pub(super) enum PumpError {
    /// The input failed.
    Input(io::Error),
    /// The primary store stopped taking bytes (it failed; its result says why).
    PrimaryStopped,
}

/// Reads `body` once, feeding each chunk to both stores and to the digest.
///
/// A backup that stops taking bytes is dropped and the primary continues alone. An
/// input error is passed to both stores as an error item, so that neither completes
/// an object from a partial stream.
pub(super) async fn pump(
    mut body: ByteStream,
    mut primary: mpsc::Sender<io::Result<Bytes>>,
    backup: mpsc::Sender<io::Result<Bytes>>,
) -> Result<Fingerprint, PumpError> {
    let mut backup = Some(backup);
    let mut digest = StreamDigest::default();

    while let Some(item) = body.next().await {
        let chunk = match item {
            Ok(chunk) => chunk,
            Err(err) => {
                let _ = primary.send(Err(io::Error::new(err.kind(), err.to_string()))).await;
                if let Some(backup) = &mut backup {
                    let _ = backup.send(Err(io::Error::new(err.kind(), err.to_string()))).await;
                }
                return Err(PumpError::Input(err));
            }
        };
        digest.update(&chunk);

        if let Some(sender) = &mut backup
            && sender.send(Ok(chunk.clone())).await.is_err()
        {
            backup = None;
        }
        if primary.send(Ok(chunk)).await.is_err() {
            return Err(PumpError::PrimaryStopped);
        }
    }
    Ok(digest.finish())
}

/// Checks one store's write against what was sent.
fn confirm(
    store: &dyn Store,
    result: Result<ObjectInfo, StoreError>,
    sent: &Fingerprint,
) -> Result<ObjectInfo> {
    let info = result?;
    if info.size != sent.size {
        return Err(Error::SizeMismatch {
            store: store.name().to_owned(),
            sent: sent.size,
            stored: info.size,
        });
    }
    Ok(info)
}
