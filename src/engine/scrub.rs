//! Scrubbing: re-reading a share of the copies on a schedule, so that silent
//! corruption is found and healed without anyone running `verify --deep`.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::Twinstore;
use crate::error::Result;
use crate::jobs::Job;

/// How often a share of the copies is scrubbed.
pub const SCRUB_INTERVAL: Duration = Duration::from_secs(3600);

/// What one scrub found.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct ScrubReport {
    /// Copies read and hashed.
    pub checked: u64,
    /// Copies whose bytes did not match; each was queued for replication.
    pub bad: u64,
}

impl Twinstore {
    /// Reads and hashes up to `limit` stored copies, those verified longest ago first.
    /// A copy that does not match is marked pending and queued for replication from a
    /// good copy.
    pub async fn scrub(&self, limit: u32) -> Result<ScrubReport> {
        let mut report = ScrubReport::default();
        for (file_id, store) in self.catalog.least_recently_verified(limit).await? {
            let file = self.file(&file_id).await?;
            let Some(copy) = file.copy_in(&store) else { continue };
            report.checked += 1;
            match self.hash_copy(&file, copy).await {
                Ok(()) => self.catalog.mark_copy_verified(&file_id, &store).await?,
                Err(reason) => {
                    report.bad += 1;
                    warn!(file_id, store, reason, "scrub found a bad copy; queued for repair");
                    let reason = format!("scrub: {reason}");
                    self.catalog.record_copy_failure(&file_id, &store, &reason).await?;
                    self.catalog.enqueue(&Job::Replicate { file_id, store }).await?;
                }
            }
        }
        Ok(report)
    }

    /// Scrubs `share` of the stored copies every hour until `shutdown` (with a share of
    /// 1/24, every copy is read once a day).
    pub async fn scrub_periodically(self: Arc<Self>, share: f64, shutdown: CancellationToken) {
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(SCRUB_INTERVAL) => {}
            }
            let copies = match self.catalog.copy_backlog().await {
                Ok(backlog) => backlog.stored,
                Err(err) => {
                    warn!(error = %err, "cannot count copies to scrub");
                    continue;
                }
            };
            let limit = ((copies as f64 * share).ceil() as u32).max(1);
            match self.scrub(limit).await {
                Ok(report) => info!(checked = report.checked, bad = report.bad, "scrub done"),
                Err(err) => warn!(error = %err, "scrub failed"),
            }
        }
    }
}
