//! The job queue in the catalog.
//!
//! Claiming is portable SQL: a worker picks due jobs, then takes each with a
//! conditional `UPDATE` that succeeds for one worker only (the row must still be due
//! when the update runs). A job is due when it is queued and its run time has come, or
//! when it is running under a lease that has expired (its worker died).

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::AnyConnection;

use super::model::{from_text, now, to_text};
use super::{Backend, Catalog, CatalogError, column};
use crate::jobs::Job;

/// A job a worker has taken, under a lease.
#[derive(Debug, Clone)]
pub struct ClaimedJob {
    /// The job's row id.
    pub id: String,
    /// The work.
    pub job: Job,
    /// Attempts so far, this one included.
    pub attempts: u32,
    /// Attempts allowed.
    pub max_attempts: u32,
}

/// How many jobs are in each state.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct JobCounts {
    /// Waiting for their run time.
    pub queued: u64,
    /// Leased by a worker.
    pub running: u64,
    /// Finished.
    pub done: u64,
    /// Given up.
    pub failed: u64,
}

/// A job as shown by `status`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JobSummary {
    /// The job's unique key, which says what it is about.
    pub key: String,
    /// Attempts so far.
    pub attempts: u32,
    /// The last error.
    pub last_error: Option<String>,
    /// When it runs next (queued jobs) or last changed.
    pub run_at: Option<DateTime<Utc>>,
}

fn query_error(operation: &'static str) -> impl Fn(sqlx::Error) -> CatalogError {
    move |source| CatalogError::Query { operation, source }
}

/// Queues `job` on `conn` (inside the caller's transaction, if any). A job with the
/// same unique key that is still queued or running is left alone; one that finished
/// is queued again.
pub(crate) async fn enqueue_on(conn: &mut AnyConnection, job: &Job) -> Result<(), CatalogError> {
    let now = to_text(now());
    let payload = serde_json::to_string(job).expect("jobs serialize");
    sqlx::query(
        "INSERT INTO job (id, kind, unique_key, payload, state, attempts, max_attempts, run_at,
           created_at, updated_at)
         VALUES ($1, $2, $3, $4, 'queued', 0, $5, $6, $7, $8)
         ON CONFLICT (unique_key) DO UPDATE SET state = 'queued', attempts = 0,
           run_at = excluded.run_at, last_error = NULL, lease_owner = NULL,
           lease_until = NULL, payload = excluded.payload, updated_at = excluded.updated_at
         WHERE job.state IN ('done', 'failed')",
    )
    .bind(uuid::Uuid::now_v7().to_string())
    .bind(job.kind())
    .bind(job.unique_key())
    .bind(payload)
    .bind(job.max_attempts() as i32)
    .bind(&now)
    .bind(&now)
    .bind(&now)
    .execute(conn)
    .await
    .map_err(query_error("queue a job"))?;
    Ok(())
}

impl Catalog {
    /// Queues `job` (see [`enqueue_on`] for duplicates).
    pub async fn enqueue(&self, job: &Job) -> Result<(), CatalogError> {
        let mut conn = self.pool.acquire().await.map_err(query_error("connect"))?;
        enqueue_on(&mut conn, job).await
    }

    /// Takes up to `limit` due jobs for `owner`, each leased for `lease`.
    pub async fn claim_jobs(
        &self,
        owner: &str,
        lease: Duration,
        limit: u32,
    ) -> Result<Vec<ClaimedJob>, CatalogError> {
        if self.backend == Backend::Postgres {
            return self.claim_jobs_skip_locked(owner, lease, limit).await;
        }
        let now = to_text(now());
        let candidates = sqlx::query(
            "SELECT id FROM job
             WHERE (state = 'queued' AND run_at <= $1) OR (state = 'running' AND lease_until < $2)
             ORDER BY run_at LIMIT $3",
        )
        .bind(&now)
        .bind(&now)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(query_error("find due jobs"))?;

        let lease_until = to_text(super::model::now() + lease);
        let mut claimed = Vec::new();
        for row in &candidates {
            let id: String = column(row, "id")?;
            let taken = sqlx::query(
                "UPDATE job SET state = 'running', lease_owner = $1, lease_until = $2,
                   attempts = attempts + 1, updated_at = $3
                 WHERE id = $4 AND ((state = 'queued' AND run_at <= $5)
                   OR (state = 'running' AND lease_until < $6))",
            )
            .bind(owner)
            .bind(&lease_until)
            .bind(&now)
            .bind(&id)
            .bind(&now)
            .bind(&now)
            .execute(&self.pool)
            .await
            .map_err(query_error("lease a job"))?;
            if taken.rows_affected() == 1 {
                claimed.push(self.claimed(&id).await?);
            }
        }
        Ok(claimed)
    }

    /// PostgreSQL's claim: one statement that locks the due rows it takes and skips
    /// rows another instance is taking, so concurrent workers never wait on each other
    /// or take the same job.
    async fn claim_jobs_skip_locked(
        &self,
        owner: &str,
        lease: Duration,
        limit: u32,
    ) -> Result<Vec<ClaimedJob>, CatalogError> {
        let now = to_text(now());
        let rows = sqlx::query(
            "UPDATE job SET state = 'running', lease_owner = $1, lease_until = $2,
               attempts = attempts + 1, updated_at = $3
             WHERE id IN (
               SELECT id FROM job
               WHERE (state = 'queued' AND run_at <= $4)
                  OR (state = 'running' AND lease_until < $5)
               ORDER BY run_at LIMIT $6
               FOR UPDATE SKIP LOCKED)
             RETURNING id, payload, attempts, max_attempts",
        )
        .bind(owner)
        .bind(to_text(super::model::now() + lease))
        .bind(&now)
        .bind(&now)
        .bind(&now)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(query_error("lease jobs"))?;
        rows.iter()
            .map(|row| {
                let payload: String = column(row, "payload")?;
                let job = serde_json::from_str(&payload)
                    .map_err(|_| CatalogError::Corrupt { what: "job payload", value: payload })?;
                Ok(ClaimedJob {
                    id: column(row, "id")?,
                    job,
                    attempts: column::<i32>(row, "attempts")? as u32,
                    max_attempts: column::<i32>(row, "max_attempts")? as u32,
                })
            })
            .collect()
    }

    async fn claimed(&self, id: &str) -> Result<ClaimedJob, CatalogError> {
        let row = sqlx::query("SELECT payload, attempts, max_attempts FROM job WHERE id = $1")
            .bind(id)
            .fetch_one(&self.pool)
            .await
            .map_err(query_error("read a job"))?;
        let payload: String = column(&row, "payload")?;
        let job = serde_json::from_str(&payload)
            .map_err(|_| CatalogError::Corrupt { what: "job payload", value: payload })?;
        Ok(ClaimedJob {
            id: id.to_owned(),
            job,
            attempts: column::<i32>(&row, "attempts")? as u32,
            max_attempts: column::<i32>(&row, "max_attempts")? as u32,
        })
    }

    /// Extends `owner`'s lease on job `id`. Returns false when the lease was lost (it
    /// expired and another worker took the job).
    pub async fn renew_lease(
        &self,
        id: &str,
        owner: &str,
        lease: Duration,
    ) -> Result<bool, CatalogError> {
        let renewed = sqlx::query(
            "UPDATE job SET lease_until = $1 WHERE id = $2 AND lease_owner = $3
               AND state = 'running'",
        )
        .bind(to_text(now() + lease))
        .bind(id)
        .bind(owner)
        .execute(&self.pool)
        .await
        .map_err(query_error("renew a lease"))?;
        Ok(renewed.rows_affected() == 1)
    }

    /// Marks job `id` done, if `owner` still holds it.
    pub async fn finish_job(&self, id: &str, owner: &str) -> Result<(), CatalogError> {
        self.settle(id, owner, "done", None, None).await
    }

    /// Puts job `id` back in the queue to run at `run_at`, recording `error`.
    pub async fn retry_job(
        &self,
        id: &str,
        owner: &str,
        error: &str,
        run_at: DateTime<Utc>,
    ) -> Result<(), CatalogError> {
        self.settle(id, owner, "queued", Some(error), Some(run_at)).await
    }

    /// Gives job `id` up as failed, recording `error`.
    pub async fn fail_job(&self, id: &str, owner: &str, error: &str) -> Result<(), CatalogError> {
        self.settle(id, owner, "failed", Some(error), None).await
    }

    async fn settle(
        &self,
        id: &str,
        owner: &str,
        state: &str,
        error: Option<&str>,
        run_at: Option<DateTime<Utc>>,
    ) -> Result<(), CatalogError> {
        let now = to_text(now());
        sqlx::query(
            "UPDATE job SET state = $1, last_error = $2, run_at = COALESCE($3, run_at),
               lease_owner = NULL, lease_until = NULL, updated_at = $4
             WHERE id = $5 AND lease_owner = $6",
        )
        .bind(state)
        .bind(error)
        .bind(run_at.map(to_text))
        .bind(&now)
        .bind(id)
        .bind(owner)
        .execute(&self.pool)
        .await
        .map_err(query_error("settle a job"))?;
        Ok(())
    }

    /// Makes every job waiting for a retry due now, and returns how many. Used when a
    /// store comes back, so that copies do not wait out their backoff.
    pub async fn expedite_retries(&self) -> Result<u64, CatalogError> {
        let now = to_text(now());
        let expedited = sqlx::query(
            "UPDATE job SET run_at = $1 WHERE state = 'queued' AND last_error IS NOT NULL
               AND run_at > $2",
        )
        .bind(&now)
        .bind(&now)
        .execute(&self.pool)
        .await
        .map_err(query_error("expedite retries"))?;
        Ok(expedited.rows_affected())
    }

    /// How many jobs are in each state.
    pub async fn job_counts(&self) -> Result<JobCounts, CatalogError> {
        let rows = sqlx::query("SELECT state, COUNT(*) AS n FROM job GROUP BY state")
            .fetch_all(&self.pool)
            .await
            .map_err(query_error("count jobs"))?;
        let mut counts = JobCounts::default();
        for row in &rows {
            let state: String = column(row, "state")?;
            let n = column::<i64>(row, "n")? as u64;
            match state.as_str() {
                "queued" => counts.queued = n,
                "running" => counts.running = n,
                "done" => counts.done = n,
                _ => counts.failed = n,
            }
        }
        Ok(counts)
    }

    /// When the next queued job is due, or `None` when nothing is queued or running.
    /// A running job counts as due when its lease ends.
    pub async fn next_job_due(&self) -> Result<Option<DateTime<Utc>>, CatalogError> {
        let row = sqlx::query(
            "SELECT MIN(CASE WHEN state = 'queued' THEN run_at ELSE lease_until END) AS due
             FROM job WHERE state IN ('queued', 'running')",
        )
        .fetch_one(&self.pool)
        .await
        .map_err(query_error("find the next job"))?;
        let due: Option<String> = column(&row, "due")?;
        Ok(due.and_then(|text| from_text(&text)))
    }

    /// Jobs that have an error: failed ones, and queued ones waiting for a retry.
    pub async fn troubled_jobs(&self, limit: u32) -> Result<Vec<JobSummary>, CatalogError> {
        let rows = sqlx::query(
            "SELECT unique_key, attempts, last_error, run_at FROM job
             WHERE last_error IS NOT NULL AND state IN ('queued', 'failed')
             ORDER BY updated_at DESC LIMIT $1",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(query_error("list failing jobs"))?;
        rows.iter()
            .map(|row| {
                let run_at: String = column(row, "run_at")?;
                Ok(JobSummary {
                    key: column(row, "unique_key")?,
                    attempts: column::<i32>(row, "attempts")? as u32,
                    last_error: column(row, "last_error")?,
                    run_at: from_text(&run_at),
                })
            })
            .collect()
    }
}
