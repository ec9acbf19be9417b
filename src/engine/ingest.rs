//! Files that arrive through UploadThing: the webhook queues an ingest job, and the job
//! downloads the file from the UploadThing store, checks it, writes the backup copy and
//! records the file like any upload.

use futures::StreamExt;
use futures::channel::mpsc;
use md5::{Digest, Md5};
use tracing::{debug, info, warn};

use super::Twinstore;
use super::put::{CHUNKS_QUEUED, PumpError, pump};
use crate::catalog::{CopyRecord, CopyState};
use crate::error::{Error, Result};
use crate::jobs::Job;
use crate::names::{original_key, sanitize_display_name};
use crate::store::{StoreError, StoreKind};

impl Twinstore {
    /// Queues `job` (an [`Job::Ingest`] from the webhook) and wakes this process's
    /// workers. The same file key queued twice is one job.
    pub async fn enqueue_ingest(&self, job: &Job) -> Result<()> {
        self.catalog.enqueue(job).await?;
        self.jobs_queued.notify_one();
        Ok(())
    }

    /// Records the file that UploadThing holds under `key` in the store `store`.
    ///
    /// A file already recorded with that copy needs nothing (webhooks may be delivered
    /// more than once). Otherwise the file is read from the store, which builds the URL
    /// from its configured app and `key` alone (never from a URL in the webhook), and
    /// streamed once: hashed with SHA-256 (and MD5, to compare with the `file_hash`
    /// UploadThing announced), sniffed, and written to the other store of the pair.
    /// The record has the UploadThing copy (stored, under its file key) and the other
    /// copy (stored, or pending with a replicate job), and the follow-up jobs of any
    /// upload. A size or MD5 that differs from the announcement fails the job (to be
    /// retried) and records nothing; a file no longer on UploadThing is skipped.
    pub async fn ingest(
        &self,
        store: &str,
        key: &str,
        name: &str,
        size: Option<u64>,
        file_hash: Option<&str>,
    ) -> Result<()> {
        if let Some(file_id) = self.catalog.file_with_copy(store, key).await? {
            debug!(store, key, file_id, "UploadThing file already recorded");
            return Ok(());
        }
        let source = self.stores.get(store).cloned().ok_or_else(|| Error::Invalid {
            message: format!("store {store:?} is not configured"),
        })?;
        if source.kind() != StoreKind::UploadThing {
            return Err(Error::Invalid { message: format!("store {store:?} is not UploadThing") });
        }
        let roles = self.roles();
        let other = if roles.backup != store { roles.backup } else { roles.primary };
        let target = self.stores[&other].clone();

        let _slot = self.write_slot().await;
        let id = uuid::Uuid::now_v7().to_string();
        let target_key = original_key(&id);
        let object = match source.get(key, None).await {
            Ok(object) => object,
            // Gone from UploadThing (deleted since, or a replay of an old hook): there is
            // nothing to record, and retrying will not change that.
            Err(err) if err.is_not_found() => {
                warn!(store, key, "the file announced by UploadThing is not there; not recorded");
                return Ok(());
            }
            Err(err) => return Err(err.into()),
        };
        let etag = object.info.etag.clone();

        let (md5_tx, md5_rx) = mpsc::channel(CHUNKS_QUEUED);
        let (target_tx, target_rx) = mpsc::channel(CHUNKS_QUEUED);
        let skipped = self.breaker.is_open(target.name());
        let write_target = async {
            if skipped {
                return Err(StoreError::Skipped { store: target.name().to_owned() });
            }
            target.put(&target_key, target_rx.boxed()).await
        };
        // The MD5 side of the pump: UploadThing already holds the bytes, so the
        // "primary" of this pass only hashes them.
        let md5 = md5_rx.fold(Md5::new(), |mut md5, chunk: std::io::Result<bytes::Bytes>| {
            if let Ok(chunk) = chunk {
                md5.update(&chunk);
            }
            std::future::ready(md5)
        });
        let (pumped, md5, target_result) =
            tokio::join!(pump(object.body, md5_tx, target_tx), md5, write_target);
        let target_written = target_result.is_ok();
        let discard = || async {
            if target_written && let Err(err) = target.delete(&target_key).await {
                warn!(store = target.name(), key = %target_key, error = %err,
                    "cannot remove a partial ingest");
            }
        };
        let fingerprint = match pumped {
            Ok(fingerprint) => fingerprint,
            Err(PumpError::Input(err)) => {
                discard().await;
                return Err(Error::Input(err));
            }
            Err(PumpError::PrimaryStopped) => unreachable!("the MD5 side never stops early"),
        };
        let md5 = hex::encode(md5.finalize());
        let mut mismatch = None;
        if let Some(announced) = size.filter(|&size| size != fingerprint.size) {
            mismatch =
                Some(format!("{} bytes, the webhook announced {announced}", fingerprint.size));
        }
        if let Some(announced) = file_hash.filter(|hash| !hash.eq_ignore_ascii_case(&md5)) {
            mismatch = Some(format!("MD5 {md5}, the webhook announced {announced}"));
        }
        if let Some(mismatch) = mismatch {
            discard().await;
            warn!(store, key, %mismatch, "the file read from UploadThing differs from the webhook");
            return Err(Error::Invalid {
                message: format!("UploadThing file {key} was read with {mismatch}"),
            });
        }
        if let Some(quarantined) = self.catalog.quarantined(&fingerprint.sha256).await? {
            discard().await;
            warn!(store, key, signature = %quarantined.signature,
                "quarantined content uploaded through UploadThing: removed, not recorded");
            source.delete(key).await?;
            return Ok(());
        }

        let target_outcome = match target_result {
            Ok(info) if info.size == fingerprint.size => Ok(info),
            Ok(info) => {
                discard().await;
                Err(format!("store {} kept {} of {} bytes", other, info.size, fingerprint.size))
            }
            Err(err) => Err(crate::store::error_chain(&err)),
        };
        match &target_outcome {
            Ok(_) => self.breaker.record_success(target.name()),
            Err(_) if skipped => {}
            Err(_) => self.breaker.record_failure(target.name()),
        }

        let now = crate::catalog::now();
        let source_copy = CopyRecord {
            store: store.to_owned(),
            key: key.to_owned(),
            url: source.canonical_url(key),
            state: CopyState::Stored,
            checksum: Some(fingerprint.sha256.clone()),
            etag,
            last_error: None,
            attempts: 1,
            verified_at: Some(now),
        };
        let target_copy = match &target_outcome {
            Ok(info) => CopyRecord {
                store: other.clone(),
                key: target_key.clone(),
                url: target.canonical_url(&target_key),
                etag: info.etag.clone(),
                ..source_copy.clone()
            },
            Err(error) => CopyRecord {
                store: other.clone(),
                key: target_key.clone(),
                url: target.canonical_url(&target_key),
                state: CopyState::Pending,
                checksum: None,
                etag: None,
                last_error: Some(error.clone()),
                attempts: 1,
                verified_at: None,
            },
        };
        let name = sanitize_display_name(name);
        let mut record =
            fingerprint.new_file_record(id.clone(), name, now, source_copy, target_copy);
        let recorded = async {
            let jobs = self.follow_up_jobs(&mut record).await?;
            self.catalog.insert_file(&record, &jobs).await?;
            Ok::<_, Error>(jobs)
        }
        .await;
        let jobs = match recorded {
            Ok(jobs) => jobs,
            Err(err) => {
                discard().await;
                return Err(err);
            }
        };
        // The UploadThing copy is the primary's unless the roles say otherwise (after a
        // migration off UploadThing, say).
        self.refresh_file_urls(&id).await?;
        if !jobs.is_empty() {
            self.jobs_queued.notify_one();
        }
        match target_outcome {
            Ok(_) => info!(file_id = %id, store, key, backup = %other, size = fingerprint.size,
                sha256 = %fingerprint.sha256, "UploadThing file recorded with its backup copy"),
            Err(error) => warn!(file_id = %id, store, key, backup = %other, %error,
                "UploadThing file recorded; backup copy pending"),
        }
        Ok(())
    }
}
