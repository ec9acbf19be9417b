//! The HTTP calls: REST (`/v6/*`), the ingest PUT and the file host, with error mapping
//! and retries.
//!
//! Retry reads the error: 429, 5xx, timeouts and refused connections are retried with
//! backoff and jitter (a `Retry-After` of a few seconds is honoured), everything else
//! fails at once. Only calls that are safe to repeat are retried (REST calls, reads,
//! deletes); the ingest PUT streams a body and is not, the job that called it retries.
//! Few retries: the engine fails over to the other copy on its own, so a store that is
//! down must fail fast.

use std::time::Duration;

use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tracing::warn;

use super::UploadThingApp;
use crate::store::StoreError;

/// Retries after the first attempt of a call that is safe to repeat.
const MAX_RETRIES: u32 = 2;
const BACKOFF_BASE: Duration = Duration::from_millis(250);
const BACKOFF_CAP: Duration = Duration::from_secs(2);
/// The longest `Retry-After` waited for; longer ones fail the call (the job retries).
const MAX_RETRY_AFTER: Duration = Duration::from_secs(5);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// The time limit of REST calls (not of streamed reads and uploads).
const REST_TIMEOUT: Duration = Duration::from_secs(30);
/// The SDK version sent in `x-uploadthing-version`: the one the reference notes read.
const SDK_VERSION: &str = "7.7.4";

/// What went wrong in one call, before it is turned into a [`StoreError`].
#[derive(Debug, thiserror::Error)]
pub(super) enum CallError {
    /// No answer: connection refused, reset, timed out.
    #[error("the request failed")]
    Request(#[source] reqwest::Error),
    /// An answer with an error status.
    #[error("HTTP {status}: {message}")]
    Status {
        /// The status.
        status: u16,
        /// The `error` or `message` field of the body, or its start.
        message: String,
    },
    /// An answer that is not what the API documents.
    #[error("the answer could not be read")]
    Decode(#[source] reqwest::Error),
    /// The answer is readable but says something impossible.
    #[error("{0}")]
    Unexpected(String),
}

impl CallError {
    fn status(&self) -> Option<u16> {
        match self {
            CallError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    fn is_transient(&self) -> bool {
        match self {
            CallError::Request(err) => err.is_timeout() || err.is_connect() || err.is_request(),
            CallError::Status { status, .. } => *status == 429 || *status >= 500,
            _ => false,
        }
    }

    /// The store error for this failure of `operation` on `key`.
    pub(super) fn into_store_error(
        self,
        store: &str,
        operation: &'static str,
        key: &str,
    ) -> StoreError {
        let (store, key) = (store.to_owned(), key.to_owned());
        match self.status() {
            Some(status @ (401 | 403)) => {
                StoreError::Unauthorized { store, operation, key, status }
            }
            Some(404) => StoreError::NotFound { store, key },
            Some(413) => StoreError::TooLarge { store, key },
            _ => StoreError::Http { store, operation, key, source: Box::new(self) },
        }
    }
}

/// An HTTP client for one UploadThing app.
#[derive(Debug, Clone)]
pub(super) struct Client {
    http: reqwest::Client,
}

impl Client {
    pub(super) fn new() -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder().connect_timeout(CONNECT_TIMEOUT).build()?;
        Ok(Self { http })
    }

    /// `POST {api_url}{path}` with a JSON body and the API key, retried when transient.
    pub(super) async fn rest<T: DeserializeOwned>(
        &self,
        app: &UploadThingApp,
        path: &str,
        body: &impl Serialize,
    ) -> Result<T, CallError> {
        let url = format!("{}{path}", app.api_url);
        let response = self
            .send(|| {
                self.http
                    .post(&url)
                    .timeout(REST_TIMEOUT)
                    .header("x-uploadthing-api-key", app.token.api_key.expose())
                    .header("x-uploadthing-version", SDK_VERSION)
                    .header("x-uploadthing-be-adapter", "server-sdk")
                    .json(body)
            })
            .await?;
        response.json().await.map_err(CallError::Decode)
    }

    /// A `GET` or `HEAD` of a file URL, retried when transient (before any byte of the
    /// body is taken).
    pub(super) async fn file(
        &self,
        method: Method,
        url: &str,
        range: Option<(u64, u64)>,
    ) -> Result<Response, CallError> {
        self.send(|| {
            let request = self.http.request(method.clone(), url);
            match range {
                Some((start, end)) => {
                    request.header(reqwest::header::RANGE, format!("bytes={start}-{end}"))
                }
                None => request,
            }
        })
        .await
    }

    /// The ingest `PUT` of one file, once (its body cannot be replayed).
    pub(super) async fn ingest(
        &self,
        url: &str,
        form: reqwest::multipart::Form,
    ) -> Result<Response, CallError> {
        let request = self
            .http
            .put(url)
            .header(reqwest::header::RANGE, "bytes=0-")
            .header("x-uploadthing-version", SDK_VERSION)
            .multipart(form);
        let response = request.send().await.map_err(CallError::Request)?;
        check(response).await
    }

    async fn send(&self, build: impl Fn() -> RequestBuilder) -> Result<Response, CallError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let outcome = match build().send().await {
                Ok(response) => {
                    let retry_after = retry_after(&response);
                    check(response).await.map_err(|err| (err, retry_after))
                }
                Err(err) => Err((CallError::Request(err), None)),
            };
            let (err, retry_after) = match outcome {
                Ok(response) => return Ok(response),
                Err(failure) => failure,
            };
            if !err.is_transient() || attempt > MAX_RETRIES {
                return Err(err);
            }
            let seed = uuid::Uuid::new_v4().as_u128() as u64;
            let delay = match retry_after {
                Some(delay) if delay > MAX_RETRY_AFTER => return Err(err),
                Some(delay) => delay,
                None => crate::jobs::backoff(attempt, BACKOFF_BASE, BACKOFF_CAP, seed),
            };
            warn!(attempt, retry_in = ?delay, error = %err, "UploadThing call will retry");
            tokio::time::sleep(delay).await;
        }
    }
}

fn retry_after(response: &Response) -> Option<Duration> {
    if response.status() != StatusCode::TOO_MANY_REQUESTS {
        return None;
    }
    let value = response.headers().get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// The response when its status is a success, else its error with the body's message.
async fn check(response: Response) -> Result<Response, CallError> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let text = response.text().await.unwrap_or_default();
    let message = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|json| {
            let field = json.get("error").or_else(|| json.get("message"))?;
            field.as_str().map(str::to_owned)
        })
        .unwrap_or_else(|| text.chars().take(200).collect());
    Err(CallError::Status { status: status.as_u16(), message })
}
