//! Verification and repair on real Garage servers.

mod support;

use twinstore::engine::RepairOptions;

use support::{TwoGarages, body, collect, raw_store, test_bytes};

fn no_progress(_: twinstore::engine::Progress) {}

#[tokio::test]
async fn verify_finds_exactly_what_was_broken_and_repair_fixes_it() {
    let setup = TwoGarages::start();
    let twinstore = setup.open().await;
    let mut files = Vec::new();
    for n in 0..5 {
        let data = test_bytes(10_000 + n, n as u64);
        files.push((twinstore.put(&format!("f{n}"), body(&data, 4096)).await.unwrap(), data));
    }
    assert!(twinstore.verify(false, &no_progress).await.unwrap().is_clean());

    // Behind twinstore's back: one backup object deleted, one primary object rewritten
    // with other bytes of the same size, and one object nobody knows about.
    let primary = raw_store(&setup.config, "garage-a");
    let backup = raw_store(&setup.config, "garage-b");
    let deleted = &files[1].0;
    backup.delete(&deleted.copies[1].key).await.unwrap();
    let corrupted = &files[3].0;
    let other_bytes = test_bytes(corrupted.size as usize, 77);
    primary.put(&corrupted.copies[0].key, body(&other_bytes, 4096)).await.unwrap();
    backup.put("files/not-a-file", body(b"stray", 5)).await.unwrap();

    let report = twinstore.verify(false, &no_progress).await.unwrap();
    assert!(!report.is_clean());
    assert_eq!(report.files, 5);
    assert_eq!(report.missing.len(), 1, "{report:?}");
    assert_eq!(report.missing[0].file_id, deleted.id);
    assert_eq!(report.missing[0].store, "garage-b");
    assert_eq!(report.mismatched.len(), 1, "{report:?}");
    assert_eq!(report.mismatched[0].file_id, corrupted.id);
    assert_eq!(report.mismatched[0].store, "garage-a");
    assert_eq!(report.orphans.len(), 1);
    assert_eq!(report.orphans[0].key, "files/not-a-file");
    assert!(report.unrecoverable.is_empty());

    let repaired = twinstore.repair(RepairOptions::default(), &no_progress).await.unwrap();
    assert_eq!(repaired.restored.len(), 2, "{repaired:?}");
    assert!(repaired.failed.is_empty());
    assert!(repaired.orphans_deleted.is_empty(), "orphans stay without --delete-orphans");

    let after = twinstore.verify(true, &no_progress).await.unwrap();
    assert!(after.missing.is_empty() && after.mismatched.is_empty(), "{after:?}");
    assert_eq!(after.copies_ok, 10);
    for (file, data) in &files {
        for copy in &file.copies {
            let store = raw_store(&setup.config, &copy.store);
            let bytes = collect(store.get(&copy.key, None).await.unwrap().body).await.unwrap();
            assert!(&bytes == data, "{} in {} differs after repair", file.id, copy.store);
        }
    }

    let options = RepairOptions { delete_orphans: true, ..RepairOptions::default() };
    let cleaned = twinstore.repair(options, &no_progress).await.unwrap();
    assert_eq!(cleaned.orphans_deleted.len(), 1);
    assert!(twinstore.verify(false, &no_progress).await.unwrap().is_clean());
}

#[tokio::test]
async fn deep_verify_catches_what_metadata_cannot() {
    let setup = TwoGarages::start();
    let twinstore = setup.open().await;
    let data = test_bytes(4096, 5);
    let file = twinstore.put("quiet", body(&data, 1024)).await.unwrap();

    let backup = raw_store(&setup.config, "garage-b");
    backup.put(&file.copies[1].key, body(&test_bytes(4096, 6), 1024)).await.unwrap();
    sqlx::query("UPDATE file_copy SET etag = NULL")
        .execute(twinstore.catalog().pool())
        .await
        .unwrap();

    assert!(twinstore.verify(false, &no_progress).await.unwrap().is_clean(), "same size");
    let deep = twinstore.verify(true, &no_progress).await.unwrap();
    assert_eq!(deep.mismatched.len(), 1);
    assert!(deep.mismatched[0].reason.contains("SHA-256"), "{deep:?}");

    let dry = RepairOptions { deep: true, dry_run: true, ..RepairOptions::default() };
    let planned = twinstore.repair(dry, &no_progress).await.unwrap();
    assert_eq!(planned.restored.len(), 1);
    assert_eq!(twinstore.verify(true, &no_progress).await.unwrap().mismatched.len(), 1);
}

#[tokio::test]
async fn a_file_with_no_good_copy_is_reported() {
    let setup = TwoGarages::start();
    let twinstore = setup.open().await;
    let file = twinstore.put("doomed", body(b"gone everywhere", 4)).await.unwrap();
    for copy in &file.copies {
        raw_store(&setup.config, &copy.store).delete(&copy.key).await.unwrap();
    }

    let report = twinstore.verify(false, &no_progress).await.unwrap();
    assert_eq!(report.unrecoverable, vec![file.id.clone()]);
    let repaired = twinstore.repair(RepairOptions::default(), &no_progress).await.unwrap();
    assert_eq!(repaired.failed.len(), 2);
    assert!(!repaired.is_complete());
}

#[tokio::test]
async fn a_scrub_reads_the_oldest_verified_copies_and_heals_a_bad_one() {
    let setup = TwoGarages::start();
    let twinstore = std::sync::Arc::new(setup.open().await);
    let data = test_bytes(3000, 8);
    let file = twinstore.put("scrubbed", body(&data, 1000)).await.unwrap();
    twinstore.put("other", body(b"fine", 2)).await.unwrap();

    let backup = raw_store(&setup.config, "garage-b");
    backup.put(&file.copies[1].key, body(&test_bytes(3000, 9), 1000)).await.unwrap();

    let report = twinstore.scrub(10).await.unwrap();
    assert_eq!((report.checked, report.bad), (4, 1));
    let record = twinstore.file(&file.id).await.unwrap();
    assert_eq!(record.copy_in("garage-b").unwrap().state, twinstore::CopyState::Pending);

    let worker = twinstore::engine::Worker::new(twinstore.clone(), Default::default());
    assert_eq!(worker.run_until_idle().await.unwrap(), 1);
    let healed = collect(backup.get(&file.copies[1].key, None).await.unwrap().body).await;
    assert_eq!(healed.unwrap(), data);
    assert_eq!(twinstore.scrub(10).await.unwrap().bad, 0);
}

#[tokio::test]
async fn verify_finds_a_missing_rendition_and_repair_renders_it_again() {
    let setup = TwoGarages::start();
    let twinstore = setup.open().await;
    let data = support::images::jpeg_with_metadata(800, 600, 1);
    let image = twinstore.put("photo.jpg", body(&data, 4096)).await.unwrap();
    twinstore.render(&image.id).await.unwrap();
    assert!(twinstore.verify(false, &no_progress).await.unwrap().is_clean());

    let backup = raw_store(&setup.config, "garage-b");
    let thumbnail = format!("renditions/{}/thumb-150.webp", image.id);
    backup.delete(&thumbnail).await.unwrap();
    let stray = "renditions/01a0-not-a-file/thumb-150.webp";
    backup.put(stray, body(b"stray", 5)).await.unwrap();

    let report = twinstore.verify(false, &no_progress).await.unwrap();
    assert_eq!(report.renditions_checked, 4);
    assert_eq!(report.renditions_missing.len(), 1, "{report:?}");
    assert_eq!(report.renditions_missing[0].key, thumbnail);
    assert_eq!(report.orphans.len(), 1, "{report:?}");
    assert_eq!(report.orphans[0].key, stray);
    assert!(report.missing.is_empty() && report.mismatched.is_empty(), "{report:?}");

    let options = RepairOptions { delete_orphans: true, ..RepairOptions::default() };
    let repaired = twinstore.repair(options, &no_progress).await.unwrap();
    assert!(repaired.is_complete(), "{repaired:?}");
    assert_eq!(repaired.rerendered, vec![image.id.clone()]);
    assert_eq!(repaired.orphans_deleted.len(), 1);

    assert!(twinstore.verify(false, &no_progress).await.unwrap().is_clean());
    let restored = collect(backup.get(&thumbnail, None).await.unwrap().body).await.unwrap();
    assert_eq!(support::images::decode_webp(&restored).width(), 150);
}
