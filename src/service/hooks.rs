//! `POST /v1/hooks/uploadthing`: UploadThing's upload callbacks.
//!
//! The route needs no API key; it needs UploadThing's signature instead. The order is
//! deliberate: the signature (`x-uploadthing-signature`, HMAC-SHA256 of the raw body
//! with an UploadThing store's API key, compared in constant time) is checked before
//! anything in the body is parsed. Then the payload is checked: a valid file key, and
//! every file URL in it on the configured app's file host. Then a durable ingest job is
//! queued (its unique key dedups redeliveries) and the reply goes out at once; the
//! download, hashing and backup write run in the workers.
//!
//! UploadThing signs no timestamp or nonce, so a captured request can be replayed as it
//! is: a replay names the same file key and changes nothing. The SDK posts the
//! `onUploadComplete` result to `{origin}/callback-result` when the route awaits server
//! data; twinstore does not, so the file route should not await server data.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use tracing::{info, warn};

use super::{ApiError, AppState};
use crate::jobs::Job;
use crate::store::StoreKind;
use crate::store::uploadthing::{UploadThingApp, key, sign};

#[derive(Deserialize)]
struct Callback {
    file: CallbackFile,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CallbackFile {
    key: String,
    name: String,
    size: Option<u64>,
    url: Option<String>,
    app_url: Option<String>,
    ufs_url: Option<String>,
    file_hash: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ErrorHook {
    file_key: String,
    error: String,
}

fn invalid_signature() -> ApiError {
    ApiError::bad_request("invalid_signature", "Invalid signature")
}

fn invalid_payload(message: &str) -> ApiError {
    ApiError::bad_request("invalid_payload", message)
}

/// Receives an UploadThing webhook (`callback` or `error`).
#[utoipa::path(
    post,
    path = "/v1/hooks/uploadthing",
    tag = "files",
    request_body(content_type = "application/json", description = "UploadThing's payload"),
    responses(
        (status = 200, description = "accepted; the file is recorded in the background"),
        (status = 400, description = "unsigned, forged or invalid", body = super::ErrorBody),
    )
)]
pub(super) async fn uploadthing(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let header = |name| headers.get(name).and_then(|v: &axum::http::HeaderValue| v.to_str().ok());
    let apps = uploadthing_apps(&state);
    let Some(signature) = header("x-uploadthing-signature") else {
        warn!(bytes = body.len(), "unsigned UploadThing webhook refused");
        return Err(invalid_signature());
    };
    let signed_by =
        apps.iter().find(|app| sign::verify_body(app.token.api_key.expose(), &body, signature));
    let Some(app) = signed_by else {
        warn!(bytes = body.len(), "UploadThing webhook with a bad signature refused");
        return Err(invalid_signature());
    };

    match header("uploadthing-hook") {
        Some("callback") => callback(&state, app, &body).await,
        Some("error") => {
            let hook: ErrorHook = serde_json::from_slice(&body)
                .map_err(|_| invalid_payload("an error hook needs fileKey and error"))?;
            warn!(store = %app.store, file_key = %hook.file_key, error = %hook.error,
                "UploadThing reports a failed upload");
            state
                .twinstore
                .catalog()
                .record_uploadthing_error(&app.store, &hook.file_key, &hook.error)
                .await
                .map_err(|err| ApiError::from(crate::Error::from(err)))?;
            Ok(Json(serde_json::Value::Null).into_response())
        }
        other => {
            warn!(store = %app.store, hook = ?other, "unknown UploadThing hook refused");
            Err(invalid_payload("unknown uploadthing-hook"))
        }
    }
}

async fn callback(
    state: &AppState,
    app: &UploadThingApp,
    body: &[u8],
) -> Result<Response, ApiError> {
    let payload: Callback = serde_json::from_slice(body)
        .map_err(|_| invalid_payload("a callback needs a file with a key and a name"))?;
    let file = payload.file;
    if !key::is_valid_file_key(&file.key) {
        warn!(store = %app.store, "UploadThing webhook with an invalid file key refused");
        return Err(invalid_payload("invalid file key"));
    }
    for url in [&file.url, &file.app_url, &file.ufs_url].into_iter().flatten() {
        if !app.is_file_host_url(url) {
            warn!(store = %app.store, key = %file.key, %url,
                "UploadThing webhook pointing at another host refused");
            return Err(invalid_payload("a file URL is not on the app's file host"));
        }
    }
    let job = Job::Ingest {
        store: app.store.clone(),
        key: file.key.clone(),
        name: file.name,
        size: file.size,
        file_hash: file.file_hash.filter(|hash| !hash.is_empty()),
    };
    state.twinstore.enqueue_ingest(&job).await.map_err(ApiError::from)?;
    info!(store = %app.store, key = %file.key, "UploadThing upload queued for ingest");
    Ok((StatusCode::OK, Json(serde_json::Value::Null)).into_response())
}

/// The UploadThing apps of the configured stores (tokens that do not parse are left
/// out: opening the store reports them).
fn uploadthing_apps(state: &AppState) -> Vec<UploadThingApp> {
    let stores = &state.twinstore.config().stores;
    stores
        .iter()
        .filter(|(_, config)| config.kind == StoreKind::UploadThing)
        .filter_map(|(name, config)| UploadThingApp::from_config(name, config).ok())
        .collect()
}
