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
