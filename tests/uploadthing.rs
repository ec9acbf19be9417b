//! UploadThing as a store and as the upload front door, against a local fake written
//! from the reference notes (`support/uploadthing.rs`), with a real Garage S3 server
//! as the backup.

mod support;

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use twinstore::store::{Store, StoreError, open_store};

use support::uploadthing::{APP_ID, FakeUploadThing};
use support::{body, collect, test_bytes};

fn open(fake: &FakeUploadThing, acl: &str) -> Arc<dyn Store> {
    open_store("ut", &fake.store_config(acl)).unwrap()
}

#[tokio::test]
async fn puts_go_through_the_signed_ingest_url_and_read_back() {
    let fake = FakeUploadThing::start().await;
    let store = open(&fake, "public-read");

    for (key, size) in [("files/small", 1000), ("files/empty", 0), ("files/big", 9_000_123)] {
        let data = test_bytes(size, size as u64);
        let info = store.put(key, body(&data, 65_536)).await.unwrap();
        assert_eq!(info.size, size as u64);
        let object = store.get(key, None).await.unwrap();
        assert_eq!(object.info.size, size as u64);
        assert!(collect(object.body).await.unwrap() == data, "{key} differs");
        assert_eq!(store.head(key).await.unwrap().size, size as u64);
    }

    // Twinstore's key is the custom id, escaped; the file key is UploadThing's kind.
    let held = fake.files().into_iter().find(|f| f.custom_id.as_deref() == Some("files~ssmall"));
    let held = held.expect("the file is held under its custom id");
    assert!(held.key.starts_with(&twinstore::store::uploadthing::key::app_prefix(APP_ID)));
    assert_eq!(held.name, "small");
    assert_eq!(held.acl, "public-read");
    assert_eq!(store.canonical_url("files/small"), fake.file_url("files~ssmall"));
    let url = store.access_url("files/small", Duration::from_secs(60)).await.unwrap();
    assert_eq!(url, fake.file_url("files~ssmall"), "public files have plain URLs");
}

#[tokio::test]
async fn ranges_list_and_delete_work_like_any_store() {
    let fake = FakeUploadThing::start().await;
    let store = open(&fake, "public-read");
    let data = test_bytes(100_000, 3);
    store.put("t/range", body(&data, 4096)).await.unwrap();

    let object = store.get("t/range", Some(1000..5000)).await.unwrap();
    assert_eq!((object.range.clone(), object.info.size), (1000..5000, 100_000));
    assert_eq!(collect(object.body).await.unwrap(), &data[1000..5000]);
    let tail = store.get("t/range", Some(99_990..100_000)).await.unwrap();
    assert_eq!(collect(tail.body).await.unwrap(), &data[99_990..]);

    for name in ["a", "b", "c"] {
        store.put(&format!("list/x/{name}"), body(name.as_bytes(), 1)).await.unwrap();
    }
    store.put("list/y/d", body(b"d", 1)).await.unwrap();
    let mut keys: Vec<String> = store.list("list/x/").map(|info| info.unwrap().key).collect().await;
    keys.sort();
    assert_eq!(keys, ["list/x/a", "list/x/b", "list/x/c"]);

    store.delete("list/x/a").await.unwrap();
    assert!(store.head("list/x/a").await.unwrap_err().is_not_found());
    store.delete("list/x/a").await.expect("deleting an absent object succeeds");
    assert!(store.get("t/nothing-here", None).await.unwrap_err().is_not_found());

    // Writing a key again replaces the file (the custom id is freed first).
    store.put("list/y/d", body(b"second", 2)).await.unwrap();
    let object = store.get("list/y/d", None).await.unwrap();
    assert_eq!(collect(object.body).await.unwrap(), b"second");
}

#[tokio::test]
async fn a_failing_body_uploads_nothing() {
    let fake = FakeUploadThing::start().await;
    let store = open(&fake, "public-read");
    let chunks = vec![Ok(bytes::Bytes::from_static(b"part")), Err(std::io::Error::other("gone"))];
    let err = store.put("t/broken", futures::stream::iter(chunks).boxed()).await.unwrap_err();
    assert!(err.to_string().contains("could not be read"), "{err}");
    assert!(fake.files().is_empty());
    assert!(!fake.requests().iter().any(|r| r.starts_with("PUT")), "no ingest request");
}

#[tokio::test]
async fn private_files_are_read_through_signed_urls() {
    let fake = FakeUploadThing::start().await;
    let store = open(&fake, "private");
    store.put("files/secret", body(b"private bytes", 5)).await.unwrap();
    assert_eq!(fake.files()[0].acl, "private");

    // The plain URL is refused; twinstore's reads sign theirs.
    let plain = reqwest::get(store.canonical_url("files/secret")).await.unwrap();
    assert_eq!(plain.status(), 403);
    let object = store.get("files/secret", None).await.unwrap();
    assert_eq!(collect(object.body).await.unwrap(), b"private bytes");

    let url = store.access_url("files/secret", Duration::from_secs(60)).await.unwrap();
    assert!(url.contains("expires=") && url.contains("signature=hmac-sha256%3D"), "{url}");
    let signed = reqwest::get(&url).await.unwrap();
    assert_eq!(signed.status(), 200);
    assert_eq!(signed.bytes().await.unwrap(), &b"private bytes"[..]);
    let forged = url.replace("expires=", "expires=9");
    assert_eq!(reqwest::get(&forged).await.unwrap().status(), 403);
}

#[tokio::test]
async fn errors_are_mapped_and_transient_ones_retried() {
    let mut fake = FakeUploadThing::start().await;
    let store = open(&fake, "public-read");
    store.put("files/a", body(b"abc", 1)).await.unwrap();

    // A wrong API key is an auth error, not "unavailable".
    let mut config = fake.store_config("public-read");
    let token = twinstore::store::uploadthing::Token::encode("sk_wrong", APP_ID, &["sea1"]);
    config.token = Some(twinstore::config::Secret::new(token));
    let wrong = open_store("ut", &config).unwrap();
    let err = wrong.delete("files/a").await.unwrap_err();
    assert!(matches!(err, StoreError::Unauthorized { status: 401, .. }), "{err:?}");
    let health = twinstore::store::round_trip(wrong.as_ref(), Duration::from_secs(5)).await;
    assert!(!health.available);

    // 429 and 500 are retried (three attempts in all), then reported.
    for status in [429, 500] {
        fake.fail_with(Some(status));
        let before = fake.requests().len();
        let err = store.head("files/a").await.unwrap_err();
        assert!(matches!(err, StoreError::Http { .. }), "{err:?}");
        assert_eq!(fake.requests().len() - before, 3, "HTTP {status} is retried twice");
    }
    // A 413 is not retried.
    fake.fail_with(Some(413));
    let before = fake.requests().len();
    let err = store.put("files/big", body(b"x", 1)).await.unwrap_err();
    assert!(matches!(err, StoreError::TooLarge { .. }), "{err:?}");
    assert_eq!(fake.requests().len() - before, 1);
    fake.fail_with(None);

    // Health is a cheap authenticated call, and says when the service is down.
    let health = twinstore::store::round_trip(store.as_ref(), Duration::from_secs(5)).await;
    assert!(health.available, "{health:?}");
    assert!(fake.requests().last().unwrap().ends_with("/v6/getUsageInfo"));
    fake.stop().await;
    let health = twinstore::store::round_trip(store.as_ref(), Duration::from_secs(5)).await;
    assert!(!health.available);
    fake.restart().await;
    assert_eq!(collect(store.get("files/a", None).await.unwrap().body).await.unwrap(), b"abc");
}

#[tokio::test]
async fn usage_comes_from_the_rest_api() {
    let fake = FakeUploadThing::start().await;
    let store = twinstore::store::UploadThingStore::open("ut", &fake.store_config("public-read"));
    let store = store.unwrap();
    store.put("files/u", body(&test_bytes(1234, 1), 100)).await.unwrap();
    let usage = store.usage().await.unwrap();
    assert_eq!((usage.app_total_bytes, usage.files_uploaded), (1234.0, 1.0));
}

// ---------------------------------------------------------------------------------
// The webhook, end to end: the setup guide's flow with a real S3 server as the backup.

use support::uploadthing::{API_KEY, sign_body};
use support::{Garage, Service, guide_query, raw_store, sha256};
use twinstore::config::{Config, Secret, ServiceSettings};
use twinstore::engine::{MigrateOptions, RepairOptions, Role, Worker, WorkerOptions};
use twinstore::{CopyState, ReadOptions};

fn no_progress(_: twinstore::engine::Progress) {}

/// UploadThing (the fake) as the primary, a Garage bucket as the backup, and a second
/// bucket to migrate to.
struct Setup {
    fake: FakeUploadThing,
    garage: Garage,
    config: Config,
    _dir: tempfile::TempDir,
}

impl Setup {
    async fn start() -> Self {
        let fake = FakeUploadThing::start().await;
        let garage = Garage::start(&["backup", "moved"]);
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::embedded(dir.path());
        if let Some(url) = support::test_postgres_database() {
            config.database_url = twinstore::config::DatabaseUrl::new(url);
        }
        config.stores = std::collections::BTreeMap::from([
            ("uploadthing".to_owned(), fake.store_config("public-read")),
            ("s3".to_owned(), garage.store_config("backup")),
            ("s3-moved".to_owned(), garage.store_config("moved")),
        ]);
        config.primary = "uploadthing".to_owned();
        config.backup = "s3".to_owned();
        config.timeouts.first_byte = Duration::from_secs(2);
        Self { fake, garage, config, _dir: dir }
    }

    /// The service, with an API key (which the webhook must not need).
    async fn service(&self) -> Service {
        let settings = ServiceSettings {
            api_keys: vec![Secret::new("app-key")],
            ..ServiceSettings::default()
        };
        Service::start(&self.config, settings).await
    }
}

async fn run_jobs(service: &Service) {
    let worker = Worker::new(service.twinstore.clone(), WorkerOptions::default());
    worker.run_until_idle().await.unwrap();
}

#[tokio::test]
async fn the_setup_guide_flow_records_both_copies_and_survives_uploadthing_going_down() {
    let mut setup = Setup::start().await;
    let service = setup.service().await;
    let hook_url = service.url("/v1/hooks/uploadthing");
    let data = support::images::jpeg_with_metadata(2400, 1600, 1);

    // A user uploads straight to UploadThing; UploadThing calls twinstore.
    let uploaded = setup.fake.client_upload("holiday photo.jpg", &data).await;
    let body = setup.fake.callback_body(&uploaded);
    let started = std::time::Instant::now();
    let reply = FakeUploadThing::send_hook(&hook_url, "callback", &body, Some(API_KEY)).await;
    assert_eq!(reply.status(), 200, "{}", reply.text().await.unwrap());
    assert!(started.elapsed() < Duration::from_secs(2), "the reply does not wait for the work");
    assert!(service.twinstore.list(10, None).await.unwrap().files.is_empty(), "not yet");
    run_jobs(&service).await;

    let rows = guide_query(service.twinstore.catalog()).await;
    assert_eq!(rows.len(), 1);
    let (name, url, backup_url, thumbnail_url) = &rows[0];
    assert_eq!(name, "holiday photo.jpg");
    // The photo got its renditions like any upload, in the backup store.
    let thumbnail_url = thumbnail_url.as_ref().expect("a thumbnail");
    assert!(thumbnail_url.starts_with(&setup.garage.endpoint()), "{thumbnail_url}");
    assert!(thumbnail_url.ends_with("/thumb-300.webp"), "{thumbnail_url}");
    assert_eq!(url, &setup.fake.file_url(&uploaded.key), "the primary URL is the ufsUrl");
    let backup_url = backup_url.as_ref().unwrap();
    assert!(backup_url.starts_with(&setup.garage.endpoint()), "{backup_url}");

    let file = service.twinstore.list(10, None).await.unwrap().files.remove(0);
    assert_eq!((file.size, file.sha256.as_str()), (data.len() as u64, sha256(&data).as_str()));
    let ut_copy = file.copy_in("uploadthing").unwrap();
    assert_eq!((ut_copy.key.as_str(), ut_copy.state), (uploaded.key.as_str(), CopyState::Stored));
    let s3_copy = file.copy_in("s3").unwrap();
    assert_eq!(s3_copy.state, CopyState::Stored);
    let backup = raw_store(&setup.config, "s3");
    let stored = collect(backup.get(&s3_copy.key, None).await.unwrap().body).await.unwrap();
    assert!(stored == data, "the backup copy is byte-identical");
    assert!(service.twinstore.verify(true, &no_progress).await.unwrap().is_clean());

    // Redelivered (or replayed) as it is: still one file, nothing downloaded again.
    let gets_before = setup.fake.requests().iter().filter(|r| r.starts_with("GET")).count();
    for _ in 0..2 {
        let reply = FakeUploadThing::send_hook(&hook_url, "callback", &body, Some(API_KEY)).await;
        assert_eq!(reply.status(), 200);
    }
    run_jobs(&service).await;
    assert_eq!(service.twinstore.list(10, None).await.unwrap().files.len(), 1);
    let gets_after = setup.fake.requests().iter().filter(|r| r.starts_with("GET")).count();
    assert_eq!(gets_before, gets_after);

    // UploadThing down: reads are served from S3, byte for byte.
    setup.fake.stop().await;
    let reader = service.twinstore.read(&file.id, ReadOptions::default()).await.unwrap();
    assert_eq!(reader.store, "s3");
    assert!(collect(reader.body).await.unwrap() == data);
    let content = reqwest::Client::new()
        .get(service.url(&format!("/v1/files/{}/content", file.id)))
        .bearer_auth("app-key")
        .send()
        .await
        .unwrap();
    assert_eq!(content.status(), 200);
    assert!(content.bytes().await.unwrap() == data);
}

#[tokio::test]
async fn unsigned_forged_and_misdirected_hooks_are_refused() {
    let setup = Setup::start().await;
    let service = setup.service().await;
    let hook_url = service.url("/v1/hooks/uploadthing");
    let uploaded = setup.fake.client_upload("a.bin", b"some bytes").await;
    let body = setup.fake.callback_body(&uploaded);

    let unsigned = FakeUploadThing::send_hook(&hook_url, "callback", &body, None).await;
    assert_eq!(unsigned.status(), 400);
    let forged = FakeUploadThing::send_hook(&hook_url, "callback", &body, Some("sk_guess")).await;
    assert_eq!(forged.status(), 400);
    let error: serde_json::Value = forged.json().await.unwrap();
    assert_eq!(error["code"], "invalid_signature");

    // Signed, then altered on the way.
    let tampered = reqwest::Client::new()
        .post(&hook_url)
        .header("uploadthing-hook", "callback")
        .header("x-uploadthing-signature", sign_body(API_KEY, body.as_bytes()))
        .body(body.replace("a.bin", "b.bin"))
        .send()
        .await
        .unwrap();
    assert_eq!(tampered.status(), 400);

    // Correctly signed, but pointing at another host, or with a key that is a path.
    let elsewhere = body.replace(&setup.fake.base(), "http://evil.example");
    let reply = FakeUploadThing::send_hook(&hook_url, "callback", &elsewhere, Some(API_KEY)).await;
    assert_eq!(reply.status(), 400);
    let bad_key = body.replace(&uploaded.key, "..%2F..%2Fetc");
    let reply = FakeUploadThing::send_hook(&hook_url, "callback", &bad_key, Some(API_KEY)).await;
    assert_eq!(reply.status(), 400);

    run_jobs(&service).await;
    assert!(service.twinstore.list(10, None).await.unwrap().files.is_empty());
    assert!(!setup.fake.requests().iter().any(|r| r.starts_with("GET")), "nothing downloaded");
}

#[tokio::test]
async fn error_hooks_are_recorded_and_a_wrong_hash_records_nothing() {
    let setup = Setup::start().await;
    let service = setup.service().await;
    let hook_url = service.url("/v1/hooks/uploadthing");

    let body = r#"{"fileKey":"abc123","error":"upload timed out"}"#;
    let reply = FakeUploadThing::send_hook(&hook_url, "error", body, Some(API_KEY)).await;
    assert_eq!(reply.status(), 200);
    let errors = service.twinstore.catalog().uploadthing_errors("uploadthing").await.unwrap();
    assert_eq!(errors, [("abc123".to_owned(), "upload timed out".to_owned())]);

    let uploaded = setup.fake.client_upload("x.bin", b"the real bytes").await;
    let body = setup.fake.callback_body(&uploaded).replace(&uploaded.md5, &"0".repeat(32));
    let reply = FakeUploadThing::send_hook(&hook_url, "callback", &body, Some(API_KEY)).await;
    assert_eq!(reply.status(), 200);
    run_jobs(&service).await;
    assert!(service.twinstore.list(10, None).await.unwrap().files.is_empty());
    let backup = raw_store(&setup.config, "s3");
    assert!(support::keys_in(backup.as_ref()).await.is_empty(), "no backup object left");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn puts_verify_repair_and_migrate_off_uploadthing_work_as_with_any_store() {
    let mut setup = Setup::start().await;
    let service = setup.service().await;
    let twinstore = service.twinstore.clone();

    // One file through the webhook, one through twinstore's own put.
    let hooked = test_bytes(50_000, 21);
    let uploaded = setup.fake.client_upload("hooked.bin", &hooked).await;
    let body = setup.fake.callback_body(&uploaded);
    let hook_url = service.url("/v1/hooks/uploadthing");
    FakeUploadThing::send_hook(&hook_url, "callback", &body, Some(API_KEY)).await;
    run_jobs(&service).await;
    let put = test_bytes(70_000, 22);
    let file = twinstore.put("put.bin", body_of(&put)).await.unwrap();
    assert!(file.copies.iter().all(|c| c.state == CopyState::Stored), "{file:?}");
    assert_eq!(file.url, setup.fake.file_url(&format!("files~s{}", file.id)));
    assert!(twinstore.verify(false, &no_progress).await.unwrap().is_clean());

    // Behind twinstore's back: the hooked file vanishes from UploadThing, the put one
    // from S3. Verify sees both; repair restores both.
    let hooked_id = twinstore.catalog().file_with_copy("uploadthing", &uploaded.key).await;
    let hooked_id = hooked_id.unwrap().unwrap();
    raw_store(&setup.config, "uploadthing").delete(&uploaded.key).await.unwrap();
    raw_store(&setup.config, "s3").delete(&file.copy_in("s3").unwrap().key).await.unwrap();
    let report = twinstore.verify(false, &no_progress).await.unwrap();
    let mut missing: Vec<_> = report.missing.iter().map(|p| p.store.as_str()).collect();
    missing.sort();
    assert_eq!(missing, ["s3", "uploadthing"], "{report:?}");
    let repaired = twinstore.repair(RepairOptions::default(), &no_progress).await.unwrap();
    assert!(repaired.is_complete() && repaired.restored.len() == 2, "{repaired:?}");
    assert!(twinstore.verify(true, &no_progress).await.unwrap().is_clean());

    // Off UploadThing: everything moves to S3, which becomes the primary.
    let options = MigrateOptions { to: "s3-moved".into(), role: Role::Primary, concurrency: 2 };
    let report = twinstore.migrate(&options, &no_progress).await.unwrap();
    assert!(report.failed.is_empty(), "{report:?}");
    assert_eq!(twinstore.roles().primary, "s3-moved");
    setup.fake.stop().await;
    for (id, data) in [(&hooked_id, &hooked), (&file.id, &put)] {
        let record = twinstore.file(id).await.unwrap();
        assert!(record.url.starts_with(&setup.garage.endpoint()), "{}", record.url);
        let reader = twinstore.read(id, ReadOptions::default()).await.unwrap();
        assert_eq!(reader.store, "s3-moved");
        assert!(&collect(reader.body).await.unwrap() == data);
    }
}

fn body_of(data: &[u8]) -> twinstore::store::ByteStream {
    body(data, 8192)
}
