//! UploadThing as a store, through the API its SDK uses (v7 ingest, `/v6` REST).
//!
//! - **put**: the bytes are spooled to a temporary file (the signed ingest URL must
//!   state the size before the upload starts, and the trait does not give it), hashed
//!   with MD5 on the way, then sent in one multipart `PUT` to a signed ingest URL under
//!   a freshly generated file key, with twinstore's key as the custom id (see [`key`]
//!   for the mapping). The MD5 that the ingest server reports must match.
//! - **get**, **head**: the file host, `/f/{custom id or key}`, with `Range`; a signed
//!   URL when the store's files are private.
//! - **delete**, **list**, usage, health: the `/v6` REST endpoints with the API key.
//!
//! Known limits: the `prefix` setting is not supported (keys are custom ids, which
//! have no folders); a put that fails after the ingest server took the bytes may leave
//! the file there until a later put of the same key replaces it (a custom id already
//! in use is freed by deleting it and the put tried once more); the ingest server's
//! answer to a custom id in use (taken here to be 409) is not documented.

mod client;
pub mod key;
pub mod sign;
pub mod token;

use std::ops::Range;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use md5::{Digest, Md5};
use reqwest::{Method, Response};
use serde::Deserialize;
use tokio::io::{AsyncSeekExt, AsyncWriteExt};
use tokio_util::io::ReaderStream;

use super::{ByteStream, GetObject, ObjectInfo, Store, StoreError, StoreKind};
use crate::config::StoreConfig;
use client::{CallError, Client};
pub use sign::Acl;
pub use token::{Token, TokenError};

/// The REST API used when none is configured.
pub const DEFAULT_API_URL: &str = "https://api.uploadthing.com";
/// The file host used when none is configured.
pub const DEFAULT_UFS_HOST: &str = "ufs.sh";
/// How long a signed ingest URL stays valid: the SDK's default.
const INGEST_URL_TTL: Duration = Duration::from_secs(3600);
/// How long the signed URLs used for twinstore's own reads of private files last.
const READ_URL_TTL: Duration = Duration::from_secs(300);
/// Files per `listFiles` page (the documented default).
const LIST_PAGE: u64 = 500;
/// Bytes kept from the start of a file to sniff its type for the ingest URL.
const SNIFF_BYTES: usize = 8192;

/// One UploadThing app as twinstore reaches it: credentials and the three hosts.
#[derive(Debug, Clone)]
pub struct UploadThingApp {
    /// The store's name in the configuration.
    pub store: String,
    /// The token's contents; the API key stays secret.
    pub token: Token,
    /// The REST API's base URL, without a trailing `/`.
    pub api_url: String,
    /// The ingest server's base URL, without a trailing `/`.
    pub ingest_url: String,
    /// The origin of the app's file URLs (`https://{appId}.ufs.sh`, or the host itself
    /// with the app id in the path).
    pub file_origin: String,
    /// The path before a file key: `/f/` or `/a/{appId}/`.
    pub file_path: String,
    /// The ACL of files twinstore uploads.
    pub acl: Acl,
}

impl UploadThingApp {
    /// Reads the settings of the store `name`.
    pub fn from_config(name: &str, config: &StoreConfig) -> Result<Self, StoreError> {
        let misconfigured =
            |message: String| StoreError::Config { store: name.to_owned(), message };
        let token =
            config.token.as_ref().ok_or_else(|| misconfigured("token is not set".into()))?;
        let token = Token::parse(token.expose()).map_err(|err| misconfigured(err.to_string()))?;
        if config.prefix.is_some() {
            return Err(misconfigured("prefix is not supported by UploadThing stores".into()));
        }
        let trim = |url: &str| url.trim_end_matches('/').to_owned();
        let api_url = config.api_url.as_deref().map_or(DEFAULT_API_URL.to_owned(), trim);
        let ingest_url = match &config.ingest_url {
            Some(url) => trim(url),
            None => format!("https://{}.{}", token.regions[0], token.ingest_host),
        };
        let ufs_host = config.ufs_host.as_deref().unwrap_or(DEFAULT_UFS_HOST);
        let (scheme, host) = match ufs_host.split_once("://") {
            Some((scheme, host)) => (scheme, host.trim_end_matches('/')),
            None => ("https", ufs_host.trim_end_matches('/')),
        };
        let location = config.ufs_app_id_location.as_deref().unwrap_or("subdomain");
        let (file_origin, file_path) = match location {
            "subdomain" => (format!("{scheme}://{}.{host}", token.app_id), "/f/".to_owned()),
            "path" => (format!("{scheme}://{host}"), format!("/a/{}/", token.app_id)),
            other => {
                return Err(misconfigured(format!(
                    "ufs_app_id_location must be subdomain or path, not {other:?}"
                )));
            }
        };
        let acl = match config.acl.as_deref() {
            None | Some("public-read") => Acl::PublicRead,
            Some("private") => Acl::Private,
            Some(other) => {
                return Err(misconfigured(format!(
                    "acl must be public-read or private, not {other:?}"
                )));
            }
        };
        Ok(Self { store: name.to_owned(), token, api_url, ingest_url, file_origin, file_path, acl })
    }

    /// The public URL of the file with this key or custom id (no request is made).
    pub fn file_url(&self, id: &str) -> String {
        format!("{}{}{id}", self.file_origin, self.file_path)
    }

    /// Whether `url` points at this app's file host (same scheme, host and port), or at
    /// UploadThing's legacy file host `utfs.io` when the default host is in use.
    pub fn is_file_host_url(&self, url: &str) -> bool {
        let Ok(url) = url::Url::parse(url) else { return false };
        let origin = url.origin().ascii_serialization();
        origin == self.file_origin
            || (self.file_origin.ends_with(&format!(".{DEFAULT_UFS_HOST}"))
                && origin == "https://utfs.io")
    }
}

/// What `/v6/getUsageInfo` reports.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UsageInfo {
    /// Bytes stored by every app of the account.
    pub total_bytes: f64,
    /// Bytes stored by this app.
    pub app_total_bytes: f64,
    /// Files uploaded to this app.
    pub files_uploaded: f64,
    /// The plan's limit in bytes.
    pub limit_bytes: f64,
}

/// An UploadThing app as a [`Store`]. See the module documentation.
#[derive(Debug)]
pub struct UploadThingStore {
    app: UploadThingApp,
    client: Client,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UploadPutResult {
    file_hash: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListFilesResult {
    has_more: bool,
    files: Vec<ListedFile>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListedFile {
    key: String,
    custom_id: Option<String>,
    #[serde(default)]
    size: Option<u64>,
    status: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DeleteResult {
    deleted_count: u64,
}

/// The spooled copy of a body being put.
struct Spooled {
    file: tokio::fs::File,
    size: u64,
    md5: String,
    content_type: &'static str,
}

impl UploadThingStore {
    /// Opens the store `name` as `config` describes it. No request is made.
    pub fn open(name: &str, config: &StoreConfig) -> Result<Self, StoreError> {
        let app = UploadThingApp::from_config(name, config)?;
        let client = Client::new().map_err(|err| StoreError::Config {
            store: name.to_owned(),
            message: format!("cannot build an HTTP client: {err}"),
        })?;
        Ok(Self { app, client })
    }

    /// The app this store talks to.
    pub fn app(&self) -> &UploadThingApp {
        &self.app
    }

    /// The app's storage usage, from `/v6/getUsageInfo`.
    pub async fn usage(&self) -> Result<UsageInfo, StoreError> {
        let body = serde_json::json!({});
        self.client
            .rest(&self.app, "/v6/getUsageInfo", &body)
            .await
            .map_err(|err| self.error(err, "read the usage of", ""))
    }

    fn error(&self, err: CallError, operation: &'static str, key: &str) -> StoreError {
        err.into_store_error(&self.app.store, operation, key)
    }

    /// The URL twinstore reads `key` from: public, or signed for a short while.
    fn read_url(&self, key: &str) -> String {
        let url = self.canonical_url(key);
        match self.app.acl {
            Acl::PublicRead => url,
            Acl::Private => self.sign(&url, READ_URL_TTL),
        }
    }

    fn sign(&self, url: &str, ttl: Duration) -> String {
        let expires = chrono::Utc::now().timestamp_millis() + ttl.as_millis() as i64;
        sign::signed_file_url(url, self.app.token.api_key.expose(), expires)
    }

    /// Writes `body` to an unnamed temporary file (deleted when dropped), hashing it.
    async fn spool(&self, key: &str, mut body: ByteStream) -> Result<Spooled, StoreError> {
        let io_error = |source| StoreError::Body {
            store: self.app.store.clone(),
            key: key.to_owned(),
            source,
        };
        // Creating the file is one quick system call; the writes below are async.
        let file = tempfile::tempfile().map_err(io_error)?;
        let mut file = tokio::fs::File::from_std(file);
        let (mut md5, mut size, mut head) = (Md5::new(), 0u64, Vec::new());
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(io_error)?;
            md5.update(&chunk);
            size += chunk.len() as u64;
            if head.len() < SNIFF_BYTES {
                head.extend_from_slice(&chunk[..chunk.len().min(SNIFF_BYTES - head.len())]);
            }
            file.write_all(&chunk).await.map_err(io_error)?;
        }
        file.flush().await.map_err(io_error)?;
        let content_type = infer::get(&head).map_or("application/octet-stream", |t| t.mime_type());
        Ok(Spooled { file, size, md5: hex::encode(md5.finalize()), content_type })
    }

    /// One ingest `PUT` of the spooled bytes under a new file key.
    async fn upload(&self, key: &str, spooled: &mut Spooled) -> Result<(), CallError> {
        let app = &self.app;
        let file_key = key::generate(&app.token.app_id, uuid::Uuid::now_v7().as_u128());
        let custom_id = key::to_custom_id(key);
        let name = key.rsplit('/').next().unwrap_or(key);
        let expires_ms = chrono::Utc::now().timestamp_millis() + INGEST_URL_TTL.as_millis() as i64;
        let request = sign::IngestRequest {
            ingest_url: &app.ingest_url,
            file_key: &file_key,
            app_id: &app.token.app_id,
            name,
            size: spooled.size,
            content_type: spooled.content_type,
            custom_id: Some(&custom_id),
            acl: Some(app.acl),
            expires_ms,
        };
        let url = sign::ingest_url(&request, app.token.api_key.expose());

        spooled.file.rewind().await.map_err(|err| CallError::Unexpected(err.to_string()))?;
        let reader = spooled.file.try_clone().await.map_err(|err| {
            CallError::Unexpected(format!("cannot reopen the spooled file: {err}"))
        })?;
        let stream = reqwest::Body::wrap_stream(ReaderStream::new(reader));
        let part = reqwest::multipart::Part::stream_with_length(stream, spooled.size)
            .file_name(name.to_owned())
            .mime_str(spooled.content_type)
            .map_err(|err| CallError::Unexpected(err.to_string()))?;
        let form = reqwest::multipart::Form::new().part("file", part);

        let response = self.client.ingest(&url, form).await?;
        let result: UploadPutResult = response.json().await.map_err(CallError::Decode)?;
        match result.file_hash {
            Some(hash) if !hash.eq_ignore_ascii_case(&spooled.md5) => {
                Err(CallError::Unexpected(format!(
                    "the ingest server kept bytes with MD5 {hash}, not the {} sent",
                    spooled.md5
                )))
            }
            _ => Ok(()),
        }
    }

    /// Deletes by custom id or file key; returns how many files went.
    async fn delete_ids(&self, field: &str, id: &str) -> Result<u64, CallError> {
        let body = serde_json::json!({ field: [id] });
        let result: DeleteResult = self.client.rest(&self.app, "/v6/deleteFiles", &body).await?;
        Ok(result.deleted_count)
    }

    fn info_from(&self, key: &str, response: &Response, range: Option<&Range<u64>>) -> ObjectInfo {
        let headers = response.headers();
        let header =
            |name| headers.get(name).and_then(|v: &reqwest::header::HeaderValue| v.to_str().ok());
        let etag = header(reqwest::header::ETAG).map(str::to_owned);
        let length: Option<u64> =
            header(reqwest::header::CONTENT_LENGTH).and_then(|v| v.parse().ok());
        let total =
            header(reqwest::header::CONTENT_RANGE).and_then(|v| v.rsplit('/').next()?.parse().ok());
        let size = match (response.status().as_u16(), range) {
            (206, _) => total.unwrap_or_default(),
            _ => length.unwrap_or_default(),
        };
        ObjectInfo { key: key.to_owned(), size, etag }
    }
}

#[async_trait]
impl Store for UploadThingStore {
    fn name(&self) -> &str {
        &self.app.store
    }

    fn kind(&self) -> StoreKind {
        StoreKind::UploadThing
    }

    async fn put(&self, key: &str, body: ByteStream) -> Result<ObjectInfo, StoreError> {
        let mut spooled = self.spool(key, body).await?;
        let mut outcome = self.upload(key, &mut spooled).await;
        if let Err(CallError::Status { status: 409, .. }) = &outcome {
            // The custom id is taken (an earlier write of this key): free it, once.
            self.delete(key).await?;
            outcome = self.upload(key, &mut spooled).await;
        }
        if let Err(err) = outcome {
            if matches!(err, CallError::Unexpected(_)) {
                // The ingest server kept other bytes: do not leave them under this key.
                let _ = self.delete(key).await;
            }
            return Err(self.error(err, "put", key));
        }
        Ok(ObjectInfo { key: key.to_owned(), size: spooled.size, etag: None })
    }

    async fn get(&self, key: &str, range: Option<Range<u64>>) -> Result<GetObject, StoreError> {
        if let Some(range) = range.as_ref().filter(|range| range.is_empty()) {
            let info = self.head(key).await?;
            let body = futures::stream::empty().boxed();
            return Ok(GetObject { info, range: range.clone(), body });
        }
        let url = self.read_url(key);
        let asked = range.as_ref().map(|range| (range.start, range.end - 1));
        let response = self
            .client
            .file(Method::GET, &url, asked)
            .await
            .map_err(|err| self.error(err, "get", key))?;
        let info = self.info_from(key, &response, range.as_ref());
        let partial = response.status().as_u16() == 206;

        let (store, owned_key) = (self.app.store.clone(), key.to_owned());
        let body = response.bytes_stream().map_err(move |source| {
            let source = Box::new(CallError::Request(source));
            let err = StoreError::Http {
                store: store.clone(),
                operation: "read",
                key: owned_key.clone(),
                source,
            };
            std::io::Error::other(err)
        });
        let (range, body) = match range {
            None => (0..info.size, body.boxed()),
            Some(range) if partial => (range, body.boxed()),
            // The host sent the whole file: pass on only the bytes asked for.
            Some(range) => (range.clone(), slice(body.boxed(), range)),
        };
        Ok(GetObject { info, range, body })
    }

    async fn head(&self, key: &str) -> Result<ObjectInfo, StoreError> {
        let url = self.read_url(key);
        let response = self
            .client
            .file(Method::HEAD, &url, None)
            .await
            .map_err(|err| self.error(err, "head", key))?;
        Ok(self.info_from(key, &response, None))
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        let custom_id = key::to_custom_id(key);
        let outcome = async {
            if key::is_file_key(key) && self.delete_ids("fileKeys", key).await? > 0 {
                return Ok(());
            }
            self.delete_ids("customIds", &custom_id).await.map(|_| ())
        }
        .await;
        match outcome {
            Ok(()) | Err(CallError::Status { status: 404, .. }) => Ok(()),
            Err(err) => Err(self.error(err, "delete", key)),
        }
    }

    fn list(&self, prefix: &str) -> BoxStream<'static, Result<ObjectInfo, StoreError>> {
        let (client, app, prefix) = (self.client.clone(), self.app.clone(), prefix.to_owned());
        let pages = futures::stream::try_unfold(Some(0u64), move |offset| {
            let (client, app, prefix) = (client.clone(), app.clone(), prefix.clone());
            async move {
                let Some(offset) = offset else { return Ok(None) };
                let body = serde_json::json!({ "limit": LIST_PAGE, "offset": offset });
                let page: ListFilesResult = client
                    .rest(&app, "/v6/listFiles", &body)
                    .await
                    .map_err(|err| err.into_store_error(&app.store, "list", &prefix))?;
                let next = (page.has_more && !page.files.is_empty())
                    .then_some(offset + page.files.len() as u64);
                let infos: Vec<Result<ObjectInfo, StoreError>> = page
                    .files
                    .into_iter()
                    .filter(|file| file.status == "Uploaded")
                    .filter_map(|file| {
                        let key = match &file.custom_id {
                            Some(id) => key::from_custom_id(id)?,
                            None => file.key,
                        };
                        let size = file.size.unwrap_or_default();
                        key.starts_with(&prefix).then_some(Ok(ObjectInfo { key, size, etag: None }))
                    })
                    .collect();
                Ok(Some((futures::stream::iter(infos), next)))
            }
        });
        pages.try_flatten().boxed()
    }

    fn canonical_url(&self, key: &str) -> String {
        self.app.file_url(&key::to_custom_id(key))
    }

    async fn access_url(&self, key: &str, ttl: Duration) -> Result<String, StoreError> {
        let url = self.canonical_url(key);
        Ok(match self.app.acl {
            Acl::PublicRead => url,
            Acl::Private => self.sign(&url, ttl),
        })
    }

    async fn probe(&self) -> Option<Result<(), StoreError>> {
        Some(self.usage().await.map(|_| ()))
    }
}

/// Only the bytes of `range` from a stream of a whole object.
fn slice(body: ByteStream, range: Range<u64>) -> ByteStream {
    body.scan(0u64, move |position, item| {
        let out = match item {
            Err(err) => Some(Err(err)),
            Ok(_) if *position >= range.end => None,
            Ok(chunk) => {
                let (start, end) = (*position, *position + chunk.len() as u64);
                *position = end;
                let from = range.start.clamp(start, end) - start;
                let to = range.end.clamp(start, end) - start;
                Some(Ok(chunk.slice(from as usize..to as usize)))
            }
        };
        std::future::ready(out)
    })
    .try_filter(|chunk: &Bytes| std::future::ready(!chunk.is_empty()))
    .boxed()
}
