//! API errors: a stable machine code and one HTTP status each, chosen here, returned
//! as JSON. Internal details go to the log only.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tracing::{error, warn};

use crate::error::Error;

/// An error as the API returns it: `{ "code": ..., "message": ... }`.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct ErrorBody {
    /// A stable code for programs, such as `file_not_found`.
    code: &'static str,
    /// A sentence for people.
    message: String,
}

impl ApiError {
    /// An error with its status, code and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into() }
    }

    /// 400: the request is malformed.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 401: a key is missing or wrong.
    pub fn unauthorized() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", "a valid API key is required")
    }

    /// 413: the upload is larger than allowed.
    pub fn too_large(limit: u64) -> Self {
        let message = format!("uploads are limited to {limit} bytes");
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, "upload_too_large", message)
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }
}

impl From<Error> for ApiError {
    fn from(err: Error) -> Self {
        let detail = crate::store::error_chain(&err);
        let (status, code, message) = match &err {
            Error::FileNotFound { id } => {
                (StatusCode::NOT_FOUND, "file_not_found", format!("no file with id {id}"))
            }
            Error::RenditionNotFound { id, name } => (
                StatusCode::NOT_FOUND,
                "rendition_not_found",
                format!("file {id} has no rendition {name}"),
            ),
            Error::Input(_) => {
                (StatusCode::BAD_REQUEST, "invalid_upload", "the upload could not be read".into())
            }
            Error::Invalid { message } => {
                (StatusCode::BAD_REQUEST, "invalid_request", message.clone())
            }
            Error::PrimaryFailed { .. } => (
                StatusCode::SERVICE_UNAVAILABLE,
                "primary_unavailable",
                "the primary store did not accept the file; nothing was stored".into(),
            ),
            Error::NoReadableCopy { .. } => (
                StatusCode::SERVICE_UNAVAILABLE,
                "no_readable_copy",
                "no copy of the file can be read right now".into(),
            ),
            Error::Quarantined { signature } => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "content_quarantined",
                format!("this content was found infected ({signature}); nothing was stored"),
            ),
            Error::Infected { .. } => (
                StatusCode::GONE,
                "file_infected",
                "the file was found infected and removed".into(),
            ),
            Error::NotScanned { status, .. } => (
                StatusCode::CONFLICT,
                "scan_pending",
                format!("the file is not known clean yet (scan {status})"),
            ),
            Error::IncompleteDelete { .. } => (
                StatusCode::SERVICE_UNAVAILABLE,
                "incomplete_delete",
                "some copies could not be removed; try again".into(),
            ),
            _ => {
                (StatusCode::INTERNAL_SERVER_ERROR, "internal", "an internal error occurred".into())
            }
        };
        if status.is_server_error() {
            error!(code, error = %detail, "request failed");
        } else {
            warn!(code, error = %detail, "request refused");
        }
        Self { status, code, message }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody { code: self.code, message: self.message };
        (self.status, Json(body)).into_response()
    }
}
