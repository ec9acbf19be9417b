//! The HTTP service over a real socket, with a real HTTP client, on real Garage servers.

mod support;

use std::time::Duration;

use reqwest::StatusCode;
use reqwest::multipart::{Form, Part};
use serde_json::Value;
use twinstore::config::{Secret, ServiceSettings};
use twinstore::service::Guard;

use support::{Service, TwoGarages, keys_in, raw_store, test_bytes};

fn client() -> reqwest::Client {
    reqwest::Client::new()
}

async fn upload(service: &Service, name: &str, data: Vec<u8>) -> reqwest::Response {
    let form = Form::new().part("file", Part::bytes(data).file_name(name.to_owned()));
    client().post(service.url("/v1/files")).multipart(form).send().await.unwrap()
}

async fn upload_ok(service: &Service, name: &str, data: Vec<u8>) -> Value {
    let response = upload(service, name, data).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let body: Value = response.json().await.unwrap();
    body["files"][0].clone()
}

async fn download(service: &Service, id: &str) -> reqwest::Response {
    client().get(service.url(&format!("/v1/files/{id}/content"))).send().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_come_back_identical_from_empty_to_100_mib() {
    let setup = TwoGarages::start();
    let service = Service::start(&setup.config, ServiceSettings::default()).await;

    for (size, seed) in [(0, 1), (1, 2), (5 * 1024 * 1024, 3), (100 * 1024 * 1024, 4)] {
        let data = test_bytes(size, seed);
        let record = upload_ok(&service, "blob.bin", data.clone()).await;
        assert_eq!(record["size"], size as u64);
        let id = record["id"].as_str().unwrap();

        let response = download(&service, id).await;
        assert_eq!(response.status(), StatusCode::OK);
        let headers = response.headers().clone();
        assert_eq!(headers["content-length"], size.to_string().as_str());
        assert_eq!(headers["etag"], format!("\"{}\"", record["sha256"].as_str().unwrap()).as_str());
        assert_eq!(headers["x-twinstore-store"], "garage-a");
        let body = response.bytes().await.unwrap();
        assert!(body.as_ref() == data.as_slice(), "{size} bytes came back different");

        let head = client().head(service.url(&format!("/v1/files/{id}/content"))).send().await;
        let head = head.unwrap();
        assert_eq!(head.status(), StatusCode::OK);
        assert_eq!(head.headers()["content-length"], size.to_string().as_str());
    }
}

#[tokio::test]
async fn ranges_partial_content_and_not_satisfiable() {
    let setup = TwoGarages::start();
    let service = Service::start(&setup.config, ServiceSettings::default()).await;
    let data = test_bytes(10_000, 5);
    let id = upload_ok(&service, "r.bin", data.clone()).await["id"].as_str().unwrap().to_owned();
    let content = service.url(&format!("/v1/files/{id}/content"));

    for (range, expected, content_range) in [
        ("bytes=0-99", &data[..100], "bytes 0-99/10000"),
        ("bytes=9990-", &data[9990..], "bytes 9990-9999/10000"),
        ("bytes=-5", &data[9995..], "bytes 9995-9999/10000"),
    ] {
        let response = client().get(&content).header("range", range).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::PARTIAL_CONTENT, "{range}");
        assert_eq!(response.headers()["content-range"], content_range);
        assert_eq!(response.bytes().await.unwrap().as_ref(), expected, "{range}");
    }

    let response = client().get(&content).header("range", "bytes=10000-").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(response.headers()["content-range"], "bytes */10000");
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["code"], "range_not_satisfiable");

    let etag = format!("\"{}\"", twinstore_sha(&data));
    let response = client().get(&content).header("if-none-match", etag).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NOT_MODIFIED);
}

fn twinstore_sha(data: &[u8]) -> String {
    support::sha256(data)
}

#[tokio::test]
async fn reads_fail_over_to_the_backup_when_the_primary_is_down() {
    let mut setup = TwoGarages::start();
    let service = Service::start(&setup.config, ServiceSettings::default()).await;
    let data = test_bytes(700_000, 6);
    let id = upload_ok(&service, "f.bin", data.clone()).await["id"].as_str().unwrap().to_owned();
    setup.primary.stop();

    let response = download(&service, &id).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["x-twinstore-store"], "garage-b");
    assert!(response.bytes().await.unwrap().as_ref() == data.as_slice());

    let url: Value = client()
        .get(service.url(&format!("/v1/files/{id}/url")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(url["url"].as_str().unwrap().starts_with(&setup.backup.endpoint()), "{url}");

    let health = client().get(service.url("/v1/health")).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::SERVICE_UNAVAILABLE);
    let report: Value = health.json().await.unwrap();
    assert_eq!(report["primary"]["available"], false);

    let refused = upload(&service, "new.bin", b"new".to_vec()).await;
    assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
    let error: Value = refused.json().await.unwrap();
    assert_eq!(error["code"], "primary_unavailable");
}

#[tokio::test]
async fn keys_guard_writes_and_reads_and_signed_urls_open_one_file() {
    let setup = TwoGarages::start();
    let settings = ServiceSettings {
        api_keys: vec![Secret::new("right-key")],
        url_secret: Some(Secret::new("url-secret")),
        ..ServiceSettings::default()
    };
    let service = Service::start(&setup.config, settings).await;
    let form = || Form::new().part("file", Part::bytes(b"private".to_vec()).file_name("p.txt"));

    let anonymous = client().post(service.url("/v1/files")).multipart(form()).send().await;
    assert_eq!(anonymous.unwrap().status(), StatusCode::UNAUTHORIZED);
    let wrong = client().post(service.url("/v1/files")).bearer_auth("wrong-key").multipart(form());
    assert_eq!(wrong.send().await.unwrap().status(), StatusCode::UNAUTHORIZED);

    let created =
        client().post(service.url("/v1/files")).bearer_auth("right-key").multipart(form());
    let created = created.send().await.unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let body: Value = created.json().await.unwrap();
    let id = body["files"][0]["id"].as_str().unwrap().to_owned();

    let content = service.url(&format!("/v1/files/{id}/content"));
    assert_eq!(client().get(&content).send().await.unwrap().status(), StatusCode::UNAUTHORIZED);
    let listed = client().get(service.url("/v1/files")).send().await.unwrap();
    assert_eq!(listed.status(), StatusCode::UNAUTHORIZED);

    let url = client().get(service.url(&format!("/v1/files/{id}/url"))).bearer_auth("right-key");
    let url: Value = url.send().await.unwrap().json().await.unwrap();
    let signed = url["signedUrl"].as_str().unwrap();
    let response = client().get(signed).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.bytes().await.unwrap().as_ref(), b"private");

    let tampered = signed.replace("signature=", "signature=0");
    assert_eq!(client().get(&tampered).send().await.unwrap().status(), StatusCode::UNAUTHORIZED);
    let guard = Guard::new(Vec::new(), false, Secret::new("url-secret"));
    let past = chrono::Utc::now().timestamp() - 10;
    let expired = format!("{content}?expires={past}&signature={}", guard.sign(&id, past));
    assert_eq!(client().get(&expired).send().await.unwrap().status(), StatusCode::UNAUTHORIZED);
    let other_file =
        format!("{}?{}", service.url("/v1/files/other/content"), signed.split('?').nth(1).unwrap());
    assert_eq!(client().get(&other_file).send().await.unwrap().status(), StatusCode::UNAUTHORIZED);

    // Health, metrics and the API description stay open.
    assert_eq!(client().get(service.url("/v1/health")).send().await.unwrap().status(), 200);
    assert_eq!(client().get(service.url("/metrics")).send().await.unwrap().status(), 200);
}

#[tokio::test]
async fn oversized_and_broken_uploads_are_refused_and_leave_nothing() {
    let setup = TwoGarages::start();
    let settings = ServiceSettings { max_upload_bytes: 1024 * 1024, ..ServiceSettings::default() };
    let service = Service::start(&setup.config, settings).await;

    // Declared too large: refused before the body is read.
    let response = upload(&service, "big.bin", test_bytes(2 * 1024 * 1024, 7)).await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["code"], "upload_too_large");

    // Sent without a length: refused once the body passes the limit.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        (0..40).map(|n| Ok(test_bytes(64 * 1024, n))).collect();
    let stream = reqwest::Body::wrap_stream(futures::stream::iter(chunks));
    let part = Part::stream(stream).file_name("chunked.bin");
    let response = client()
        .post(service.url("/v1/files"))
        .multipart(Form::new().part("file", part))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);

    // A body cut short before its closing boundary.
    let broken =
        "--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\n\r\nhel";
    let response = client()
        .post(service.url("/v1/files"))
        .header("content-type", "multipart/form-data; boundary=XyZ")
        .body(broken)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["code"], "invalid_multipart");

    // A second part that breaks undoes the first.
    let two = "--XyZ\r\nContent-Disposition: form-data; name=\"file\"; \
               filename=\"ok.txt\"\r\n\r\nfine\r\n\
               --XyZ\r\nContent-Disposition: form-data; name=\"file\"; \
               filename=\"b.txt\"\r\n\r\ncut";
    let response = client()
        .post(service.url("/v1/files"))
        .header("content-type", "multipart/form-data; boundary=XyZ")
        .body(two)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);

    let none = client().post(service.url("/v1/files")).multipart(Form::new().text("other", "x"));
    assert_eq!(none.send().await.unwrap().status(), StatusCode::BAD_REQUEST);

    assert!(service.twinstore.list(10, None).await.unwrap().files.is_empty(), "no row");
    for store in ["garage-a", "garage-b"] {
        let store = raw_store(&setup.config, store);
        assert!(keys_in(store.as_ref()).await.is_empty(), "no object in {}", store.name());
    }
}

#[tokio::test]
async fn path_like_names_are_labels_only() {
    let setup = TwoGarages::start();
    let service = Service::start(&setup.config, ServiceSettings::default()).await;
    for (raw, shown) in [("../../etc/passwd", "passwd"), ("C:\\temp\\x.txt", "x.txt")] {
        let record = upload_ok(&service, raw, b"x".to_vec()).await;
        assert_eq!(record["name"], shown);
        let key = record["copies"][0]["key"].as_str().unwrap();
        assert_eq!(key, format!("files/{}", record["id"].as_str().unwrap()));
        let id = record["id"].as_str().unwrap();
        let response = download(&service, id).await;
        let disposition = response.headers()["content-disposition"].to_str().unwrap().to_owned();
        assert!(
            disposition.starts_with(&format!("attachment; filename=\"{shown}\"")),
            "{disposition}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_uploads_all_land_intact() {
    let setup = TwoGarages::start();
    let service = Service::start(&setup.config, ServiceSettings::default()).await;
    let service = std::sync::Arc::new(service);

    let uploads = (0..50).map(|n| {
        let service = service.clone();
        tokio::spawn(async move {
            let data = test_bytes(64 * 1024 + n * 4099, 1000 + n as u64);
            let record = upload_ok(&service, &format!("c{n}.bin"), data.clone()).await;
            (record["id"].as_str().unwrap().to_owned(), data)
        })
    });
    let results = futures::future::join_all(uploads).await;
    for result in results {
        let (id, data) = result.unwrap();
        let body = download(&service, &id).await.bytes().await.unwrap();
        assert!(body.as_ref() == data.as_slice(), "{id} differs");
    }
    let page: Value =
        client().get(service.url("/v1/files?limit=20")).send().await.unwrap().json().await.unwrap();
    assert_eq!(page["files"].as_array().unwrap().len(), 20);
    let cursor = page["nextCursor"].as_str().unwrap();
    let mut seen = 20;
    let mut cursor = cursor.to_owned();
    loop {
        let next: Value = client()
            .get(service.url(&format!("/v1/files?limit=20&cursor={cursor}")))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        seen += next["files"].as_array().unwrap().len();
        match next["nextCursor"].as_str() {
            Some(more) => cursor = more.to_owned(),
            None => break,
        }
    }
    assert_eq!(seen, 50);
}

#[tokio::test]
async fn metadata_delete_metrics_and_the_openapi_document() {
    let setup = TwoGarages::start();
    let service = Service::start(&setup.config, ServiceSettings::default()).await;
    let record = upload_ok(&service, "m.txt", b"metrics".to_vec()).await;
    let id = record["id"].as_str().unwrap();

    let metadata: Value = client()
        .get(service.url(&format!("/v1/files/{id}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(metadata["copies"][1]["state"], "stored");
    assert_eq!(metadata["contentType"], "text/plain; charset=utf-8");

    let metrics = client().get(service.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(
        metrics.contains(
            r#"twinstore_http_requests_total{route="/v1/files",method="POST",status="201"} 1"#
        ),
        "{metrics}"
    );
    assert!(metrics.contains(r#"twinstore_copies{state="stored"} 2"#), "{metrics}");
    assert!(
        metrics.contains(r#"twinstore_store_operations_total{store="garage-b",operation="put"}"#)
    );

    let document: Value =
        client().get(service.url("/v1/openapi.json")).send().await.unwrap().json().await.unwrap();
    assert!(document["openapi"].as_str().unwrap().starts_with("3."));
    let paths = document["paths"].as_object().unwrap();
    let mut documented: Vec<String> = Vec::new();
    for (path, operations) in paths {
        for method in operations.as_object().unwrap().keys() {
            documented.push(format!("{} {path}", method.to_uppercase()));
        }
    }
    documented.sort();
    assert_eq!(
        documented,
        [
            "DELETE /v1/files/{id}",
            "GET /v1/files",
            "GET /v1/files/{id}",
            "GET /v1/files/{id}/content",
            "GET /v1/files/{id}/renditions",
            "GET /v1/files/{id}/renditions/{name}",
            "GET /v1/files/{id}/url",
            "GET /v1/health",
            "HEAD /v1/files/{id}/content",
            "POST /v1/files",
            "POST /v1/hooks/uploadthing",
        ]
    );
    // Every documented route answers on the live server (no 404 or 405 from routing).
    for route in &documented {
        let (method, path) = route.split_once(' ').unwrap();
        let path = path.replace("{id}", "no-such-file").replace("{name}", "thumb-300");
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let response = client().request(method, service.url(&path)).send().await.unwrap();
        let status = response.status();
        if status == StatusCode::NOT_FOUND && !route.starts_with("HEAD") {
            let error: Value = response.json().await.unwrap();
            assert_eq!(error["code"], "file_not_found", "{route} is not routed");
        }
        assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{route}");
    }

    let deleted = client().delete(service.url(&format!("/v1/files/{id}"))).send().await.unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    assert_eq!(download(&service, id).await.status(), StatusCode::NOT_FOUND);
    tokio::time::sleep(Duration::from_millis(10)).await;
    service.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn image_renditions_are_served_from_the_backup_store() {
    use support::images;

    let mut setup = TwoGarages::start();
    let service = Service::start(&setup.config, ServiceSettings::default()).await;
    let record = upload_ok(&service, "photo.jpg", images::jpeg_with_metadata(900, 600, 1)).await;
    let id = record["id"].as_str().unwrap();
    assert_eq!(record["renderStatus"], "pending");
    let options = twinstore::engine::WorkerOptions::default();
    let worker = twinstore::engine::Worker::new(service.twinstore.clone(), options);
    worker.run_until_idle().await.unwrap();

    let listing: Value = client()
        .get(service.url(&format!("/v1/files/{id}/renditions")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listing["renderStatus"], "done", "{listing}");
    assert_eq!(listing["renditions"].as_array().unwrap().len(), 4);

    let thumbnail = client()
        .get(service.url(&format!("/v1/files/{id}/renditions/thumb-300")))
        .send()
        .await
        .unwrap();
    assert_eq!(thumbnail.status(), StatusCode::OK);
    assert_eq!(thumbnail.headers()["content-type"], "image/webp");
    assert_eq!(thumbnail.headers()["x-twinstore-store"], "garage-b");
    let etag = thumbnail.headers()["etag"].clone();
    let picture = images::decode_webp(&thumbnail.bytes().await.unwrap());
    assert_eq!((picture.width(), picture.height()), (300, 200));

    let again = client()
        .get(service.url(&format!("/v1/files/{id}/renditions/thumb-300")))
        .header("if-none-match", etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);

    let unknown =
        client().get(service.url(&format!("/v1/files/{id}/renditions/huge"))).send().await.unwrap();
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    let error: Value = unknown.json().await.unwrap();
    assert_eq!(error["code"], "rendition_not_found");

    // Renditions live in the backup store only (by default): with it down there is
    // no copy to fail over to, and the service says so.
    setup.backup.stop();
    let down = client()
        .get(service.url(&format!("/v1/files/{id}/renditions/thumb-150")))
        .send()
        .await
        .unwrap();
    assert_eq!(down.status(), StatusCode::SERVICE_UNAVAILABLE);
    service.stop().await;
}
