//! The HTTP service: `twinstore serve`.
//!
//! JSON under `/v1`, on axum. Routes are registered through utoipa's router, so the
//! OpenAPI document at `/v1/openapi.json` is generated from the same list that serves
//! requests. Uploads and downloads stream; other requests have a time limit.

mod auth;
mod error;
mod files;
mod hooks;
mod metrics;
mod ops;
mod renditions;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{Method, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use tokio_util::sync::CancellationToken;
use tower::limit::ConcurrencyLimitLayer;
use tower_http::timeout::TimeoutLayer;
use tracing::{info, warn};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use auth::Guard;
pub use error::ApiError;
pub(crate) use error::ErrorBody;
pub use metrics::HttpMetrics;

use crate::config::{Secret, ServiceSettings};
use crate::engine::Twinstore;

/// What every handler shares.
#[derive(Debug, Clone)]
pub struct AppState {
    twinstore: Arc<Twinstore>,
    settings: Arc<ServiceSettings>,
    guard: Arc<Guard>,
    metrics: Arc<HttpMetrics>,
    /// The service's base URL as clients reach it, for signed URLs.
    public_url: Arc<str>,
}

#[derive(OpenApi)]
#[openapi(
    info(title = "twinstore", description = "Every file in a primary and a backup store."),
    tags((name = "files", description = "Upload, read and remove files")),
    components(schemas(ErrorBody))
)]
struct ApiDoc;

/// Why the service could not run.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The listen address is not valid.
    #[error("cannot use the listen address {address:?}")]
    Address {
        /// The address given.
        address: String,
        /// Why.
        #[source]
        source: std::net::AddrParseError,
    },
    /// The socket could not be opened.
    #[error("cannot listen on {address}")]
    Bind {
        /// The address.
        address: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The server failed.
    #[error("the HTTP server failed")]
    Serve(#[source] std::io::Error),
}

/// The application state for `twinstore`, with `settings`.
pub fn state(twinstore: Arc<Twinstore>, settings: ServiceSettings, local: SocketAddr) -> AppState {
    let url_secret = settings.url_secret.clone().unwrap_or_else(|| {
        let random = format!("{}{}", uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
        Secret::new(random)
    });
    let guard = Guard::new(settings.api_keys.clone(), settings.public_reads, url_secret);
    let public_url = settings.public_url.clone().unwrap_or_else(|| format!("http://{local}"));
    AppState {
        twinstore,
        settings: Arc::new(settings),
        guard: Arc::new(guard),
        metrics: Arc::new(HttpMetrics::default()),
        public_url: public_url.into(),
    }
}

/// The routes, and the OpenAPI document generated from them.
pub fn router(state: AppState) -> (Router, utoipa::openapi::OpenApi) {
    // Uploads and downloads stream for as long as they need; the rest has a time limit.
    let streaming = OpenApiRouter::new()
        .routes(routes!(files::upload, files::list))
        .routes(routes!(files::content))
        .routes(routes!(renditions::content))
        .layer(DefaultBodyLimit::max(state.settings.max_upload_bytes as usize));
    let (api, openapi) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(files::metadata, files::delete))
        .routes(routes!(files::url))
        .routes(routes!(renditions::list))
        .routes(routes!(ops::health))
        .routes(routes!(hooks::uploadthing))
        .layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            state.settings.request_timeout,
        ))
        .merge(streaming)
        .split_for_parts();

    let document = Arc::new(openapi.clone());
    let router = api
        .route("/metrics", axum::routing::get(ops::metrics))
        .route(
            "/v1/openapi.json",
            axum::routing::get(move || {
                let document = document.clone();
                async move { axum::Json((*document).clone()) }
            }),
        )
        .layer(middleware::from_fn_with_state(state.clone(), authorize))
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        .layer(ConcurrencyLimitLayer::new(state.settings.max_concurrent_requests))
        .with_state(state);
    (router, openapi)
}

/// A bound, not yet running, HTTP service.
#[derive(Debug)]
pub struct Server {
    listener: tokio::net::TcpListener,
    state: AppState,
    grace: Duration,
}

impl Server {
    /// Opens the socket.
    ///
    /// With no API key configured the service is open to anyone who can reach it, so
    /// it listens on loopback only, whatever address was asked for.
    pub async fn bind(
        twinstore: Arc<Twinstore>,
        settings: ServiceSettings,
    ) -> Result<Self, ServeError> {
        let mut address: SocketAddr = settings
            .listen
            .parse()
            .map_err(|source| ServeError::Address { address: settings.listen.clone(), source })?;
        if settings.api_keys.is_empty() && !address.ip().is_loopback() {
            warn!(requested = %address, "no API key is configured: listening on 127.0.0.1 only");
            address.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
        }
        let listener = tokio::net::TcpListener::bind(address)
            .await
            .map_err(|source| ServeError::Bind { address, source })?;
        let local = listener.local_addr().map_err(ServeError::Serve)?;
        if settings.api_keys.is_empty() {
            info!(address = %local, "listening without API keys (loopback only)");
        } else {
            info!(address = %local, public_reads = settings.public_reads, "listening");
        }
        let grace = settings.shutdown_grace;
        Ok(Self { listener, state: state(twinstore, settings, local), grace })
    }

    /// The address the service listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("a bound socket has an address")
    }

    /// Serves until `shutdown` is cancelled, then stops accepting connections and
    /// lets requests in flight finish within the grace period. An upload cut off
    /// then records nothing: a file is recorded only once both writes are done.
    pub async fn run(self, shutdown: CancellationToken) -> Result<(), ServeError> {
        let (router, _) = router(self.state);
        let stopping = shutdown.clone();
        let server = axum::serve(self.listener, router)
            .with_graceful_shutdown(async move { stopping.cancelled().await });
        let server = tokio::spawn(async move { server.await });

        shutdown.cancelled().await;
        info!(grace = ?self.grace, "shutting down: finishing requests in flight");
        match tokio::time::timeout(self.grace, server).await {
            Ok(Ok(result)) => result.map_err(ServeError::Serve),
            Ok(Err(_)) => Ok(()),
            Err(_) => {
                warn!("requests still running after the grace period were cut off");
                Ok(())
            }
        }
    }
}

/// Binds and serves until `shutdown` is cancelled (see [`Server`]).
pub async fn serve(
    twinstore: Arc<Twinstore>,
    settings: ServiceSettings,
    shutdown: CancellationToken,
) -> Result<(), ServeError> {
    Server::bind(twinstore, settings).await?.run(shutdown).await
}

/// Lets a request through when its key (or, for a download, its signature) allows.
async fn authorize(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let path = request.uri().path();
    // The UploadThing webhook is checked by its own signature instead of a key.
    let open = path == "/metrics"
        || path == "/v1/health"
        || path == "/v1/openapi.json"
        || path == "/v1/hooks/uploadthing";
    let key = request.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    let reading = matches!(*request.method(), Method::GET | Method::HEAD);

    let allowed = open
        || if reading { state.guard.may_read(key) } else { state.guard.may_write(key) }
        || (reading && signed_download(&state, &request));
    if !allowed {
        return ApiError::unauthorized().into_response();
    }
    next.run(request).await
}

/// Whether `request` is a download with a valid signature.
fn signed_download(state: &AppState, request: &Request) -> bool {
    let Some(id) = request
        .uri()
        .path()
        .strip_prefix("/v1/files/")
        .and_then(|rest| rest.strip_suffix("/content"))
    else {
        return false;
    };
    let query = request.uri().query().unwrap_or("");
    let Ok(signed) = serde_urlencoded_query(query) else { return false };
    let (Some(expires), Some(signature)) = (signed.expires, signed.signature) else {
        return false;
    };
    let now = chrono::Utc::now().timestamp();
    state.guard.signature_valid(id, expires, &signature, now)
}

fn serde_urlencoded_query(query: &str) -> Result<files::SignedQuery, ()> {
    axum::extract::Query::<files::SignedQuery>::try_from_uri(
        &format!("/?{query}").parse().map_err(|_| ())?,
    )
    .map(|query| query.0)
    .map_err(|_| ())
}

/// One log line per request (5xx at warn, the rest at info), and the request counters.
async fn observe(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|path| path.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let request_id = uuid::Uuid::now_v7();
    let started = std::time::Instant::now();

    let response = next.run(request).await;

    let status = response.status();
    let elapsed: Duration = started.elapsed();
    let bytes_out = if route.ends_with("/content") {
        0 // Counted as the body streams.
    } else {
        response
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse().ok())
            .unwrap_or(0)
    };
    state.metrics.record(&route, method.as_str(), status.as_u16(), 0, bytes_out);
    let millis = elapsed.as_millis() as u64;
    if status.is_server_error() {
        warn!(%request_id, %method, route, status = status.as_u16(), millis, "request");
    } else {
        info!(%request_id, %method, route, status = status.as_u16(), millis, "request");
    }
    response
}
