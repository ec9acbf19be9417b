//! Migration to a third store on real Garage servers: online, interrupted, resumed.

mod support;

use std::sync::Arc;
use std::time::Duration;

use twinstore::engine::{MigrateOptions, Role, Worker, WorkerOptions};
use twinstore::{CopyState, ReadOptions};

use support::{Garage, TwoGarages, body, collect, raw_store, test_bytes};

fn no_progress(_: twinstore::engine::Progress) {}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migration_survives_an_interruption_and_takes_uploads_made_meanwhile() {
    let mut setup = TwoGarages::start();
    let third = Garage::start(&["third"]);
    setup.config.stores.insert("garage-c".into(), third.store_config("third"));
    let twinstore = Arc::new(setup.open().await);

    let mut files = Vec::new();
    for n in 0..30 {
        let data = test_bytes(20_000 + n * 101, 100 + n as u64);
        files.push((twinstore.put(&format!("f{n}"), body(&data, 8192)).await.unwrap(), data));
    }

    let plan = twinstore.plan_migration("garage-c", Role::Primary).await.unwrap();
    assert_eq!((plan.files, plan.files_to_copy), (30, 30));
    assert_eq!(plan.from, "garage-a");
    assert!(plan.bytes_to_copy > 600_000);

    // Start, and interrupt once a few files have been copied.
    let options = MigrateOptions { to: "garage-c".into(), role: Role::Primary, concurrency: 2 };
    let running = tokio::spawn({
        let (twinstore, options) = (twinstore.clone(), options.clone());
        async move { twinstore.migrate(&options, &no_progress).await }
    });
    loop {
        let status = twinstore.status().await.unwrap();
        if status.migration.is_some() && copies_in(&twinstore, "garage-c").await >= 5 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    running.abort();
    let _ = running.await;
    let copied = copies_in(&twinstore, "garage-c").await;
    assert!(copied < 30, "interrupted before the end ({copied} copied)");
    assert_eq!(twinstore.roles().primary, "garage-a", "roles unchanged while unfinished");

    // Uploads go on meanwhile and get a copy in the target through their jobs.
    for n in 30..35 {
        let data = test_bytes(5_000, 100 + n as u64);
        let file = twinstore.put(&format!("f{n}"), body(&data, 8192)).await.unwrap();
        assert_eq!(file.copy_in("garage-c").unwrap().state, CopyState::Pending);
        files.push((file, data));
    }
    let worker = Worker::new(twinstore.clone(), WorkerOptions::default());
    assert!(worker.run_until_idle().await.unwrap() >= 5);

    // Resume.
    let report = twinstore.migrate(&options, &no_progress).await.unwrap();
    assert!(report.failed.is_empty(), "{report:?}");
    let roles = report.roles.expect("the migration finished");
    assert_eq!((roles.primary.as_str(), roles.backup.as_str()), ("garage-c", "garage-b"));
    assert!(twinstore.status().await.unwrap().migration.is_none());

    let target = raw_store(&setup.config, "garage-c");
    for (file, data) in &files {
        let record = twinstore.file(&file.id).await.unwrap();
        let copy = record.copy_in("garage-c").unwrap();
        assert_eq!(copy.state, CopyState::Stored);
        assert!(record.url.starts_with(&third.endpoint()), "{}", record.url);
        let stored = collect(target.get(&copy.key, None).await.unwrap().body).await.unwrap();
        assert!(&stored == data, "{} differs in the new store", file.id);

        let reader = twinstore.read(&file.id, ReadOptions::default()).await.unwrap();
        assert_eq!(reader.store, "garage-c");
    }

    // New uploads go to the new primary.
    let file = twinstore.put("after", body(b"after the move", 4)).await.unwrap();
    assert_eq!(file.copies[0].store, "garage-c");
    assert!(twinstore.verify(false, &no_progress).await.unwrap().is_clean());

    // The old primary is out of service: reads never touch it.
    setup.primary.stop();
    let reader = twinstore.read(&files[0].0.id, ReadOptions::default()).await.unwrap();
    assert_eq!(collect(reader.body).await.unwrap(), files[0].1);
}

#[tokio::test]
async fn a_migration_to_an_unknown_store_is_refused() {
    let setup = TwoGarages::start();
    let twinstore = setup.open().await;
    let err = twinstore.plan_migration("nowhere", Role::Primary).await.unwrap_err();
    assert!(err.to_string().contains("nowhere"), "{err}");
}

async fn copies_in(twinstore: &twinstore::Twinstore, store: &str) -> usize {
    let page = twinstore.list(1000, None).await.unwrap();
    page.files
        .iter()
        .filter(|file| file.copy_in(store).is_some_and(|c| c.state == CopyState::Stored))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_the_backup_role_moves_renditions_are_made_in_the_new_backup() {
    let mut setup = TwoGarages::start();
    let third = Garage::start(&["third"]);
    setup.config.stores.insert("garage-c".into(), third.store_config("third"));
    let twinstore = Arc::new(setup.open().await);
    let data = support::images::jpeg_with_metadata(640, 480, 1);
    let image = twinstore.put("photo.jpg", body(&data, 8192)).await.unwrap();
    twinstore.render(&image.id).await.unwrap();
    let before = twinstore.file(&image.id).await.unwrap().thumbnail_url.unwrap();
    assert!(before.starts_with(&setup.backup.endpoint()), "{before}");

    let options = MigrateOptions { to: "garage-c".into(), role: Role::Backup, concurrency: 2 };
    let report = twinstore.migrate(&options, &no_progress).await.unwrap();
    assert_eq!(report.renders_queued, 1);
    Worker::new(twinstore.clone(), WorkerOptions::default()).run_until_idle().await.unwrap();

    let moved = twinstore.file(&image.id).await.unwrap();
    assert_eq!(moved.render_status, "done");
    let thumbnail = moved.thumbnail_url.unwrap();
    assert!(thumbnail.starts_with(&third.endpoint()), "{thumbnail}");
    let renditions = twinstore.renditions(&image.id).await.unwrap();
    assert!(renditions.iter().all(|r| r.store == "garage-c"), "{renditions:?}");
    // The old backup can go: the renditions are read from the new one.
    setup.backup.stop();
    let reader = twinstore.read_rendition(&image.id, "thumb-300").await.unwrap();
    assert_eq!(reader.rendition.store, "garage-c");
    let picture = support::images::decode_webp(&collect(reader.body).await.unwrap());
    assert_eq!(picture.width(), 300);
}
