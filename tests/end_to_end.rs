//! The redundant put and the failover read, end to end, on two real S3 servers (one
//! Garage per role, so that either can be stopped) and a SQLite catalog.

mod support;

use std::time::{Duration, Instant};

use futures::StreamExt;

use twinstore::{CopyState, Error, ReadOptions};

use support::{TwoGarages, body, collect, guide_query, keys_in, raw_store, sha256, test_bytes};

#[tokio::test]
async fn put_with_both_stores_up_keeps_identical_copies() {
    let setup = TwoGarages::start();
    let twinstore = setup.open().await;
    let data = test_bytes(20 * 1024 * 1024 + 3, 10);

    let file = twinstore.put("holiday.bin", body(&data, 1 << 16)).await.unwrap();

    assert_eq!(file.size, data.len() as u64);
    assert_eq!(file.sha256, sha256(&data));
    assert_eq!(file.copies.len(), 2);
    for copy in &file.copies {
        assert_eq!(copy.state, CopyState::Stored, "{copy:?}");
        assert_eq!(copy.checksum.as_deref(), Some(file.sha256.as_str()));
        let store = raw_store(&setup.config, &copy.store);
        let stored = collect(store.get(&copy.key, None).await.unwrap().body).await.unwrap();
        assert!(stored == data, "the copy in {} differs from the original", copy.store);
    }
    assert_eq!(twinstore.file(&file.id).await.unwrap(), file, "the catalog holds the record");

    let rows = guide_query(twinstore.catalog()).await;
    assert_eq!(rows.len(), 1);
    let (name, url, backup_url, thumbnail_url) = &rows[0];
    assert_eq!(name, "holiday.bin");
    assert!(url.starts_with(&setup.primary.endpoint()), "{url}");
    assert!(backup_url.as_ref().unwrap().starts_with(&setup.backup.endpoint()));
    assert_eq!(thumbnail_url, &None);
}

#[tokio::test]
async fn put_with_the_backup_stopped_succeeds_with_a_pending_copy() {
    let mut setup = TwoGarages::start();
    let twinstore = setup.open().await;
    setup.backup.stop();
    let data = test_bytes(300_000, 11);

    let file = twinstore.put("report.pdf", body(&data, 65536)).await.unwrap();

    let primary = file.copy_in("garage-a").unwrap();
    let backup = file.copy_in("garage-b").unwrap();
    assert_eq!(primary.state, CopyState::Stored);
    assert_eq!(backup.state, CopyState::Pending);
    assert!(backup.last_error.as_ref().unwrap().contains("garage-b"), "{backup:?}");

    let recorded = twinstore.file(&file.id).await.unwrap();
    assert_eq!(recorded.copy_in("garage-b").unwrap().state, CopyState::Pending);
    let stored = collect(twinstore.read(&file.id, ReadOptions::default()).await.unwrap().body);
    assert_eq!(stored.await.unwrap(), data);
}

#[tokio::test]
async fn put_with_the_primary_stopped_fails_and_leaves_nothing() {
    let mut setup = TwoGarages::start();
    let twinstore = setup.open().await;
    setup.primary.stop();

    for size in [1000, 12 * 1024 * 1024] {
        let data = test_bytes(size, 12);
        let err = twinstore.put("lost.bin", body(&data, 65536)).await.unwrap_err();
        assert!(matches!(err, Error::PrimaryFailed { .. }), "{err}");
    }

    assert!(twinstore.list(10, None).await.unwrap().files.is_empty(), "no catalog row");
    let backup = raw_store(&setup.config, "garage-b");
    assert_eq!(keys_in(backup.as_ref()).await, Vec::<String>::new(), "no backup object");
}

#[tokio::test]
async fn read_with_the_primary_stopped_gives_identical_bytes_from_the_backup() {
    let mut setup = TwoGarages::start();
    let twinstore = setup.open().await;
    let data = test_bytes(9 * 1024 * 1024, 13);
    let file = twinstore.put("video.mp4", body(&data, 1 << 16)).await.unwrap();
    setup.primary.stop();

    let reader = twinstore.read(&file.id, ReadOptions::default()).await.unwrap();
    assert_eq!(reader.store, "garage-b");
    assert!(collect(reader.body).await.unwrap() == data);

    let out = setup.dir.path().join("downloaded.mp4");
    let store = twinstore.download(&file.id, &out, false).await.unwrap();
    assert_eq!(store, "garage-b");
    assert!(std::fs::read(&out).unwrap() == data);

    let ranged = ReadOptions { range: Some(100..200), ..ReadOptions::default() };
    let reader = twinstore.read(&file.id, ranged).await.unwrap();
    assert_eq!(collect(reader.body).await.unwrap(), &data[100..200]);
}

#[tokio::test]
async fn a_replaced_primary_object_is_passed_over_for_the_backup() {
    let setup = TwoGarages::start();
    let twinstore = setup.open().await;
    let data = test_bytes(500_000, 14);
    let file = twinstore.put("contract.pdf", body(&data, 65536)).await.unwrap();

    // Same length, other bytes, written behind twinstore's back.
    let primary = raw_store(&setup.config, "garage-a");
    let corrupt = test_bytes(500_000, 99);
    primary.put(&file.copies[0].key, body(&corrupt, 65536)).await.unwrap();

    let reader = twinstore.read(&file.id, ReadOptions::default()).await.unwrap();
    assert_eq!(reader.store, "garage-b");
    assert!(collect(reader.body).await.unwrap() == data);

    let out = setup.dir.path().join("contract.pdf");
    assert_eq!(twinstore.download(&file.id, &out, false).await.unwrap(), "garage-b");
    assert!(std::fs::read(&out).unwrap() == data);
}

#[tokio::test]
async fn corrupted_bytes_are_caught_by_their_checksum() {
    let setup = TwoGarages::start();
    let twinstore = setup.open().await;
    let data = test_bytes(200_000, 15);
    let file = twinstore.put("notes.txt", body(&data, 65536)).await.unwrap();

    // Corrupt the primary and forget its entity tag, so that only the SHA-256 can tell.
    let primary = raw_store(&setup.config, "garage-a");
    primary.put(&file.copies[0].key, body(&test_bytes(200_000, 98), 65536)).await.unwrap();
    sqlx::query("UPDATE file_copy SET etag = NULL")
        .execute(twinstore.catalog().pool())
        .await
        .unwrap();

    let reader = twinstore.read(&file.id, ReadOptions::default()).await.unwrap();
    assert_eq!(reader.store, "garage-a");
    let err = collect(reader.body).await.unwrap_err();
    assert!(err.to_string().contains("SHA-256"), "the stream ends in an error: {err}");

    let out = setup.dir.path().join("notes.txt");
    assert_eq!(twinstore.download(&file.id, &out, false).await.unwrap(), "garage-b");
    assert!(std::fs::read(&out).unwrap() == data);
}

#[tokio::test]
async fn a_hung_primary_times_out_and_is_then_skipped() {
    let setup = TwoGarages::start();
    let twinstore = setup.open().await;
    let data = test_bytes(100_000, 16);
    let file = twinstore.put("slow.bin", body(&data, 65536)).await.unwrap();
    setup.primary.pause();

    let started = Instant::now();
    let reader = twinstore.read(&file.id, ReadOptions::default()).await.unwrap();
    assert_eq!(reader.store, "garage-b");
    assert_eq!(collect(reader.body).await.unwrap(), data);
    assert!(started.elapsed() >= Duration::from_secs(2), "it waited the first-byte timeout");

    // The circuit breaker now sends reads straight to the backup.
    let started = Instant::now();
    let reader = twinstore.read(&file.id, ReadOptions::default()).await.unwrap();
    assert_eq!(reader.store, "garage-b");
    assert!(started.elapsed() < Duration::from_secs(1), "took {:?}", started.elapsed());
    setup.primary.resume();
}

#[tokio::test]
async fn file_url_gives_a_url_that_works_now() {
    let mut setup = TwoGarages::start();
    let twinstore = setup.open().await;
    let data = test_bytes(4321, 17);
    let file = twinstore.put("photo.jpg", body(&data, 1000)).await.unwrap();

    let url = twinstore.file_url(&file.id, false).await.unwrap();
    assert!(url.starts_with(&setup.primary.endpoint()), "{url}");
    assert_eq!(reqwest::get(&url).await.unwrap().bytes().await.unwrap().as_ref(), data);

    let backup_url = twinstore.file_url(&file.id, true).await.unwrap();
    assert!(backup_url.starts_with(&setup.backup.endpoint()), "{backup_url}");

    setup.primary.stop();
    let url = twinstore.file_url(&file.id, false).await.unwrap();
    assert!(url.starts_with(&setup.backup.endpoint()), "failed over: {url}");
    assert_eq!(reqwest::get(&url).await.unwrap().bytes().await.unwrap().as_ref(), data);
}

#[tokio::test]
async fn remove_deletes_every_copy_and_then_the_row() {
    let setup = TwoGarages::start();
    let twinstore = setup.open().await;
    let file = twinstore.put("old.log", body(b"bye", 1)).await.unwrap();

    twinstore.remove(&file.id).await.unwrap();

    for store in ["garage-a", "garage-b"] {
        let store = raw_store(&setup.config, store);
        assert!(keys_in(store.as_ref()).await.is_empty());
    }
    assert!(matches!(twinstore.file(&file.id).await, Err(Error::FileNotFound { .. })));
    assert!(guide_query(twinstore.catalog()).await.is_empty());
}

#[tokio::test]
async fn remove_with_a_store_down_keeps_the_row_until_it_can_finish() {
    let mut setup = TwoGarages::start();
    let twinstore = setup.open().await;
    let file = twinstore.put("keep.txt", body(b"still here", 4)).await.unwrap();
    setup.backup.stop();

    let err = twinstore.remove(&file.id).await.unwrap_err();
    assert!(matches!(err, Error::IncompleteDelete { .. }), "{err}");
    let record = twinstore.file(&file.id).await.unwrap();
    assert_eq!(record.copy_in("garage-a").unwrap().state, CopyState::Deleted);
    assert_eq!(record.copy_in("garage-b").unwrap().state, CopyState::Stored);
}

#[tokio::test]
async fn health_reports_each_store_from_a_round_trip() {
    let mut setup = TwoGarages::start();
    let twinstore = setup.open().await;

    let health = twinstore.check_storage_health().await;
    assert!(health.primary.available, "{health:?}");
    assert!(health.backup.available, "{health:?}");
    assert_eq!(health.primary.name, "garage-a");

    setup.backup.stop();
    let health = twinstore.check_storage_health().await;
    assert!(health.primary.available);
    assert!(!health.backup.available);
    assert!(health.backup.error.is_some());

    // The canary objects were cleaned up.
    let primary = raw_store(&setup.config, "garage-a");
    let left: Vec<_> = futures::StreamExt::collect::<Vec<_>>(primary.list(".twinstore/")).await;
    assert!(left.is_empty(), "{left:?}");
}

#[tokio::test]
async fn user_names_never_become_keys() {
    let setup = TwoGarages::start();
    let twinstore = setup.open().await;

    for (raw, shown) in [
        ("../../etc/passwd", "passwd"),
        ("a/b/../c.txt", "c.txt"),
        ("bad\r\nname\u{1b}[31m.txt", "badname[31m.txt"),
        ("..", "file"),
    ] {
        let file = twinstore.put(raw, body(b"x", 1)).await.unwrap();
        assert_eq!(file.name, shown);
        assert_eq!(file.copies[0].key, format!("files/{}", file.id));
    }
}

#[tokio::test]
async fn a_read_whose_store_dies_mid_way_continues_from_the_other_copy() {
    let mut setup = TwoGarages::start();
    let twinstore = setup.open().await;
    let data = test_bytes(40 * 1024 * 1024, 21);
    let file = twinstore.put("movie.bin", body(&data, 1 << 20)).await.unwrap();

    for range in [None, Some(1_000_000..30_000_000u64)] {
        let options = ReadOptions { prefer_backup: false, range: range.clone() };
        let mut reader = twinstore.read(&file.id, options).await.unwrap();
        assert_eq!(reader.store, "garage-a");
        let first = reader.body.next().await.unwrap().unwrap();

        // The primary goes away with most of the object still unsent.
        setup.primary.stop();
        let mut received = first.to_vec();
        while let Some(chunk) = reader.body.next().await {
            received.extend_from_slice(&chunk.expect("the backup takes over"));
        }

        let expected = match &range {
            None => &data[..],
            Some(range) => &data[range.start as usize..range.end as usize],
        };
        assert_eq!(received.len(), expected.len());
        assert!(received == expected, "the bytes differ from the original");
        setup.primary.restart();
    }
}
