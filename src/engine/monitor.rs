//! The health monitor: probes each store on an interval, records the probes, and
//! alerts when a store changes state.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::Twinstore;
use crate::store::StoreHealth;

/// Attempts to deliver one alert before it is given up (and logged).
const ALERT_ATTEMPTS: u32 = 4;

/// What is POSTed to the alert webhook when a store goes down or comes back.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Alert {
    /// A one-line summary; Slack and compatible webhooks show this field.
    pub text: String,
    /// The store.
    pub store: String,
    /// Its role: `primary` or `backup`.
    pub role: &'static str,
    /// `down` or `up`.
    pub state: &'static str,
    /// Why the probe failed.
    pub error: Option<String>,
    /// How long the probe took.
    pub latency_ms: u64,
}

/// Probes the stores on an interval, as part of a long-running process.
#[derive(Debug)]
pub struct HealthMonitor {
    twinstore: Arc<Twinstore>,
    http: reqwest::Client,
    /// The last state seen per store: true when available.
    last_seen: HashMap<String, bool>,
}

impl HealthMonitor {
    /// A monitor over `twinstore`, alerting to its configured webhook.
    pub fn new(twinstore: Arc<Twinstore>) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .expect("the HTTP client builds");
        Self { twinstore, http, last_seen: HashMap::new() }
    }

    /// Probes every interval until `shutdown` is cancelled.
    pub async fn run(mut self, shutdown: CancellationToken) {
        let interval = self.twinstore.config.health_interval;
        info!(interval = ?interval, "health monitor started");
        loop {
            self.probe().await;
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(interval) => {}
            }
        }
    }

    /// Probes both stores once, records the probes, and alerts on a change of state.
    /// The first probe of a store alerts only when it is down.
    pub async fn probe(&mut self) -> super::StorageHealth {
        let health = self.twinstore.check_storage_health().await;
        for (role, store) in [("primary", &health.primary), ("backup", &health.backup)] {
            if let Err(err) = self.twinstore.catalog.record_probe(store).await {
                warn!(store = %store.name, error = %err, "cannot record a health probe");
            }
            let before = self.last_seen.insert(store.name.clone(), store.available);
            let changed = match before {
                Some(was_available) => was_available != store.available,
                None => !store.available,
            };
            if changed {
                self.alert(role, store).await;
            }
            // A real round trip is the best evidence there is: reads and replication
            // stop skipping a store that answers, and start skipping one that does not.
            if store.available {
                self.twinstore.breaker.record_success(&store.name);
            } else {
                self.twinstore.breaker.record_failure(&store.name);
            }
            // A store that is back: the jobs that failed on it need not wait out their
            // backoff (after a long outage that can be minutes).
            if changed && store.available && before.is_some() {
                match self.twinstore.catalog.expedite_retries().await {
                    Ok(count) => {
                        info!(store = %store.name, jobs = count, "retries made due now");
                        self.twinstore.jobs_queued.notify_one();
                    }
                    Err(err) => warn!(error = %err, "cannot expedite retries"),
                }
            }
        }
        if let Err(err) = self.twinstore.flush_usage().await {
            warn!(error = %err, "cannot record store usage");
        }
        health
    }

    async fn alert(&self, role: &'static str, store: &StoreHealth) {
        let state = if store.available { "up" } else { "down" };
        let mut text =
            format!("twinstore: the {role} store {} ({}) is {state}", store.name, store.kind);
        if let Some(error) = &store.error {
            text.push_str(&format!(": {error}"));
        }
        if store.available {
            info!(store = %store.name, role, "store is up again");
        } else {
            let error = store.error.as_deref().unwrap_or_default();
            warn!(store = %store.name, role, error, "store is down");
        }

        let Some(webhook) = &self.twinstore.config.alert_webhook else { return };
        let alert = Alert {
            text,
            store: store.name.clone(),
            role,
            state,
            error: store.error.clone(),
            latency_ms: store.latency_ms,
        };
        // Delivered in the background, so that a slow webhook does not delay probes.
        let (http, url) = (self.http.clone(), webhook.expose().to_owned());
        tokio::spawn(async move { deliver(&http, &url, &alert).await });
    }
}

/// POSTs `alert`, retrying with backoff on errors and non-2xx answers.
async fn deliver(http: &reqwest::Client, url: &str, alert: &Alert) {
    let body = serde_json::to_vec(alert).expect("alerts serialize");
    for attempt in 1..=ALERT_ATTEMPTS {
        let sent = http
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.clone())
            .send()
            .await;
        match sent {
            Ok(response) if response.status().is_success() => return,
            Ok(response) => {
                warn!(attempt, status = %response.status(), store = %alert.store, "alert refused")
            }
            // The URL holds the webhook's credentials: log the error without it.
            Err(err) => {
                warn!(attempt, error = %err.without_url(), store = %alert.store, "alert not sent")
            }
        }
        if attempt < ALERT_ATTEMPTS {
            tokio::time::sleep(Duration::from_millis(500 << attempt)).await;
        }
    }
    warn!(store = %alert.store, state = alert.state, "alert given up");
}
