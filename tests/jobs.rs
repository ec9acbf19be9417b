//! Durable jobs on real Garage servers: automatic backup sync, leases, status.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;
use twinstore::CopyState;
use twinstore::engine::{Worker, WorkerOptions};
use twinstore::jobs::Job;

use support::{TwoGarages, body, collect, raw_store, sha256, test_bytes};

fn quick_options() -> WorkerOptions {
    WorkerOptions {
        concurrency: 8,
        lease: Duration::from_secs(3),
        poll_interval: Duration::from_millis(100),
        backoff_base: Duration::from_millis(200),
        backoff_cap: Duration::from_secs(2),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_backups_land_by_themselves_once_the_backup_returns() {
    let mut setup = TwoGarages::start();
    let twinstore = Arc::new(setup.open().await);
    setup.backup.stop();

    let mut files = Vec::new();
    for n in 0..100 {
        let data = test_bytes(1000 + n * 37, n as u64);
        let file = twinstore.put(&format!("f{n}.bin"), body(&data, 4096)).await.unwrap();
        assert_eq!(file.copy_in("garage-b").unwrap().state, CopyState::Pending);
        files.push((file.id, data));
    }
    let status = twinstore.status().await.unwrap();
    assert_eq!(status.copies.pending, 100);
    assert_eq!(status.jobs.queued, 100);

    // A worker runs in the background, as in `serve` or `twinstore work`.
    let shutdown = CancellationToken::new();
    let worker = Worker::new(twinstore.clone(), quick_options());
    let running = tokio::spawn({
        let shutdown = shutdown.clone();
        async move { worker.run(shutdown).await }
    });
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(twinstore.status().await.unwrap().copies.pending, 100, "backup still down");

    setup.backup.restart();
    let started = Instant::now();
    while twinstore.status().await.unwrap().copies.pending > 0 {
        assert!(started.elapsed() < Duration::from_secs(60), "backlog not drained in 60 s");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    shutdown.cancel();
    running.await.unwrap();

    let backup = raw_store(&setup.config, "garage-b");
    for (id, data) in &files {
        let file = twinstore.file(id).await.unwrap();
        let copy = file.copy_in("garage-b").unwrap();
        assert_eq!(copy.state, CopyState::Stored);
        assert_eq!(copy.checksum.as_deref(), Some(sha256(data).as_str()));
        let stored = collect(backup.get(&copy.key, None).await.unwrap().body).await.unwrap();
        assert!(&stored == data, "backup copy of {id} differs");
    }
    let status = twinstore.status().await.unwrap();
    assert_eq!(status.jobs.done, 100);
    assert_eq!(status.oldest_pending_age_secs, None);
}

#[tokio::test]
async fn a_job_leased_by_a_dead_worker_runs_again_after_the_lease() {
    let mut setup = TwoGarages::start();
    let twinstore = Arc::new(setup.open().await);
    setup.backup.stop();
    let data = test_bytes(50_000, 3);
    let file = twinstore.put("orphaned.bin", body(&data, 4096)).await.unwrap();
    setup.backup.restart();
    // The health monitor sees the backup answer again, so replication stops skipping it.
    twinstore::engine::HealthMonitor::new(twinstore.clone()).probe().await;

    // A worker takes the job and dies without finishing it.
    let catalog = twinstore.catalog();
    let taken = catalog.claim_jobs("dead-worker", Duration::from_secs(2), 10).await.unwrap();
    assert_eq!(taken.len(), 1);
    assert_eq!(taken[0].job, Job::Replicate { file_id: file.id.clone(), store: "garage-b".into() });

    // While the lease holds, nobody else gets it.
    let worker = Worker::new(twinstore.clone(), quick_options());
    assert_eq!(worker.run_until_idle().await.unwrap(), 0);

    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(worker.run_until_idle().await.unwrap(), 1);
    let copy = twinstore.file(&file.id).await.unwrap();
    assert_eq!(copy.copy_in("garage-b").unwrap().state, CopyState::Stored);

    // The dead worker's late report changes nothing.
    catalog.fail_job(&taken[0].id, "dead-worker", "late").await.unwrap();
    assert_eq!(catalog.job_counts().await.unwrap().done, 1);
}

#[tokio::test]
async fn the_same_work_is_queued_once() {
    let setup = TwoGarages::start();
    let twinstore = setup.open().await;
    let file = twinstore.put("x", body(b"x", 1)).await.unwrap();
    let job = Job::Replicate { file_id: file.id.clone(), store: "garage-b".into() };

    twinstore.catalog().enqueue(&job).await.unwrap();
    twinstore.catalog().enqueue(&job).await.unwrap();
    assert_eq!(twinstore.catalog().job_counts().await.unwrap().queued, 1);
}

#[tokio::test]
async fn a_failing_job_is_retried_with_backoff_and_its_error_shown() {
    let mut setup = TwoGarages::start();
    let twinstore = Arc::new(setup.open().await);
    setup.backup.stop();
    let file = twinstore.put("retry.bin", body(b"retry me", 2)).await.unwrap();

    let worker = Worker::new(twinstore.clone(), quick_options());
    assert_eq!(worker.run_until_idle().await.unwrap(), 1);

    let status = twinstore.status().await.unwrap();
    assert_eq!(status.jobs.queued, 1, "queued again for a retry");
    assert_eq!(status.failing_jobs.len(), 1);
    assert!(status.failing_jobs[0].key.contains(&file.id));
    assert!(status.failing_jobs[0].last_error.as_ref().unwrap().contains("garage-b"));
    let copy = twinstore.file(&file.id).await.unwrap();
    let copy = copy.copy_in("garage-b").unwrap();
    assert_eq!(copy.state, CopyState::Pending);
    assert_eq!(copy.attempts, 2, "the put's attempt and the job's");
}

#[tokio::test]
async fn replication_skips_a_backup_that_just_failed_until_it_answers_again() {
    let mut setup = TwoGarages::start();
    let twinstore = Arc::new(setup.open().await);
    setup.backup.stop();
    let file = twinstore.put("later.bin", body(b"later", 5)).await.unwrap();
    assert_eq!(file.copy_in("garage-b").unwrap().state, CopyState::Pending);

    // The failed put opened the backup's circuit breaker: replication does not even
    // try it, and says why.
    setup.backup.restart();
    let error = twinstore.replicate(&file.id, "garage-b").await.unwrap_err();
    assert!(error.to_string().contains("skipped"), "{error}");
    let copy = twinstore.file(&file.id).await.unwrap();
    assert!(copy.copy_in("garage-b").unwrap().last_error.as_ref().unwrap().contains("skipped"));

    // Once a health probe gets an answer, the copy is written.
    let health = twinstore::engine::HealthMonitor::new(twinstore.clone()).probe().await;
    assert!(health.backup.available);
    twinstore.replicate(&file.id, "garage-b").await.unwrap();
    let copy = twinstore.file(&file.id).await.unwrap();
    assert_eq!(copy.copy_in("garage-b").unwrap().state, CopyState::Stored);
}
