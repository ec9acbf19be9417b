//! `twinstore serve` as a process: SIGTERM during uploads finishes what was accepted
//! and records nothing half-written.

mod support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::multipart::{Form, Part};
use serde_json::Value;

use support::{TwoGarages, free_port, test_bytes};

/// A 3 MiB upload that trickles in over about a second.
async fn slow_upload(base: String, n: u64) -> Result<Value, String> {
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        (0..48).map(|i| Ok(test_bytes(64 * 1024, n * 100 + i))).collect();
    let stream = futures::stream::iter(chunks).then(|chunk| async move {
        tokio::time::sleep(Duration::from_millis(20)).await;
        chunk
    });
    let part = Part::stream(reqwest::Body::wrap_stream(stream)).file_name(format!("slow{n}.bin"));
    let response = reqwest::Client::new()
        .post(format!("{base}/v1/files"))
        .multipart(Form::new().part("file", part))
        .send()
        .await
        .map_err(|err| err.to_string())?;
    if response.status() != 201 {
        return Err(format!("status {}", response.status()));
    }
    let body: Value = response.json().await.map_err(|err| err.to_string())?;
    Ok(body["files"][0].clone())
}

use futures::StreamExt;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_accepted_uploads_finish_and_records_nothing_half_written() {
    let setup = TwoGarages::start();
    let config_path = setup.dir.path().join("twinstore.toml");
    std::fs::write(&config_path, setup.toml()).unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");

    let mut server = Command::new(env!("CARGO_BIN_EXE_twinstore"))
        .arg("--config")
        .arg(&config_path)
        .arg("serve")
        .env("TWINSTORE_LISTEN", format!("127.0.0.1:{port}"))
        .env("TWINSTORE_DATA_DIR", setup.dir.path())
        .env("DATABASE_URL", setup.config.database_url.expose())
        .env_remove("STORAGE_PROVIDER")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while reqwest::get(format!("{base}/v1/health")).await.is_err() {
        assert!(started.elapsed() < Duration::from_secs(30), "the service did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let uploads: Vec<_> = (0..8).map(|n| tokio::spawn(slow_upload(base.clone(), n))).collect();
    tokio::time::sleep(Duration::from_millis(400)).await;
    let status = Command::new("kill").args(["-TERM", &server.id().to_string()]).status().unwrap();
    assert!(status.success());

    tokio::time::sleep(Duration::from_millis(300)).await;
    let late = slow_upload(base.clone(), 99).await;
    assert!(late.is_err(), "a new upload after SIGTERM is not accepted");

    let mut acknowledged = Vec::new();
    for upload in uploads {
        match upload.await.unwrap() {
            Ok(record) => acknowledged.push(record["id"].as_str().unwrap().to_owned()),
            Err(err) => panic!("an upload in flight was cut off: {err}"),
        }
    }
    let exit = tokio::task::spawn_blocking(move || server.wait()).await.unwrap().unwrap();
    assert!(exit.success(), "serve exits cleanly: {exit}");

    // Every acknowledged upload is recorded, with copies that verify; nothing else is.
    let mut config = setup.config.clone();
    config.data_dir = setup.dir.path().to_path_buf();
    let twinstore = twinstore::Twinstore::open(config).await.unwrap();
    let page = twinstore.list(100, None).await.unwrap();
    let mut recorded: Vec<String> = page.files.iter().map(|f| f.id.clone()).collect();
    recorded.sort();
    acknowledged.sort();
    assert_eq!(recorded, acknowledged);
    let report = twinstore.verify(true, &|_| {}).await.unwrap();
    assert!(report.is_clean(), "{report:?}");
    assert_eq!(report.copies_ok, 16);
}
