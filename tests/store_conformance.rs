//! One conformance suite for the `Store` trait, run against every backend: memory, a
//! local folder, and a real S3 server (Garage) on loopback.

mod support;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use twinstore::config::StoreConfig;
use twinstore::store::{Store, StoreKind, open_store};

use support::{Garage, body, collect, test_bytes};

/// Every promise of the trait, checked on one store.
async fn conformance(store: Arc<dyn Store>) {
    small_object_round_trips(store.as_ref()).await;
    empty_object_round_trips(store.as_ref()).await;
    large_object_streams_through_multipart(store.as_ref()).await;
    ranges_return_exactly_the_bytes_asked(store.as_ref()).await;
    head_reports_size_and_a_changing_etag(store.as_ref()).await;
    list_finds_objects_by_prefix(store.as_ref()).await;
    delete_removes_and_tolerates_absent_objects(store.as_ref()).await;
    absent_objects_are_not_found(store.as_ref()).await;
    a_failing_body_leaves_no_object(store.as_ref()).await;
}

async fn small_object_round_trips(store: &dyn Store) {
    let data = test_bytes(1000, 1);
    let info = store.put("t/small", body(&data, 100)).await.unwrap();
    assert_eq!(info.size, 1000);

    let object = store.get("t/small", None).await.unwrap();
    assert_eq!(object.info.size, 1000);
    assert_eq!(collect(object.body).await.unwrap(), data);
}

async fn empty_object_round_trips(store: &dyn Store) {
    let info = store.put("t/empty", body(&[], 1)).await.unwrap();
    assert_eq!(info.size, 0);
    let object = store.get("t/empty", None).await.unwrap();
    assert!(collect(object.body).await.unwrap().is_empty());
}

async fn large_object_streams_through_multipart(store: &dyn Store) {
    // Past the single-request threshold (8 MiB), in chunks of uneven size.
    let data = test_bytes(21 * 1024 * 1024 + 12345, 2);
    let info = store.put("t/large", body(&data, 300_007)).await.unwrap();
    assert_eq!(info.size, data.len() as u64);

    let object = store.get("t/large", None).await.unwrap();
    let read = collect(object.body).await.unwrap();
    assert_eq!(read.len(), data.len());
    assert!(read == data, "large object differs after the round trip");
}

async fn ranges_return_exactly_the_bytes_asked(store: &dyn Store) {
    let data = test_bytes(100_000, 3);
    store.put("t/range", body(&data, 4096)).await.unwrap();

    let object = store.get("t/range", Some(1000..5000)).await.unwrap();
    assert_eq!(object.range, 1000..5000);
    assert_eq!(object.info.size, 100_000, "info describes the whole object");
    assert_eq!(collect(object.body).await.unwrap(), &data[1000..5000]);

    let tail = store.get("t/range", Some(99_990..100_000)).await.unwrap();
    assert_eq!(collect(tail.body).await.unwrap(), &data[99_990..]);
}

async fn head_reports_size_and_a_changing_etag(store: &dyn Store) {
    let first = store.put("t/etag", body(b"first version", 4)).await.unwrap();
    let head = store.head("t/etag").await.unwrap();
    assert_eq!(head.size, 13);
    assert_eq!(head.etag, first.etag);

    // Local files get their entity tag partly from the modification time.
    tokio::time::sleep(Duration::from_millis(20)).await;
    let second = store.put("t/etag", body(b"other version", 4)).await.unwrap();
    let head = store.head("t/etag").await.unwrap();
    assert_eq!(head.etag, second.etag);
    assert_ne!(first.etag, second.etag, "rewriting an object changes its entity tag");
}

async fn list_finds_objects_by_prefix(store: &dyn Store) {
    for name in ["a", "b", "c"] {
        store.put(&format!("list/x/{name}"), body(name.as_bytes(), 1)).await.unwrap();
    }
    store.put("list/y/d", body(b"d", 1)).await.unwrap();

    let mut keys: Vec<String> = store.list("list/x/").map(|info| info.unwrap().key).collect().await;
    keys.sort();
    assert_eq!(keys, ["list/x/a", "list/x/b", "list/x/c"]);
}

async fn delete_removes_and_tolerates_absent_objects(store: &dyn Store) {
    store.put("t/delete", body(b"bye", 1)).await.unwrap();
    store.delete("t/delete").await.unwrap();
    assert!(store.head("t/delete").await.unwrap_err().is_not_found());
    store.delete("t/delete").await.expect("deleting an absent object succeeds");
}

async fn absent_objects_are_not_found(store: &dyn Store) {
    assert!(store.get("t/nothing-here", None).await.unwrap_err().is_not_found());
    assert!(store.head("t/nothing-here").await.unwrap_err().is_not_found());
}

async fn a_failing_body_leaves_no_object(store: &dyn Store) {
    for size in [1000, 12 * 1024 * 1024] {
        let data = test_bytes(size, 4);
        let chunks = data
            .chunks(65536)
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .chain(std::iter::once(Err(std::io::Error::other("client went away"))));
        let failing = futures::stream::iter(chunks.collect::<Vec<_>>()).boxed();

        let err = store.put("t/broken", failing).await.unwrap_err();
        assert!(err.to_string().contains("could not be read"), "{err}");
        assert!(
            store.head("t/broken").await.unwrap_err().is_not_found(),
            "a {size}-byte put that failed left an object"
        );
    }
}

#[tokio::test]
async fn memory_store_conforms() {
    let store = open_store("mem", &StoreConfig::empty(StoreKind::Memory)).unwrap();
    conformance(store).await;
}

#[tokio::test]
async fn local_folder_store_conforms() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store("disk", &StoreConfig::local(dir.path().join("objects"))).unwrap();
    conformance(store.clone()).await;

    let url = store.access_url("t/small", Duration::from_secs(60)).await.unwrap();
    let path = url.strip_prefix("file://").expect("local URLs are file URLs");
    assert_eq!(std::fs::read(path).unwrap(), test_bytes(1000, 1));
}

#[tokio::test]
async fn local_folder_store_with_prefix_conforms() {
    let dir = tempfile::tempdir().unwrap();
    let config = StoreConfig {
        prefix: Some("app/uploads/".to_owned()),
        ..StoreConfig::local(dir.path().join("objects"))
    };
    let store = open_store("disk", &config).unwrap();
    conformance(store).await;
    assert!(dir.path().join("objects/app/uploads/t/small").is_file());
}

#[tokio::test]
async fn s3_store_on_garage_conforms() {
    let garage = Garage::start(&["conformance"]);
    let store = open_store("garage", &garage.store_config("conformance")).unwrap();
    conformance(store.clone()).await;

    // Objects are private: the URL handed out is signed, and opens without credentials.
    let url = store.access_url("t/small", Duration::from_secs(60)).await.unwrap();
    assert!(url.contains("X-Amz-Signature="), "{url}");
    let fetched = reqwest::get(&url).await.unwrap();
    assert_eq!(fetched.status(), 200);
    assert_eq!(fetched.bytes().await.unwrap().as_ref(), test_bytes(1000, 1));

    // The canonical URL names the object but opens only with credentials.
    let canonical = store.canonical_url("t/small");
    assert_eq!(canonical, format!("{}/conformance/t/small", garage.endpoint()));
    assert_eq!(reqwest::get(&canonical).await.unwrap().status(), 403);
}

#[tokio::test]
async fn s3_store_with_prefix_on_garage_conforms() {
    let garage = Garage::start(&["prefixed"]);
    let config =
        StoreConfig { prefix: Some("tenant-1".to_owned()), ..garage.store_config("prefixed") };
    let store = open_store("garage", &config).unwrap();
    conformance(store.clone()).await;

    let url = store.access_url("t/small", Duration::from_secs(60)).await.unwrap();
    assert!(url.contains("/prefixed/tenant-1/t/small"), "{url}");
    assert_eq!(reqwest::get(&url).await.unwrap().status(), 200);
}

#[tokio::test]
async fn s3_store_with_a_wrong_secret_is_refused() {
    let garage = Garage::start(&["locked"]);
    let config = StoreConfig {
        secret_access_key: Some(twinstore::config::Secret::new("wrong".repeat(8))),
        ..garage.store_config("locked")
    };
    let store = open_store("garage", &config).unwrap();
    let err = store.put("t/x", body(b"x", 1)).await.unwrap_err();
    assert!(!err.is_not_found(), "{err}");
}
