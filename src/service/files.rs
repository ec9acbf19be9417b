//! The file endpoints: upload, list, metadata, content, URL, delete.

use std::io;
use std::ops::Range;

use axum::Json;
use axum::body::Body;
use axum::extract::multipart::Field;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use serde::{Deserialize, Serialize};
use tracing::warn;

use super::error::ApiError;
use super::{AppState, ErrorBody};
use crate::catalog::FileRecord;
use crate::engine::ReadOptions;

/// Chunks queued between the request body and the stores.
const CHUNKS_QUEUED: usize = 4;

/// The files stored by one upload.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UploadResponse {
    /// One record per part named `file`, in order.
    files: Vec<FileRecord>,
}

/// Stores each part named `file` of a `multipart/form-data` body in the primary and
/// the backup store, streaming it (never buffered whole).
///
/// Either every part is stored or none is: when a later part fails, the parts
/// already stored by this request are removed.
#[utoipa::path(
    post, path = "/v1/files", tag = "files",
    request_body(content_type = "multipart/form-data", description = "parts named `file`"),
    responses(
        (status = 201, body = UploadResponse),
        (status = 400, body = ErrorBody, description = "broken body or no part named file"),
        (status = 401, body = ErrorBody),
        (status = 413, body = ErrorBody),
        (status = 503, body = ErrorBody, description = "the primary store is down"),
    )
)]
pub async fn upload(
    State(state): State<AppState>,
    headers: HeaderMap,
    mut multipart: Multipart,
) -> Result<(StatusCode, Json<UploadResponse>), ApiError> {
    let limit = state.settings.max_upload_bytes;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit) {
        return Err(ApiError::too_large(limit));
    }

    let mut stored: Vec<FileRecord> = Vec::new();
    let outcome = async {
        while let Some(field) = multipart.next_field().await.map_err(multipart_error(limit))? {
            if field.name() != Some("file") {
                continue;
            }
            stored.push(store_part(&state, field, limit).await?);
        }
        Ok::<(), ApiError>(())
    }
    .await;

    if let Err(err) = outcome {
        for file in &stored {
            if let Err(undo) = state.twinstore.remove(&file.id).await {
                warn!(file_id = %file.id, error = %undo, "cannot undo part of a failed upload");
            }
        }
        return Err(err);
    }
    if stored.is_empty() {
        return Err(ApiError::bad_request("no_file", "the body has no part named `file`"));
    }
    Ok((StatusCode::CREATED, Json(UploadResponse { files: stored })))
}

/// Streams one part into the stores through a small queue, so that the part (which
/// borrows the request) feeds the put (which needs a stream of its own).
async fn store_part(
    state: &AppState,
    mut field: Field<'_>,
    limit: u64,
) -> Result<FileRecord, ApiError> {
    let name = field.file_name().unwrap_or("file").to_owned();
    let (mut sender, receiver) =
        futures::channel::mpsc::channel::<io::Result<Bytes>>(CHUNKS_QUEUED);

    // The feed owns the sender: when it ends, the put sees the end of the stream.
    let metrics = &state.metrics;
    let feed = async move {
        loop {
            match field.chunk().await {
                Ok(Some(chunk)) => {
                    metrics.add_bytes_in(chunk.len() as u64);
                    if sender.send(Ok(chunk)).await.is_err() {
                        return Ok(()); // The put stopped; its error says why.
                    }
                }
                Ok(None) => return Ok(()),
                Err(err) => {
                    let _ = sender.send(Err(io::Error::other(err.body_text()))).await;
                    return Err(err);
                }
            }
        }
    };
    let (fed, stored) = tokio::join!(feed, state.twinstore.put(&name, receiver.boxed()));

    match (fed, stored) {
        (Ok(()), Ok(record)) => Ok(record),
        (Ok(()), Err(err)) => Err(err.into()),
        (Err(err), stored) => {
            if let Ok(record) = stored {
                let _ = state.twinstore.remove(&record.id).await;
            }
            Err(multipart_error(limit)(err))
        }
    }
}

fn multipart_error(limit: u64) -> impl Fn(axum::extract::multipart::MultipartError) -> ApiError {
    move |err| {
        if err.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::too_large(limit)
        } else {
            ApiError::bad_request(
                "invalid_multipart",
                format!("the multipart body is broken: {}", err.body_text()),
            )
        }
    }
}

/// Paging of the file list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct ListQuery {
    /// Files per page, 1 to 1000. Default 50.
    limit: Option<u32>,
    /// The `nextCursor` of the previous page.
    cursor: Option<String>,
}

/// A page of files, newest first.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FileList {
    files: Vec<FileRecord>,
    /// Pass as `cursor` for the next page; absent on the last page.
    next_cursor: Option<String>,
}

/// Lists files, newest first.
#[utoipa::path(
    get, path = "/v1/files", tag = "files", params(ListQuery),
    responses((status = 200, body = FileList), (status = 401, body = ErrorBody))
)]
pub async fn list(
    State(state): State<AppState>,
    Query(query): Query<ListQuery>,
) -> Result<Json<FileList>, ApiError> {
    let limit = query.limit.unwrap_or(50).clamp(1, 1000);
    let page = state
        .twinstore
        .list(limit, query.cursor.as_deref())
        .await
        .map_err(|_| ApiError::bad_request("invalid_cursor", "the cursor is not valid"))?;
    Ok(Json(FileList { files: page.files, next_cursor: page.next_cursor }))
}

/// A file's record, with each copy's state.
#[utoipa::path(
    get, path = "/v1/files/{id}", tag = "files", params(("id" = String, Path)),
    responses((status = 200, body = FileRecord), (status = 404, body = ErrorBody))
)]
pub async fn metadata(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<FileRecord>, ApiError> {
    Ok(Json(state.twinstore.file(&id).await?))
}

/// Removes every copy of a file, then its record.
#[utoipa::path(
    delete, path = "/v1/files/{id}", tag = "files", params(("id" = String, Path)),
    responses(
        (status = 204), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 503, body = ErrorBody, description = "a store could not remove its copy"),
    )
)]
pub async fn delete(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.twinstore.remove(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// How a download may be authorized without a key.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct SignedQuery {
    /// Unix time after which the signature is refused.
    pub expires: Option<i64>,
    /// HMAC-SHA256 of the id and `expires`, from the url endpoint.
    pub signature: Option<String>,
}

/// The file's bytes, from the primary or, when it fails, the backup.
///
/// Supports a single `Range` (206, or 416 when it is outside the file) and
/// `If-None-Match` with the ETag, which is the SHA-256 of the file.
#[utoipa::path(
    method(get, head), path = "/v1/files/{id}/content", tag = "files",
    params(("id" = String, Path), SignedQuery),
    responses(
        (status = 200, description = "the bytes", content_type = "application/octet-stream"),
        (status = 206, description = "the requested range"),
        (status = 304, description = "the ETag matches"),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 416, body = ErrorBody), (status = 503, body = ErrorBody),
    )
)]
pub async fn content(
    State(state): State<AppState>,
    Path(id): Path<String>,
    method: Method,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let file = state.twinstore.file(&id).await?;
    state.twinstore.check_servable(&file)?;
    let etag = format!("\"{}\"", file.sha256);
    if headers.get(header::IF_NONE_MATCH).is_some_and(|value| value.as_bytes() == etag.as_bytes()) {
        return Ok((StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response());
    }

    let range = match headers.get(header::RANGE).and_then(|value| value.to_str().ok()) {
        None => None,
        Some(text) => match parse_range(text, file.size) {
            RangeRequest::Whole => None,
            RangeRequest::Part(range) => Some(range),
            RangeRequest::Unsatisfiable => {
                let mut response = ApiError::new(
                    StatusCode::RANGE_NOT_SATISFIABLE,
                    "range_not_satisfiable",
                    format!("the file has {} bytes", file.size),
                )
                .into_response();
                let content_range = format!("bytes */{}", file.size);
                response.headers_mut().insert(header::CONTENT_RANGE, header_value(&content_range));
                return Ok(response);
            }
        },
    };

    let (status, length) = match &range {
        Some(range) => (StatusCode::PARTIAL_CONTENT, range.end - range.start),
        None => (StatusCode::OK, file.size),
    };
    let mut response_headers = HeaderMap::new();
    response_headers.insert(header::CONTENT_TYPE, header_value(&file.content_type));
    response_headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    response_headers.insert(header::ETAG, header_value(&etag));
    response_headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    response_headers
        .insert(header::CONTENT_DISPOSITION, header_value(&content_disposition(&file.name)));
    response_headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    if let Some(range) = &range {
        let value = format!("bytes {}-{}/{}", range.start, range.end - 1, file.size);
        response_headers.insert(header::CONTENT_RANGE, header_value(&value));
    }
    if method == Method::HEAD {
        return Ok((status, response_headers).into_response());
    }

    let options = ReadOptions { prefer_backup: false, range };
    let reader = state.twinstore.read(&id, options).await?;
    response_headers.insert("x-twinstore-store", header_value(&reader.store));
    let metrics = state.metrics.clone();
    let body = reader.body.inspect(move |chunk| {
        if let Ok(chunk) = chunk {
            metrics.add_bytes_out(chunk.len() as u64);
        }
    });
    Ok((status, response_headers, Body::from_stream(body)).into_response())
}

/// Which copy's URL to give.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct UrlQuery {
    /// `backup` to prefer the backup copy.
    prefer: Option<String>,
}

/// URLs for a file that work now.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FileUrl {
    /// The store's URL for the file, as `file_url` gives it: the primary's unless the
    /// primary is failing or the backup was preferred; public, or signed by the store.
    url: String,
    /// A download URL through this service, signed to work without a key until
    /// `expiresAt`; given when reads are private.
    signed_url: Option<String>,
    /// When `signedUrl` stops working (Unix seconds).
    expires_at: Option<i64>,
}

/// A URL for the file that works now.
#[utoipa::path(
    get, path = "/v1/files/{id}/url", tag = "files", params(("id" = String, Path), UrlQuery),
    responses(
        (status = 200, body = FileUrl),
        (status = 404, body = ErrorBody),
        (status = 503, body = ErrorBody),
    )
)]
pub async fn url(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(query): Query<UrlQuery>,
) -> Result<Json<FileUrl>, ApiError> {
    let prefer_backup = query.prefer.as_deref() == Some("backup");
    let url = state.twinstore.file_url(&id, prefer_backup).await?;
    let (signed_url, expires_at) = if state.guard.reads_are_private() {
        let ttl = state.twinstore.config().timeouts.signed_url_ttl.as_secs() as i64;
        let expires = chrono::Utc::now().timestamp() + ttl;
        let signature = state.guard.sign(&id, expires);
        let base = &state.public_url;
        let signed =
            format!("{base}/v1/files/{id}/content?expires={expires}&signature={signature}");
        (Some(signed), Some(expires))
    } else {
        (None, None)
    };
    Ok(Json(FileUrl { url, signed_url, expires_at }))
}

enum RangeRequest {
    Whole,
    Part(Range<u64>),
    Unsatisfiable,
}

/// Parses a `Range` header for a file of `size` bytes. One range is served; several,
/// or a unit other than bytes, get the whole file (which HTTP allows).
fn parse_range(text: &str, size: u64) -> RangeRequest {
    let Some(spec) = text.trim().strip_prefix("bytes=") else { return RangeRequest::Whole };
    if spec.contains(',') {
        return RangeRequest::Whole;
    }
    let Some((start, end)) = spec.split_once('-') else { return RangeRequest::Unsatisfiable };
    let (start, end) = (start.trim(), end.trim());
    let range = match (start.parse::<u64>(), end.parse::<u64>()) {
        // bytes=-N: the last N bytes.
        (Err(_), Ok(suffix)) if start.is_empty() && suffix > 0 => size.saturating_sub(suffix)..size,
        (Ok(start), Err(_)) if end.is_empty() => start..size,
        (Ok(start), Ok(last)) if last >= start => start..(last + 1).min(size),
        _ => return RangeRequest::Unsatisfiable,
    };
    if range.start >= size || range.is_empty() {
        return RangeRequest::Unsatisfiable;
    }
    RangeRequest::Part(range)
}

/// A `Content-Disposition` that names the file safely: an ASCII fallback with quotes
/// and backslashes removed, and the exact name percent-encoded (RFC 6266, RFC 8187).
fn content_disposition(name: &str) -> String {
    let fallback: String = name
        .chars()
        .map(|c| if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' { c } else { '_' })
        .collect();
    let encoded: String = name
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'.' | b'-' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect();
    format!("attachment; filename=\"{fallback}\"; filename*=UTF-8''{encoded}")
}

fn header_value(text: &str) -> HeaderValue {
    HeaderValue::from_str(text).unwrap_or_else(|_| HeaderValue::from_static("invalid"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(text: &str, size: u64) -> Option<Range<u64>> {
        match parse_range(text, size) {
            RangeRequest::Part(range) => Some(range),
            _ => None,
        }
    }

    #[test]
    fn ranges_follow_http() {
        assert_eq!(part("bytes=0-99", 1000), Some(0..100));
        assert_eq!(part("bytes=900-", 1000), Some(900..1000));
        assert_eq!(part("bytes=-10", 1000), Some(990..1000));
        assert_eq!(part("bytes=990-5000", 1000), Some(990..1000), "clamped to the end");
        assert!(matches!(parse_range("bytes=1000-", 1000), RangeRequest::Unsatisfiable));
        assert!(matches!(parse_range("bytes=5-2", 1000), RangeRequest::Unsatisfiable));
        assert!(matches!(parse_range("bytes=0-1,5-6", 1000), RangeRequest::Whole));
        assert!(matches!(parse_range("items=0-1", 1000), RangeRequest::Whole));
        assert!(matches!(parse_range("bytes=0-0", 0), RangeRequest::Unsatisfiable));
    }

    #[test]
    fn content_disposition_cannot_be_broken_out_of() {
        let header = content_disposition("evil\"; filename=x.html\\résumé.pdf");
        assert!(
            header.starts_with("attachment; filename=\"evil_; filename=x.html_r_sum_.pdf\""),
            "{header}"
        );
        assert!(
            header
                .contains("filename*=UTF-8''evil%22%3B%20filename%3Dx.html%5Cr%C3%A9sum%C3%A9.pdf")
        );
    }
}
