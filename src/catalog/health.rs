//! Health probes recorded in the catalog.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::model::{from_text, now, to_text};
use super::{Catalog, CatalogError, column};
use crate::store::StoreHealth;

/// Probes kept per store; older ones are removed as new ones arrive.
const PROBES_KEPT: i64 = 100;

/// One recorded probe.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthProbe {
    /// The store.
    pub store: String,
    /// Whether the round trip worked.
    pub available: bool,
    /// How long it took.
    pub latency_ms: u64,
    /// Why it failed.
    pub error: Option<String>,
    /// When it ran.
    pub probed_at: DateTime<Utc>,
}

fn query_error(operation: &'static str) -> impl Fn(sqlx::Error) -> CatalogError {
    move |source| CatalogError::Query { operation, source }
}

impl Catalog {
    /// Records a probe of one store, keeping only the most recent ones.
    pub async fn record_probe(&self, health: &StoreHealth) -> Result<(), CatalogError> {
        sqlx::query(
            "INSERT INTO health_probe (id, store, available, latency_ms, error, probed_at)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(uuid::Uuid::now_v7().to_string())
        .bind(&health.name)
        .bind(i32::from(health.available))
        .bind(health.latency_ms as i64)
        .bind(&health.error)
        .bind(to_text(now()))
        .execute(&self.pool)
        .await
        .map_err(query_error("record a probe"))?;

        sqlx::query(
            "DELETE FROM health_probe WHERE store = $1 AND id NOT IN
               (SELECT id FROM health_probe WHERE store = $2 ORDER BY probed_at DESC LIMIT $3)",
        )
        .bind(&health.name)
        .bind(&health.name)
        .bind(PROBES_KEPT)
        .execute(&self.pool)
        .await
        .map_err(query_error("trim probes"))?;
        Ok(())
    }

    /// The last `limit` probes of `store`, newest first.
    pub async fn recent_probes(
        &self,
        store: &str,
        limit: u32,
    ) -> Result<Vec<HealthProbe>, CatalogError> {
        let rows = sqlx::query(
            "SELECT store, available, latency_ms, error, probed_at FROM health_probe
             WHERE store = $1 ORDER BY probed_at DESC LIMIT $2",
        )
        .bind(store)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(query_error("read probes"))?;
        rows.iter()
            .map(|row| {
                let probed_at: String = column(row, "probed_at")?;
                Ok(HealthProbe {
                    store: column(row, "store")?,
                    available: column::<i32>(row, "available")? != 0,
                    latency_ms: column::<i64>(row, "latency_ms")? as u64,
                    error: column(row, "error")?,
                    probed_at: from_text(&probed_at).unwrap_or_else(now),
                })
            })
            .collect()
    }
}
