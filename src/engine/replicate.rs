//! Replication: writing a missing copy from a copy that verifies.

use tracing::{info, warn};

use super::Twinstore;
use crate::catalog::CopyState;
use crate::error::{Error, Result};
use crate::store::StoreError;

impl Twinstore {
    /// Writes the copy of `file_id` in `store` from another copy of the file.
    ///
    /// Sources are tried in read order (primary first); each streams through a SHA-256
    /// check, so a source holding other bytes makes the write fail before the object
    /// is completed, and the next source is tried. A copy that is already `stored`, or
    /// a file that is gone, needs nothing. A target whose circuit breaker is open is
    /// not tried. On failure the copy stays `pending` with the error recorded, and the
    /// error is returned (for the job to retry).
    pub async fn replicate(&self, file_id: &str, store: &str) -> Result<()> {
        let file = self.file(file_id).await?;
        let Some(target_copy) = file.copy_in(store) else {
            return Ok(());
        };
        if matches!(target_copy.state, CopyState::Stored | CopyState::Deleted) {
            return Ok(());
        }
        let target = self.store_of(&file, store)?.clone();
        // A target that failed moments ago is not tried again for every pending copy:
        // the job retries later, and the health monitor closes the breaker (and makes
        // the retries due) as soon as the store answers again.
        if self.breaker.is_open(store) {
            let skipped = StoreError::Skipped { store: store.to_owned() };
            self.catalog.record_copy_failure(file_id, store, &skipped.to_string()).await?;
            return Err(skipped.into());
        }
        let _slot = self.write_slot().await;
        let mut reasons = Vec::new();

        for source in self.read_order(&file, false).into_iter().filter(|c| c.store != store) {
            let body = match self.open_copy(&file, source, None).await {
                Ok((_, body)) => body,
                Err(err) => {
                    reasons.push(format!("{}: {err}", source.store));
                    continue;
                }
            };
            match target.put(&target_copy.key, body).await {
                Ok(written) if written.size == file.size => {
                    self.breaker.record_success(store);
                    let etag = written.etag.as_deref();
                    self.catalog.mark_copy_stored(file_id, store, &file.sha256, etag).await?;
                    self.refresh_file_urls(file_id).await?;
                    info!(file_id, store, from = %source.store, "copy replicated");
                    return Ok(());
                }
                Ok(written) => {
                    let _ = target.delete(&target_copy.key).await;
                    reasons.push(format!("{store} kept {} of {} bytes", written.size, file.size));
                }
                // The source's bytes failed (or did not match their checksum): try the
                // next source.
                Err(err @ StoreError::Body { .. }) => {
                    warn!(file_id, store, from = %source.store, error = %err, "source copy failed");
                    reasons.push(format!("{}: {}", source.store, crate::store::error_chain(&err)));
                }
                Err(err) => {
                    self.breaker.record_failure(store);
                    let text = crate::store::error_chain(&err);
                    self.catalog.record_copy_failure(file_id, store, &text).await?;
                    return Err(err.into());
                }
            }
        }

        let reasons = reasons.join("; ");
        self.catalog.record_copy_failure(file_id, store, &reasons).await?;
        Err(Error::NoReadableCopy { id: file_id.to_owned(), reasons })
    }
}
