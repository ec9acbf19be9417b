//! Operational endpoints: health and metrics.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;

use super::AppState;
use super::error::ApiError;
use crate::engine::StorageHealth;

/// Each store's health from a real round trip, the catalog's and the scanner's: 200
/// when the primary and the catalog are available, 503 when either is not.
#[utoipa::path(
    get, path = "/v1/health", tag = "operations",
    responses(
        (status = 200, body = StorageHealth),
        (status = 503, body = StorageHealth, description = "the primary is unavailable"),
    )
)]
pub async fn health(State(state): State<AppState>) -> (StatusCode, Json<StorageHealth>) {
    let health = state.twinstore.check_storage_health().await;
    let serving = health.primary.available && health.catalog.available;
    let status = if serving { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, Json(health))
}

/// Metrics in Prometheus' text format.
pub async fn metrics(State(state): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    let copies = state.twinstore.catalog().copy_backlog().await.map_err(crate::Error::from)?;
    let text = state.metrics.render(&state.twinstore, &copies);
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text))
}
