//! The worker: takes due jobs from the catalog and runs them.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn};

use super::Twinstore;
use crate::catalog::ClaimedJob;
use crate::error::{Error, Result};
use crate::jobs::{Job, backoff};

/// How a worker runs.
#[derive(Debug, Clone)]
pub struct WorkerOptions {
    /// Jobs run at once. Default 8: jobs mostly wait on the network.
    pub concurrency: usize,
    /// How long a job is leased; the lease is renewed every third of it while the job
    /// runs. A worker that dies gives its jobs back when their lease ends. Default 60 s.
    pub lease: Duration,
    /// How often an idle worker looks for due jobs. Default 1 s.
    pub poll_interval: Duration,
    /// The first retry delay; it doubles with each attempt. Default 2 s.
    pub backoff_base: Duration,
    /// The longest retry delay. Default 5 minutes.
    pub backoff_cap: Duration,
}

impl Default for WorkerOptions {
    fn default() -> Self {
        Self {
            concurrency: 8,
            lease: Duration::from_secs(60),
            poll_interval: Duration::from_secs(1),
            backoff_base: Duration::from_secs(2),
            backoff_cap: Duration::from_secs(300),
        }
    }
}

/// Runs jobs from the catalog. Several workers, in one process or many, can share a
/// catalog: each job is leased to one of them at a time.
#[derive(Debug)]
pub struct Worker {
    twinstore: Arc<Twinstore>,
    options: WorkerOptions,
    /// This worker's name in job leases.
    owner: String,
}

impl Worker {
    /// A worker over `twinstore`.
    pub fn new(twinstore: Arc<Twinstore>, options: WorkerOptions) -> Self {
        let owner = format!("{}-{}", std::process::id(), uuid::Uuid::now_v7());
        Self { twinstore, options, owner }
    }

    /// Runs jobs until `shutdown` is cancelled. Jobs already started finish first.
    pub async fn run(&self, shutdown: CancellationToken) {
        info!(owner = %self.owner, concurrency = self.options.concurrency, "worker started");
        while !shutdown.is_cancelled() {
            if let Err(err) = self.twinstore.refresh_roles().await {
                warn!(error = %err, "cannot refresh store roles");
            }
            let ran = match self.run_batch().await {
                Ok(ran) => ran,
                Err(err) => {
                    warn!(error = %err, "cannot take jobs from the catalog");
                    0
                }
            };
            if ran == 0 {
                tokio::select! {
                    _ = shutdown.cancelled() => {}
                    _ = tokio::time::sleep(self.options.poll_interval) => {}
                    _ = self.twinstore.jobs_queued.notified() => {}
                }
            }
        }
        info!(owner = %self.owner, "worker stopped");
    }

    /// Runs jobs until none is due now, and returns how many ran.
    pub async fn run_until_idle(&self) -> Result<usize> {
        let mut total = 0;
        loop {
            let ran = self.run_batch().await?;
            if ran == 0 {
                return Ok(total);
            }
            total += ran;
        }
    }

    /// Takes up to `concurrency` due jobs and runs them together.
    async fn run_batch(&self) -> Result<usize> {
        let limit = self.options.concurrency as u32;
        let claimed = self.twinstore.catalog.claim_jobs(&self.owner, self.options.lease, limit);
        let claimed = claimed.await?;
        let count = claimed.len();
        futures::future::join_all(claimed.into_iter().map(|job| self.execute(job))).await;
        Ok(count)
    }

    /// Runs one job on its own task (a panic fails that job only), renewing its lease
    /// while it runs, then records the outcome.
    async fn execute(&self, claimed: ClaimedJob) {
        let twinstore = self.twinstore.clone();
        let job = claimed.job.clone();
        let mut task = tokio::spawn(async move { twinstore.run_job(&job).await });

        let renew_every = self.options.lease / 3;
        let outcome = loop {
            tokio::select! {
                joined = &mut task => break joined,
                _ = tokio::time::sleep(renew_every) => {
                    let catalog = &self.twinstore.catalog;
                    match catalog.renew_lease(&claimed.id, &self.owner, self.options.lease).await {
                        Ok(true) => {}
                        Ok(false) => warn!(job = %claimed.job.unique_key(), "job lease lost"),
                        Err(err) => warn!(error = %err, "cannot renew a job lease"),
                    }
                }
            }
        };

        let error = match outcome {
            Ok(Ok(())) => None,
            Ok(Err(err)) => Some(crate::store::error_chain(&err)),
            Err(join_error) if join_error.is_panic() => Some(panic_message(join_error)),
            Err(join_error) => Some(format!("the job was cancelled: {join_error}")),
        };
        if let Err(err) = self.settle(&claimed, error).await {
            error!(job = %claimed.job.unique_key(), error = %err, "cannot record a job outcome");
        }
    }

    async fn settle(&self, claimed: &ClaimedJob, error: Option<String>) -> Result<()> {
        let catalog = &self.twinstore.catalog;
        let key = claimed.job.unique_key();
        let Some(error) = error else {
            debug!(job = %key, "job done");
            return Ok(catalog.finish_job(&claimed.id, &self.owner).await?);
        };
        if claimed.attempts >= claimed.max_attempts {
            warn!(job = %key, attempts = claimed.attempts, error = %error, "job failed for good");
            return Ok(catalog.fail_job(&claimed.id, &self.owner, &error).await?);
        }

        let seed = claimed
            .id
            .bytes()
            .fold(claimed.attempts as u64, |h, b| h.wrapping_mul(31).wrapping_add(b as u64));
        let delay =
            backoff(claimed.attempts, self.options.backoff_base, self.options.backoff_cap, seed);
        info!(
            job = %key,
            attempts = claimed.attempts,
            retry_in = ?delay,
            error = %error,
            "job will retry"
        );
        let run_at = crate::catalog::now() + delay;
        Ok(catalog.retry_job(&claimed.id, &self.owner, &error, run_at).await?)
    }
}

impl Twinstore {
    /// Runs one job. A job about a file that no longer exists has nothing to do.
    pub async fn run_job(&self, job: &Job) -> Result<()> {
        let outcome = match job {
            Job::Replicate { file_id, store } => self.replicate(file_id, store).await,
            Job::Scan { file_id } => self.scan_file(file_id).await.map(|_| ()),
            Job::Render { file_id } => self.render(file_id).await.map(|_| ()),
            Job::Ingest { store, key, name, size, file_hash } => {
                self.ingest(store, key, name, *size, file_hash.as_deref()).await
            }
        };
        match outcome {
            Err(Error::FileNotFound { .. }) => Ok(()),
            other => other,
        }
    }
}

fn panic_message(join_error: tokio::task::JoinError) -> String {
    let payload = join_error.into_panic();
    let text = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_owned());
    format!("the job panicked: {text}")
}
