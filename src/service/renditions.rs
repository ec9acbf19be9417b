//! The rendition endpoints: the list of a file's renditions, and each one's bytes.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use serde::Serialize;

use super::error::ApiError;
use super::{AppState, ErrorBody};
use crate::catalog::RenditionRecord;

/// A file's renditions and whether they were made.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RenditionList {
    /// `none`, `pending`, `done`, `skipped` or `failed`.
    render_status: String,
    /// Why they were skipped or failed.
    render_detail: Option<String>,
    /// Each rendition in each store that holds it.
    renditions: Vec<RenditionRecord>,
}

/// The renditions of a file (an optimized WebP and thumbnails, for images).
#[utoipa::path(
    get, path = "/v1/files/{id}/renditions", tag = "files", params(("id" = String, Path)),
    responses((status = 200, body = RenditionList), (status = 404, body = ErrorBody))
)]
pub async fn list(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<RenditionList>, ApiError> {
    let file = state.twinstore.file(&id).await?;
    let renditions = state.twinstore.renditions(&id).await?;
    Ok(Json(RenditionList {
        render_status: file.render_status,
        render_detail: file.render_detail,
        renditions,
    }))
}

/// One rendition's WebP bytes (`optimized`, `thumb-600`, `thumb-300`, `thumb-150`),
/// from the backup store or, when it fails, another store that holds it.
#[utoipa::path(
    get, path = "/v1/files/{id}/renditions/{name}", tag = "files",
    params(("id" = String, Path), ("name" = String, Path)),
    responses(
        (status = 200, description = "the WebP image", content_type = "image/webp"),
        (status = 304, description = "the ETag matches"),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 410, body = ErrorBody), (status = 503, body = ErrorBody),
    )
)]
pub async fn content(
    State(state): State<AppState>,
    Path((id, name)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let reader = state.twinstore.read_rendition(&id, &name).await?;
    let rendition = &reader.rendition;
    let etag = format!("\"{}\"", rendition.sha256);
    if headers.get(header::IF_NONE_MATCH).is_some_and(|value| value.as_bytes() == etag.as_bytes()) {
        return Ok((StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response());
    }

    let mut response_headers = HeaderMap::new();
    response_headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("image/webp"));
    response_headers.insert(header::CONTENT_LENGTH, HeaderValue::from(rendition.size));
    if let Ok(etag) = HeaderValue::from_str(&etag) {
        response_headers.insert(header::ETAG, etag);
    }
    if let Ok(store) = HeaderValue::from_str(&rendition.store) {
        response_headers.insert("x-twinstore-store", store);
    }
    response_headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));

    let metrics = state.metrics.clone();
    let body = reader.body.inspect(move |chunk| {
        if let Ok(chunk) = chunk {
            metrics.add_bytes_out(chunk.len() as u64);
        }
    });
    Ok((StatusCode::OK, response_headers, Body::from_stream(body)).into_response())
}
