//! The health round trip: write, read back and delete a small canary object.

use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::TryStreamExt;
use serde::Serialize;

use super::{Store, StoreError};

/// The prefix under which canary objects are written. Listing and verification skip it.
pub const CANARY_PREFIX: &str = ".twinstore/health/";

/// One store's availability, from a real round trip.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StoreHealth {
    /// The store's name.
    pub name: String,
    /// The kind of backend.
    pub kind: &'static str,
    /// Whether the round trip worked within the time allowed.
    pub available: bool,
    /// How long the round trip took, in milliseconds.
    pub latency_ms: u64,
    /// Why the store is not available.
    pub error: Option<String>,
}

/// Puts a small canary object into `store`, reads it back, compares it, and deletes it.
///
/// A store counts as available only when all three steps work within `timeout`. A
/// store that offers a cheap probe ([`Store::probe`]) is checked with it instead.
pub async fn round_trip(store: &dyn Store, timeout: Duration) -> StoreHealth {
    let started = Instant::now();
    let outcome = tokio::time::timeout(timeout, canary(store)).await;
    let latency_ms = started.elapsed().as_millis() as u64;

    let error = match outcome {
        Ok(Ok(())) => None,
        Ok(Err(err)) => Some(error_chain(&err)),
        Err(_) => Some(format!("no answer within {timeout:?}")),
    };
    StoreHealth {
        name: store.name().to_owned(),
        kind: store.kind().as_str(),
        available: error.is_none(),
        latency_ms,
        error,
    }
}

async fn canary(store: &dyn Store) -> Result<(), CanaryError> {
    if let Some(probed) = store.probe().await {
        return Ok(probed?);
    }
    let key = format!("{CANARY_PREFIX}{}", uuid::Uuid::now_v7());
    let payload = Bytes::from(format!("twinstore canary {key}"));

    let body = futures::stream::once(std::future::ready(Ok(payload.clone())));
    store.put(&key, Box::pin(body)).await?;

    let read = store.get(&key, None).await?;
    let bytes: Vec<Bytes> = read.body.try_collect().await.map_err(CanaryError::Read)?;
    let delete_result = store.delete(&key).await;

    if bytes.concat() != payload {
        return Err(CanaryError::Mismatch);
    }
    delete_result?;
    Ok(())
}

#[derive(Debug, thiserror::Error)]
enum CanaryError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("reading the canary back failed")]
    Read(#[source] std::io::Error),
    #[error("the canary read back differs from what was written")]
    Mismatch,
}

/// Formats an error with its causes, `outer: inner: innermost`.
pub(crate) fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
