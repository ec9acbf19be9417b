//! The status report: replication backlog, jobs, roles.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::Twinstore;
use crate::catalog::{CopyBacklog, JobCounts, JobSummary, Migration, Roles};
use crate::error::Result;

/// What `twinstore status` shows.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    /// Which store holds each role.
    pub roles: Roles,
    /// Copies by state, and the oldest pending one.
    pub copies: CopyBacklog,
    /// How long the oldest pending copy has waited, in seconds.
    pub oldest_pending_age_secs: Option<i64>,
    /// Jobs by state.
    pub jobs: JobCounts,
    /// Jobs with an error: failed for good, or waiting for a retry.
    pub failing_jobs: Vec<JobSummary>,
    /// The migration in progress, if any.
    pub migration: Option<Migration>,
    /// When the report was made.
    pub at: DateTime<Utc>,
}

impl Twinstore {
    /// The replication backlog, the jobs and the roles, from the catalog.
    pub async fn status(&self) -> Result<Status> {
        let copies = self.catalog.copy_backlog().await?;
        let at = crate::catalog::now();
        let oldest_pending_age_secs = copies.oldest_pending.map(|t| (at - t).num_seconds());
        Ok(Status {
            roles: self.refresh_roles().await?,
            oldest_pending_age_secs,
            copies,
            jobs: self.catalog.job_counts().await?,
            failing_jobs: self.catalog.troubled_jobs(20).await?,
            migration: self.catalog.running_migration().await?,
            at,
        })
    }
}
