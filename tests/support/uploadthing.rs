//! A local fake of UploadThing, written from the reference notes
//! (`reference/uploadthing-api.md`), on a free loopback port.
//!
//! One server plays the three hosts: the ingest server (`PUT /{key}?…signed…`), the REST
//! API (`POST /v6/listFiles`, `/v6/deleteFiles`, `/v6/getUsageInfo`) and the file host
//! in its path form (`GET`/`HEAD /a/{appId}/{key or customId}`, with `Range`, and a
//! signature check for private files). It checks what the notes say the real service
//! checks: the ingest URL's HMAC-SHA256 over the URL up to `&signature=`, its expiry
//! (Unix milliseconds), the app id, the announced size; the API key on REST calls.
//! Files are kept on disk. It can be stopped (connections refused), made to answer
//! every request with a status (429, 500), and it sends webhooks signed as UploadThing
//! signs them (HMAC-SHA256 of the raw body, `hmac-sha256=<hex>`).
//!
//! Its signing code is its own (the `hmac` crate directly), not twinstore's.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::extract::{Multipart, Path, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, post, put};
use hmac::{Hmac, KeyInit, Mac};
use md5::Digest;
use serde_json::{Value, json};
use sha2::Sha256;
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

pub const API_KEY: &str = "sk_test_fake_uploadthing_secret";
pub const APP_ID: &str = "fakeapp1";

/// One file the fake holds.
#[derive(Debug, Clone)]
pub struct FakeFile {
    pub key: String,
    pub custom_id: Option<String>,
    pub name: String,
    pub size: u64,
    pub md5: String,
    pub acl: String,
    pub content_type: String,
}

#[derive(Default)]
struct Inner {
    files: BTreeMap<String, FakeFile>,
    /// When set, every request gets this status.
    fail_with: Option<u16>,
    /// Requests seen, as `METHOD path`.
    requests: Vec<String>,
}

#[derive(Clone)]
struct Shared {
    inner: Arc<Mutex<Inner>>,
    dir: Arc<tempfile::TempDir>,
}

/// A running fake. Dropping it stops the server.
pub struct FakeUploadThing {
    shared: Shared,
    pub addr: SocketAddr,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl FakeUploadThing {
    pub async fn start() -> Self {
        let shared = Shared {
            inner: Arc::new(Mutex::new(Inner::default())),
            dir: Arc::new(tempfile::tempdir().unwrap()),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut fake = Self { shared, addr, task: None };
        fake.serve(listener);
        fake
    }

    fn serve(&mut self, listener: tokio::net::TcpListener) {
        let app = Router::new()
            .route("/{key}", put(ingest))
            .route("/v6/listFiles", post(list_files))
            .route("/v6/deleteFiles", post(delete_files))
            .route("/v6/getUsageInfo", post(usage_info))
            .route("/a/{app}/{id}", any(serve_file))
            .layer(axum::middleware::from_fn_with_state(self.shared.clone(), gate))
            .layer(axum::extract::DefaultBodyLimit::disable())
            .with_state(self.shared.clone());
        self.task = Some(tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        }));
    }

    /// The base URL of every host the fake plays.
    pub fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The token of the fake's app.
    pub fn token() -> String {
        twinstore::store::uploadthing::Token::encode(API_KEY, APP_ID, &["sea1"])
    }

    /// A store section for the fake, with `acl`.
    pub fn store_config(&self, acl: &str) -> twinstore::config::StoreConfig {
        twinstore::config::StoreConfig {
            token: Some(twinstore::config::Secret::new(Self::token())),
            api_url: Some(self.base()),
            ingest_url: Some(self.base()),
            ufs_host: Some(self.base()),
            ufs_app_id_location: Some("path".to_owned()),
            acl: Some(acl.to_owned()),
            ..twinstore::config::StoreConfig::empty(twinstore::store::StoreKind::UploadThing)
        }
    }

    /// The file URL of `id` (a key or a custom id).
    pub fn file_url(&self, id: &str) -> String {
        format!("{}/a/{APP_ID}/{id}", self.base())
    }

    /// Stops the server: connections are refused until [`FakeUploadThing::restart`].
    pub async fn stop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
    }

    /// Starts the server again on its port, with its files.
    pub async fn restart(&mut self) {
        let listener = tokio::net::TcpListener::bind(self.addr).await.unwrap();
        self.serve(listener);
    }

    /// Makes every request answer `status` (`None`: back to normal).
    pub fn fail_with(&self, status: Option<u16>) {
        self.shared.inner.lock().unwrap().fail_with = status;
    }

    pub fn files(&self) -> Vec<FakeFile> {
        self.shared.inner.lock().unwrap().files.values().cloned().collect()
    }

    pub fn requests(&self) -> Vec<String> {
        self.shared.inner.lock().unwrap().requests.clone()
    }

    /// Uploads `data` as a browser client of the app would (through the signed ingest
    /// URL, made with twinstore's public builder), and returns the file.
    pub async fn client_upload(&self, name: &str, data: &[u8]) -> FakeFile {
        use twinstore::store::uploadthing::{key, sign};
        let file_key = key::generate(APP_ID, uuid::Uuid::new_v4().as_u128());
        let request = sign::IngestRequest {
            ingest_url: &self.base(),
            file_key: &file_key,
            app_id: APP_ID,
            name,
            size: data.len() as u64,
            content_type: "application/octet-stream",
            custom_id: None,
            acl: None,
            expires_ms: chrono::Utc::now().timestamp_millis() + 60_000,
        };
        let url = sign::ingest_url(&request, API_KEY);
        let part = reqwest::multipart::Part::bytes(data.to_vec()).file_name(name.to_owned());
        let form = reqwest::multipart::Form::new().part("file", part);
        let response = reqwest::Client::new().put(url).multipart(form).send().await.unwrap();
        assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
        self.shared.inner.lock().unwrap().files[&file_key].clone()
    }

    /// The `callback` body UploadThing sends for `file`.
    pub fn callback_body(&self, file: &FakeFile) -> String {
        json!({
            "status": "uploaded",
            "file": {
                "name": file.name,
                "size": file.size,
                "type": file.content_type,
                "customId": file.custom_id,
                "key": file.key,
                "url": self.file_url(&file.key),
                "appUrl": self.file_url(&file.key),
                "ufsUrl": self.file_url(&file.key),
                "fileHash": file.md5,
                "lastModified": 1_700_000_000_000u64,
            },
            "origin": self.base(),
            "metadata": {},
        })
        .to_string()
    }

    /// Posts a webhook to `url` as UploadThing does: `uploadthing-hook: {hook}`, and the
    /// body signed with `key` (`None`: no signature header at all).
    pub async fn send_hook(
        url: &str,
        hook: &str,
        body: &str,
        key: Option<&str>,
    ) -> reqwest::Response {
        let mut request = reqwest::Client::new()
            .post(url)
            .header("uploadthing-hook", hook)
            .header("content-type", "application/json")
            .body(body.to_owned());
        if let Some(key) = key {
            request = request.header("x-uploadthing-signature", sign_body(key, body.as_bytes()));
        }
        request.send().await.unwrap()
    }
}

impl Drop for FakeUploadThing {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// `hmac-sha256=<hex>` of `body` with `key`.
pub fn sign_body(key: &str, body: &[u8]) -> String {
    format!("hmac-sha256={}", hmac_hex(key, body))
}

fn hmac_hex(key: &str, data: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).unwrap();
    mac.update(data);
    hex::encode(mac.finalize().into_bytes())
}

fn error(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(json!({ "error": message }))).into_response()
}

/// Records each request, and answers the forced status when one is set.
async fn gate(
    State(shared): State<Shared>,
    request: Request,
    next: axum::middleware::Next,
) -> Response {
    let fail_with = {
        let mut inner = shared.inner.lock().unwrap();
        inner.requests.push(format!("{} {}", request.method(), request.uri().path()));
        inner.fail_with
    };
    if let Some(status) = fail_with {
        // Read the body first, as a server that looked at the upload would: answering
        // while the client still sends can break its pipe before it reads the status.
        let _ = axum::body::to_bytes(request.into_body(), usize::MAX).await;
        return error(StatusCode::from_u16(status).unwrap(), "forced failure");
    }
    next.run(request).await
}

/// Splits a URL's text at `&signature=` and checks the signature and `expires`; the
/// error is the reason for a 403.
fn check_signed_url(full_url: &str) -> Result<(), &'static str> {
    let forbidden = |message: &'static str| Err(message);
    let Some(at) = full_url.find("&signature=") else {
        return forbidden("missing signature");
    };
    let (unsigned, param) = full_url.split_at(at);
    let value = &param["&signature=".len()..];
    let value: String = url::form_urlencoded::parse(format!("s={value}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default();
    let expected = format!("hmac-sha256={}", hmac_hex(API_KEY, unsigned.as_bytes()));
    if value != expected {
        return forbidden("invalid signature");
    }
    let query = unsigned.split_once('?').map(|(_, q)| q).unwrap_or("");
    let expires = url::form_urlencoded::parse(query.as_bytes())
        .find(|(name, _)| name == "expires")
        .and_then(|(_, v)| v.parse::<i64>().ok());
    match expires {
        Some(ms) if ms > chrono::Utc::now().timestamp_millis() => Ok(()),
        Some(_) => forbidden("expired"),
        None => forbidden("missing expires"),
    }
}

fn full_url(headers: &HeaderMap, uri: &axum::http::Uri) -> String {
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or("");
    format!("http://{host}{uri}")
}

/// `encodeURIComponent` undone: the second decoding of a double-encoded value.
fn decode_component(value: &str) -> String {
    url::form_urlencoded::parse(format!("v={}", value.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

async fn ingest(
    State(shared): State<Shared>,
    Path(file_key): Path<String>,
    headers: HeaderMap,
    uri: axum::http::Uri,
    mut multipart: Multipart,
) -> Response {
    if let Err(reason) = check_signed_url(&full_url(&headers, &uri)) {
        return error(StatusCode::FORBIDDEN, reason);
    }
    let params: BTreeMap<String, String> =
        url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
            .map(|(k, v)| (k.into_owned(), decode_component(&v)))
            .collect();
    if params.get("x-ut-identifier").map(String::as_str) != Some(APP_ID) {
        return error(StatusCode::BAD_REQUEST, "wrong app");
    }
    let Some(size) = params.get("x-ut-file-size").and_then(|s| s.parse::<u64>().ok()) else {
        return error(StatusCode::BAD_REQUEST, "missing size");
    };
    let custom_id = params.get("x-ut-custom-id").cloned();

    let Ok(Some(mut field)) = multipart.next_field().await else {
        return error(StatusCode::BAD_REQUEST, "no file part");
    };
    if field.name() != Some("file") {
        return error(StatusCode::BAD_REQUEST, "the part must be named file");
    }
    let path = shared.dir.path().join(format!("{file_key}.{}", uuid::Uuid::new_v4()));
    let mut out = tokio::fs::File::create(&path).await.unwrap();
    let (mut md5, mut written) = (md5::Md5::new(), 0u64);
    loop {
        match field.chunk().await {
            Ok(Some(chunk)) => {
                md5.update(&chunk);
                written += chunk.len() as u64;
                out.write_all(&chunk).await.unwrap();
            }
            Ok(None) => break,
            Err(_) => {
                let _ = tokio::fs::remove_file(&path).await;
                return error(StatusCode::BAD_REQUEST, "the upload was cut off");
            }
        }
    }
    out.flush().await.unwrap();
    if written != size {
        let _ = tokio::fs::remove_file(&path).await;
        return error(StatusCode::BAD_REQUEST, "the size differs from x-ut-file-size");
    }
    let md5 = hex::encode(md5.finalize());
    {
        // Checked once the body is read, so that the client sees the answer.
        let inner = shared.inner.lock().unwrap();
        let in_use = inner.files.contains_key(&file_key)
            || (custom_id.is_some()
                && inner.files.values().any(|f| f.custom_id.is_some() && f.custom_id == custom_id));
        if in_use {
            let _ = std::fs::remove_file(&path);
            return error(StatusCode::CONFLICT, "file key or custom id in use");
        }
    }
    let file = FakeFile {
        key: file_key.clone(),
        custom_id,
        name: params.get("x-ut-file-name").cloned().unwrap_or_default(),
        size,
        md5: md5.clone(),
        acl: params.get("x-ut-acl").cloned().unwrap_or_else(|| "public-read".to_owned()),
        content_type: params.get("x-ut-file-type").cloned().unwrap_or_default(),
    };
    std::fs::rename(&path, shared.dir.path().join(&file_key)).unwrap();
    shared.inner.lock().unwrap().files.insert(file_key.clone(), file);
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or("");
    let ufs_url = format!("http://{host}/a/{APP_ID}/{file_key}");
    axum::Json(json!({ "ufsUrl": ufs_url, "url": ufs_url, "appUrl": ufs_url, "fileHash": md5 }))
        .into_response()
}

fn api_key_ok(headers: &HeaderMap) -> bool {
    headers.get("x-uploadthing-api-key").and_then(|v| v.to_str().ok()) == Some(API_KEY)
}

async fn list_files(
    State(shared): State<Shared>,
    headers: HeaderMap,
    axum::Json(body): axum::Json<Value>,
) -> Response {
    if !api_key_ok(&headers) {
        return error(StatusCode::UNAUTHORIZED, "invalid api key");
    }
    let limit = body["limit"].as_u64().unwrap_or(500) as usize;
    let offset = body["offset"].as_u64().unwrap_or(0) as usize;
    let inner = shared.inner.lock().unwrap();
    let all: Vec<&FakeFile> = inner.files.values().collect();
    let page: Vec<Value> = all
        .iter()
        .skip(offset)
        .take(limit)
        .map(|f| {
            json!({ "id": f.key, "customId": f.custom_id, "key": f.key, "name": f.name,
                    "size": f.size, "status": "Uploaded", "uploadedAt": 1_700_000_000_000u64 })
        })
        .collect();
    let has_more = offset + page.len() < all.len();
    axum::Json(json!({ "hasMore": has_more, "files": page })).into_response()
}

async fn delete_files(
    State(shared): State<Shared>,
    headers: HeaderMap,
    axum::Json(body): axum::Json<Value>,
) -> Response {
    if !api_key_ok(&headers) {
        return error(StatusCode::UNAUTHORIZED, "invalid api key");
    }
    let ids = |field: &str| -> Vec<String> {
        body[field]
            .as_array()
            .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
            .unwrap_or_default()
    };
    let (keys, custom_ids) = (ids("fileKeys"), ids("customIds"));
    let mut inner = shared.inner.lock().unwrap();
    let doomed: Vec<String> = inner
        .files
        .values()
        .filter(|f| {
            keys.contains(&f.key) || f.custom_id.as_ref().is_some_and(|c| custom_ids.contains(c))
        })
        .map(|f| f.key.clone())
        .collect();
    for key in &doomed {
        inner.files.remove(key);
        let _ = std::fs::remove_file(shared.dir.path().join(key));
    }
    axum::Json(json!({ "success": true, "deletedCount": doomed.len() })).into_response()
}

async fn usage_info(State(shared): State<Shared>, headers: HeaderMap) -> Response {
    if !api_key_ok(&headers) {
        return error(StatusCode::UNAUTHORIZED, "invalid api key");
    }
    let inner = shared.inner.lock().unwrap();
    let bytes: u64 = inner.files.values().map(|f| f.size).sum();
    axum::Json(json!({ "totalBytes": bytes, "appTotalBytes": bytes,
        "filesUploaded": inner.files.len(), "limitBytes": 2_000_000_000u64 }))
    .into_response()
}

async fn serve_file(
    State(shared): State<Shared>,
    Path((app, id)): Path<(String, String)>,
    method: Method,
    headers: HeaderMap,
    uri: axum::http::Uri,
) -> Response {
    if method != Method::GET && method != Method::HEAD {
        return error(StatusCode::METHOD_NOT_ALLOWED, "GET or HEAD");
    }
    let file = {
        let inner = shared.inner.lock().unwrap();
        inner
            .files
            .values()
            .find(|f| f.key == id || f.custom_id.as_deref() == Some(id.as_str()))
            .cloned()
    };
    let Some(file) = file.filter(|_| app == APP_ID) else {
        return error(StatusCode::NOT_FOUND, "not found");
    };
    if file.acl == "private"
        && let Err(reason) = check_signed_url(&full_url(&headers, &uri))
    {
        return error(StatusCode::FORBIDDEN, reason);
    }
    let range = headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("bytes="))
        .and_then(|v| {
            let (start, end) = v.split_once('-')?;
            let start: u64 = start.parse().ok()?;
            let end: u64 = if end.is_empty() { file.size - 1 } else { end.parse().ok()? };
            Some((start, end.min(file.size.saturating_sub(1))))
        });
    let (status, start, len) = match range {
        Some((start, end)) if start <= end && start < file.size => {
            (StatusCode::PARTIAL_CONTENT, start, end - start + 1)
        }
        Some(_) => return error(StatusCode::RANGE_NOT_SATISFIABLE, "bad range"),
        None => (StatusCode::OK, 0, file.size),
    };
    let mut response = Response::builder()
        .status(status)
        .header(header::CONTENT_LENGTH, len)
        .header(header::ETAG, format!("\"{}\"", file.md5))
        .header(header::ACCEPT_RANGES, "bytes");
    if status == StatusCode::PARTIAL_CONTENT {
        let range = format!("bytes {start}-{}/{}", start + len - 1, file.size);
        response = response.header(header::CONTENT_RANGE, range);
    }
    if method == Method::HEAD {
        return response.body(Body::empty()).unwrap();
    }
    let mut disk = tokio::fs::File::open(shared.dir.path().join(&file.key)).await.unwrap();
    disk.seek(std::io::SeekFrom::Start(start)).await.unwrap();
    let stream = tokio_util::io::ReaderStream::new(disk.take(len));
    response.body(Body::from_stream(stream)).unwrap()
}
