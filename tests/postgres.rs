//! Several instances on one PostgreSQL catalog, each test with a private PostgreSQL
//! cluster and real Garage servers.

mod support;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures::StreamExt;
use reqwest::multipart::{Form, Part};
use twinstore::CopyState;
use twinstore::config::{DatabaseUrl, ServiceSettings};

use support::postgres::Postgres;
use support::{Service, TwoGarages, free_port, test_bytes};

/// A `twinstore serve` process.
struct Instance {
    child: Child,
    base: String,
}

impl Instance {
    async fn start(setup: &TwoGarages, config: &std::path::Path) -> Instance {
        let port = free_port();
        let child = Command::new(env!("CARGO_BIN_EXE_twinstore"))
            .arg("--config")
            .arg(config)
            .arg("serve")
            .env("TWINSTORE_LISTEN", format!("127.0.0.1:{port}"))
            .env("DATABASE_URL", setup.config.database_url.expose())
            .env("TWINSTORE_JOB_LEASE_SECS", "3")
            .env("TWINSTORE_HEALTH_INTERVAL_SECS", "3600")
            .env_remove("STORAGE_PROVIDER")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let base = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        while reqwest::get(format!("{base}/v1/health")).await.is_err() {
            assert!(started.elapsed() < Duration::from_secs(30), "an instance did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Instance { child, base }
    }

    /// Backup PUTs this instance made that succeeded, from its metrics (calls less
    /// errors: an attempt that failed wrote nothing).
    async fn backup_puts(&self) -> u64 {
        let text = reqwest::get(format!("{}/metrics", self.base)).await.unwrap();
        let text = text.text().await.unwrap();
        let count = |metric: &str| -> u64 {
            let prefix = format!(r#"{metric}{{store="garage-b",operation="put"}} "#);
            text.lines()
                .find_map(|l| l.strip_prefix(&prefix))
                .map(|count| count.trim().parse().unwrap())
                .unwrap_or(0)
        };
        count("twinstore_store_operations_total") - count("twinstore_store_errors_total")
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        self.kill();
    }
}

async fn upload_4k(base: &str, n: u64) -> bool {
    let part = Part::bytes(test_bytes(4096, n)).file_name(format!("f{n}.bin"));
    let response = reqwest::Client::new()
        .post(format!("{base}/v1/files"))
        .multipart(Form::new().part("file", part))
        .send()
        .await;
    matches!(response, Ok(r) if r.status() == 201)
}

async fn setup_on_postgres(postgres: &Postgres) -> (TwoGarages, std::path::PathBuf) {
    let mut setup = TwoGarages::start();
    setup.config.database_url = DatabaseUrl::new(postgres.new_database());
    // Migrate once before the instances start.
    setup.open().await;
    let path = setup.dir.path().join("twinstore.toml");
    std::fs::write(&path, setup.toml()).unwrap();
    (setup, path)
}

async fn wait_until_no_copy_is_pending(twinstore: &twinstore::Twinstore, limit: Duration) {
    let started = Instant::now();
    while twinstore.status().await.unwrap().copies.pending > 0 {
        assert!(started.elapsed() < limit, "the backlog did not drain in {limit:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_replicate_every_copy_exactly_once() {
    let postgres = Postgres::start();
    let (mut setup, config) = setup_on_postgres(&postgres).await;
    let instances =
        [Instance::start(&setup, &config).await, Instance::start(&setup, &config).await];
    setup.backup.stop();

    let uploads = futures::stream::iter(0..200u64)
        .map(|n| {
            let base = instances[(n % 2) as usize].base.clone();
            async move { upload_4k(&base, n).await }
        })
        .buffer_unordered(8)
        .collect::<Vec<bool>>()
        .await;
    assert!(uploads.iter().all(|ok| *ok), "every upload is acknowledged");

    let library = setup.open().await;
    assert_eq!(library.status().await.unwrap().copies.pending, 200);
    let before = instances[0].backup_puts().await + instances[1].backup_puts().await;

    setup.backup.restart();
    wait_until_no_copy_is_pending(&library, Duration::from_secs(90)).await;
    let after = instances[0].backup_puts().await + instances[1].backup_puts().await;
    assert_eq!(after - before, 200, "each pending copy was written once");

    let status = library.status().await.unwrap();
    assert_eq!(status.copies.stored, 400);
    assert_eq!(status.jobs.done, 200);
    assert!(library.verify(false, &|_| {}).await.unwrap().is_clean());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_of_a_killed_instance_finish_on_the_other() {
    let postgres = Postgres::start();
    let (mut setup, config) = setup_on_postgres(&postgres).await;
    let mut first = Instance::start(&setup, &config).await;
    let second = Instance::start(&setup, &config).await;
    setup.backup.stop();
    for n in 0..60 {
        let base = if n % 2 == 0 { &first.base } else { &second.base };
        assert!(upload_4k(base, n).await);
    }

    setup.backup.restart();
    tokio::time::sleep(Duration::from_millis(300)).await;
    first.kill();

    let library = setup.open().await;
    wait_until_no_copy_is_pending(&library, Duration::from_secs(90)).await;
    let page = library.list(100, None).await.unwrap();
    assert_eq!(page.files.len(), 60);
    for file in &page.files {
        assert_eq!(file.copy_in("garage-b").unwrap().state, CopyState::Stored);
    }
    drop(second);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_restart_loses_no_acknowledged_upload() {
    let mut postgres = Postgres::start();
    let (setup, _) = setup_on_postgres(&postgres).await;
    let service = Service::start(&setup.config, ServiceSettings::default()).await;
    let base = service.base.clone();

    let uploading = tokio::spawn(async move {
        let mut acknowledged = Vec::new();
        for n in 0..60u64 {
            let part = Part::bytes(test_bytes(8192, n)).file_name(format!("r{n}.bin"));
            let response = reqwest::Client::new()
                .post(format!("{base}/v1/files"))
                .multipart(Form::new().part("file", part))
                .send()
                .await
                .unwrap();
            if response.status() == 201 {
                let body: serde_json::Value = response.json().await.unwrap();
                acknowledged.push(body["files"][0]["id"].as_str().unwrap().to_owned());
            }
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
        acknowledged
    });

    tokio::time::sleep(Duration::from_millis(500)).await;
    postgres.stop();
    let health = reqwest::get(service.url("/v1/health")).await.unwrap();
    assert_eq!(health.status(), 503, "unhealthy while the database is down");
    tokio::time::sleep(Duration::from_millis(500)).await;
    postgres.start_server();

    let acknowledged = uploading.await.unwrap();
    assert!(acknowledged.len() >= 10, "uploads before and after the restart worked");
    assert!(acknowledged.len() < 60, "some uploads failed while the database was down");
    let health = reqwest::get(service.url("/v1/health")).await.unwrap();
    assert_eq!(health.status(), 200, "healthy again");

    let twinstore = service.twinstore.clone();
    for id in &acknowledged {
        let file = twinstore.file(id).await.unwrap();
        assert!(file.copies.iter().all(|c| c.state == CopyState::Stored), "{id}");
    }
    let report = twinstore.verify(true, &|_| {}).await.unwrap();
    assert!(report.missing.is_empty() && report.mismatched.is_empty(), "{report:?}");
    assert!(report.orphans.is_empty(), "a failed upload left objects behind: {report:?}");
}
