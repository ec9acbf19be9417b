//! Durable jobs: units of background work kept in the catalog.
//!
//! A job survives restarts, is retried with capped exponential backoff and jitter, and
//! is taken by one worker at a time through a lease (see the `job` table). This module
//! holds what a job *is*; the catalog stores and hands them out, and the engine's
//! worker runs them.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// One piece of background work.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Job {
    /// Write the copy of `file_id` in `store` from a copy that verifies.
    Replicate {
        /// The file.
        file_id: String,
        /// The store that should hold a copy.
        store: String,
    },
    /// Scan `file_id` for viruses.
    Scan {
        /// The file.
        file_id: String,
    },
    /// Make and store the image renditions of `file_id`.
    Render {
        /// The file.
        file_id: String,
    },
    /// Record a file that UploadThing announced through its webhook: download it from
    /// the UploadThing store `store`, check it, and write the backup copy.
    Ingest {
        /// The UploadThing store's name.
        store: String,
        /// The UploadThing file key.
        key: String,
        /// The file's name, as uploaded.
        name: String,
        /// The size UploadThing announced.
        size: Option<u64>,
        /// The MD5 (hex) UploadThing announced.
        file_hash: Option<String>,
    },
}

impl Job {
    /// The job's kind, as stored in the catalog.
    pub fn kind(&self) -> &'static str {
        match self {
            Job::Replicate { .. } => "replicate",
            Job::Scan { .. } => "scan",
            Job::Render { .. } => "render",
            Job::Ingest { .. } => "ingest",
        }
    }

    /// The key that makes two jobs the same piece of work.
    pub fn unique_key(&self) -> String {
        match self {
            Job::Replicate { file_id, store } => format!("replicate:{file_id}:{store}"),
            Job::Scan { file_id } => format!("scan:{file_id}"),
            Job::Render { file_id } => format!("render:{file_id}"),
            // A redelivered webhook names the same key, and becomes the same job.
            Job::Ingest { store, key, .. } => format!("ingest:{store}:{key}"),
        }
    }

    /// How many attempts before the job is given up as failed.
    ///
    /// Replication keeps trying for a long time: a backup that is down for a day must
    /// still catch up by itself (at the backoff cap, 200 attempts span about 16 hours).
    pub fn max_attempts(&self) -> u32 {
        match self {
            Job::Replicate { .. } => 200,
            // A scanner that is down must not lose scans: keep trying for hours.
            Job::Scan { .. } => 200,
            // Only stores failing make a render retry; an image that cannot be
            // rendered ends the job at its first attempt.
            Job::Render { .. } => 50,
            // UploadThing being down for hours must not lose an upload it announced.
            Job::Ingest { .. } => 200,
        }
    }
}

/// The state of a job in the catalog.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    /// Waiting for its run time.
    Queued,
    /// Leased by a worker.
    Running,
    /// Finished.
    Done,
    /// Given up after its last attempt, or failed for good.
    Failed,
}

/// How long to wait before the next attempt: exponential from `base`, capped at `cap`,
/// with up to ±25% jitter so that many failed jobs do not retry in lockstep.
pub fn backoff(attempts: u32, base: Duration, cap: Duration, jitter_seed: u64) -> Duration {
    let exponent = attempts.saturating_sub(1).min(20);
    let delay = base.saturating_mul(1 << exponent).min(cap);
    // A cheap, well-spread number in [0, 1) from the seed (SplitMix64).
    let mut z = jitter_seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    let unit = (z ^ (z >> 31)) as f64 / u64::MAX as f64;
    delay.mul_f64(0.75 + unit * 0.5)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_then_stops_at_the_cap() {
        let base = Duration::from_secs(2);
        let cap = Duration::from_secs(300);
        let around = |attempts, seed| backoff(attempts, base, cap, seed).as_secs_f64();

        let first = around(1, 7);
        assert!((1.5..=2.5).contains(&first), "{first}");
        let fourth = around(4, 7);
        assert!((12.0..=20.0).contains(&fourth), "{fourth}");
        for attempts in [10, 30, 200] {
            let late = around(attempts, 7);
            assert!((225.0..=375.0).contains(&late), "{attempts}: {late}");
        }
    }

    #[test]
    fn jitter_spreads_retries() {
        let base = Duration::from_secs(10);
        let cap = Duration::from_secs(300);
        let delays: Vec<_> = (0..20).map(|seed| backoff(3, base, cap, seed)).collect();
        let distinct: std::collections::HashSet<_> = delays.iter().collect();
        assert!(distinct.len() > 15, "{delays:?}");
    }

    #[test]
    fn jobs_are_stored_as_tagged_json() {
        let job = Job::Replicate { file_id: "f1".into(), store: "s3".into() };
        let json = serde_json::to_string(&job).unwrap();
        assert_eq!(json, r#"{"kind":"replicate","file_id":"f1","store":"s3"}"#);
        assert_eq!(serde_json::from_str::<Job>(&json).unwrap(), job);
        assert_eq!(job.unique_key(), "replicate:f1:s3");
    }
}
