//! Virus scanning with a real clamd on loopback, on real Garage servers.

mod support;

use std::sync::Arc;

use reqwest::StatusCode;
use twinstore::config::ServiceSettings;
use twinstore::engine::Worker;
use twinstore::scan::Verdict;
use twinstore::{CopyState, Error, ReadOptions};

use support::clamd::{Clamd, STREAM_MAX_BYTES, eicar};
use support::{Service, TwoGarages, body, keys_in, raw_store, test_bytes};

fn with_clamd(setup: &mut TwoGarages, clamd: &Clamd) {
    setup.config.clamd = Some(clamd.address());
}

#[tokio::test]
async fn an_infected_file_is_removed_everywhere_and_refused_later() {
    let clamd = Clamd::start();
    let mut setup = TwoGarages::start();
    with_clamd(&mut setup, &clamd);
    let twinstore = Arc::new(setup.open().await);

    let file = twinstore.put("invoice.pdf.exe", body(&eicar(), 16)).await.unwrap();
    assert_eq!(file.scan_status, "pending");
    let worker = Worker::new(twinstore.clone(), Default::default());
    assert_eq!(worker.run_until_idle().await.unwrap(), 1, "the scan job ran");

    let record = twinstore.file(&file.id).await.unwrap();
    assert_eq!(record.scan_status, "infected");
    assert_eq!(record.scan_detail.as_deref(), Some("Eicar-Test-Signature.UNOFFICIAL"));
    assert!(record.scanned_at.is_some());
    assert!(record.copies.iter().all(|c| c.state == CopyState::Deleted));
    for store in ["garage-a", "garage-b"] {
        assert!(keys_in(raw_store(&setup.config, store).as_ref()).await.is_empty());
    }
    let quarantined = twinstore.catalog().quarantined(&file.sha256).await.unwrap().unwrap();
    assert_eq!(quarantined.signature, "Eicar-Test-Signature.UNOFFICIAL");
    assert_eq!(quarantined.name, "invoice.pdf.exe");

    let err = twinstore.read(&file.id, ReadOptions::default()).await.unwrap_err();
    assert!(matches!(err, Error::Infected { .. }), "{err}");

    // The same bytes again: refused, and nothing of them stored.
    let err = twinstore.put("again.txt", body(&eicar(), 7)).await.unwrap_err();
    assert!(matches!(err, Error::Quarantined { .. }), "{err}");
    assert_eq!(twinstore.list(10, None).await.unwrap().files.len(), 1);
    for store in ["garage-a", "garage-b"] {
        assert!(keys_in(raw_store(&setup.config, store).as_ref()).await.is_empty());
    }
}

#[tokio::test]
async fn clean_files_are_clean_and_large_ones_skipped_not_clean() {
    let clamd = Clamd::start();
    let mut setup = TwoGarages::start();
    with_clamd(&mut setup, &clamd);
    let twinstore = setup.open().await;

    let clean = twinstore.put("notes.txt", body(b"nothing to see here", 4)).await.unwrap();
    assert_eq!(twinstore.scan_file(&clean.id).await.unwrap(), Verdict::Clean);
    assert_eq!(twinstore.file(&clean.id).await.unwrap().scan_status, "clean");

    let big = twinstore.put("big.bin", body(&test_bytes(STREAM_MAX_BYTES + 4096, 1), 65536));
    let big = big.await.unwrap();
    assert_eq!(twinstore.scan_file(&big.id).await.unwrap(), Verdict::TooLarge);
    let record = twinstore.file(&big.id).await.unwrap();
    assert_eq!(record.scan_status, "skipped");
    assert!(record.scan_detail.unwrap().contains("limit"));
    assert!(record.copies.iter().all(|c| c.state == CopyState::Stored), "skipped files stay");

    let health = twinstore.check_storage_health().await;
    let scanner = health.scanner.expect("the scanner is reported");
    assert!(scanner.available);
    assert!(scanner.version.unwrap().starts_with("ClamAV "));
}

#[tokio::test]
async fn a_scan_while_clamd_is_down_is_an_error_then_retried_to_clean() {
    let mut clamd = Clamd::start();
    let mut setup = TwoGarages::start();
    with_clamd(&mut setup, &clamd);
    let twinstore = Arc::new(setup.open().await);
    clamd.stop();

    let file = twinstore.put("later.txt", body(b"scan me when you can", 4)).await.unwrap();
    let worker = Worker::new(
        twinstore.clone(),
        twinstore::engine::WorkerOptions {
            backoff_base: std::time::Duration::from_millis(100),
            ..Default::default()
        },
    );
    assert_eq!(worker.run_until_idle().await.unwrap(), 1);
    let record = twinstore.file(&file.id).await.unwrap();
    assert_eq!(record.scan_status, "error");
    assert!(record.scan_detail.unwrap().contains("clamd"));
    assert!(!twinstore.check_storage_health().await.scanner.unwrap().available);

    clamd.restart();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(worker.run_until_idle().await.unwrap(), 1, "the scan was retried");
    assert_eq!(twinstore.file(&file.id).await.unwrap().scan_status, "clean");
}

#[tokio::test]
async fn the_service_never_serves_infected_files_and_can_hold_back_unscanned_ones() {
    let clamd = Clamd::start();
    let mut setup = TwoGarages::start();
    with_clamd(&mut setup, &clamd);
    setup.config.serve_unscanned = false;
    let service = Service::start(&setup.config, ServiceSettings::default()).await;
    let twinstore = service.twinstore.clone();

    let infected = twinstore.put("x.com", body(&eicar(), 68)).await.unwrap();
    let fine = twinstore.put("fine.txt", body(b"fine", 4)).await.unwrap();
    let content = |id: &str| service.url(&format!("/v1/files/{id}/content"));

    let waiting = reqwest::get(content(&fine.id)).await.unwrap();
    assert_eq!(waiting.status(), StatusCode::CONFLICT, "not served until clean");

    let worker = Worker::new(twinstore.clone(), Default::default());
    worker.run_until_idle().await.unwrap();
    assert_eq!(reqwest::get(content(&fine.id)).await.unwrap().status(), StatusCode::OK);
    let gone = reqwest::get(content(&infected.id)).await.unwrap();
    assert_eq!(gone.status(), StatusCode::GONE);
    let error: serde_json::Value = gone.json().await.unwrap();
    assert_eq!(error["code"], "file_infected");

    let form = reqwest::multipart::Form::new()
        .part("file", reqwest::multipart::Part::bytes(eicar()).file_name("again.com"));
    let refused =
        reqwest::Client::new().post(service.url("/v1/files")).multipart(form).send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let error: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(error["code"], "content_quarantined");
}

#[tokio::test]
async fn an_infected_image_loses_its_renditions_too() {
    let clamd = Clamd::start();
    let mut setup = TwoGarages::start();
    with_clamd(&mut setup, &clamd);
    let twinstore = setup.open().await;
    // A valid picture with the test signature after its end: it renders, and it is
    // found infected.
    let mut data = support::images::png_with_alpha(64, 64);
    data.extend_from_slice(&eicar());
    let file = twinstore.put("cat.png", body(&data, 1024)).await.unwrap();
    let rendered = twinstore.render(&file.id).await.unwrap();
    assert!(matches!(rendered, twinstore::engine::RenderOutcome::Done { .. }), "{rendered:?}");

    let verdict = twinstore.scan_file(&file.id).await.unwrap();

    assert!(matches!(verdict, twinstore::scan::Verdict::Infected(_)), "{verdict:?}");
    let record = twinstore.file(&file.id).await.unwrap();
    assert_eq!(record.thumbnail_url, None);
    assert_eq!(record.render_status, "skipped");
    assert!(twinstore.renditions(&file.id).await.unwrap().is_empty());
    let backup = raw_store(&setup.config, "garage-b");
    let left: Vec<_> = futures::StreamExt::collect(backup.list("renditions/")).await;
    assert!(left.is_empty(), "renditions left in the backup: {left:?}");
}
