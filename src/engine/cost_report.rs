//! The cost report: what each store costs a month, and what a migration would cost.

use chrono::Days;
use serde::Serialize;

use super::Twinstore;
use crate::costs::migration_estimate;
use crate::costs::{MigrationEstimate, PRICES_READ_ON, Prices, StoreCost, Usage};
use crate::error::{Error, Result};

/// The window of request counts priced as one month.
const MONTH_DAYS: u64 = 30;

/// What `twinstore costs` shows.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CostReport {
    /// When the built-in prices were read from the providers' pages.
    pub prices_read_on: &'static str,
    /// Each store in use: what it holds, the requests and egress twinstore made or
    /// served over the last 30 days, and the monthly cost.
    pub stores: Vec<StoreCostLine>,
    /// The monthly cost of the two stores in a role: keeping two copies.
    pub monthly_usd: f64,
    /// What moving the primary's files to each other configured store would cost.
    pub migrations: Vec<MigrationOption>,
}

/// One store's line in the report.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StoreCostLine {
    /// `primary`, `backup`, or none for a store out of role.
    pub role: Option<&'static str>,
    /// Usage, prices and estimate.
    #[serde(flatten)]
    pub cost: StoreCost,
}

/// What a migration to one store would cost.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MigrationOption {
    /// The store moved to.
    pub to: String,
    /// Its cost.
    pub estimate: MigrationEstimate,
}

impl Twinstore {
    /// Prices each store's storage and the requests and egress counted over the last
    /// 30 days, from the built-in price table with the configuration's overrides.
    pub async fn costs(&self) -> Result<CostReport> {
        self.flush_usage().await?;
        let roles = self.refresh_roles().await?;
        let since = crate::catalog::now().date_naive() - Days::new(MONTH_DAYS);
        let counts = self.catalog.usage_since(since).await?;
        let stored = self.catalog.stored_bytes_by_store().await?;

        let mut report = CostReport {
            prices_read_on: PRICES_READ_ON,
            stores: Vec::new(),
            monthly_usd: 0.0,
            migrations: Vec::new(),
        };
        for name in self.stores_in_use().await? {
            let (bytes, objects) = stored
                .iter()
                .find(|(store, _, _)| *store == name)
                .map(|(_, bytes, objects)| (*bytes, *objects))
                .unwrap_or_default();
            let requests = counts
                .iter()
                .find(|(store, _)| *store == name)
                .map(|(_, counts)| *counts)
                .unwrap_or_default();
            let usage = Usage::from_counts(bytes, objects, &requests);
            let cost = StoreCost::new(&name, usage, self.prices_of(&name)?);
            let role = if name == roles.primary {
                Some("primary")
            } else if name == roles.backup {
                Some("backup")
            } else {
                None
            };
            if role.is_some() {
                report.monthly_usd += cost.estimate.total_usd;
            }
            report.stores.push(StoreCostLine { role, cost });
        }

        let (bytes, objects) = stored
            .iter()
            .find(|(store, _, _)| *store == roles.primary)
            .map(|(_, bytes, objects)| (*bytes, *objects))
            .unwrap_or_default();
        let source = self.prices_of(&roles.primary)?;
        for to in self.stores.keys().filter(|n| **n != roles.primary && **n != roles.backup) {
            let estimate = migration_estimate(bytes, objects, &source, &self.prices_of(to)?);
            report.migrations.push(MigrationOption { to: to.clone(), estimate });
        }
        Ok(report)
    }

    /// The prices of store `name`: the built-in table of its kind, with the
    /// configuration's overrides for the store's name, else for its kind.
    fn prices_of(&self, name: &str) -> Result<Prices> {
        let kind = self.stores[name].kind().as_str();
        let overrides = self.config.prices.get(name).or_else(|| self.config.prices.get(kind));
        Prices::resolve(kind, overrides)
            .map_err(|err| Error::Invalid { message: format!("prices of store {name}: {err}") })
    }
}
