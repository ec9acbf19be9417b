//! What each store costs a month: storage, requests and egress, priced from the
//! providers' public list prices.
//!
//! The built-in prices ([`Prices::builtin`]) were read on 2026-12-03
//! ([`PRICES_READ_ON`]). They are list prices: no discounts, taxes or credits, and
//! providers change them. Each table carries its source, its date and how far it was
//! confirmed ([`Verification`]); the UploadThing plans could not be confirmed and say
//! so. The configuration can override any figure ([`PriceOverrides`],
//! [`Prices::resolve`]), and must for a self-hosted store, whose kind `s3` would
//! otherwise be priced as AWS.
//!
//! Usage comes from two places: what the catalog records as stored (bytes and objects
//! per store), and the requests and bytes counted by a
//! [`MeteredStore`](crate::store::MeteredStore). An [`estimate`] is for one month: it
//! prices the stored bytes as held the whole month and the requests as one month's,
//! with each provider's monthly free allowance taken off.

mod prices;
#[cfg(test)]
mod tests;

use serde::{Deserialize, Serialize};

pub use prices::{BUILTIN_KINDS, PRICES_READ_ON, PriceOverrides, Prices, Verification};

use crate::store::RequestCounts;

/// Bytes in the GB that prices are quoted per: 2^30, as AWS bills it.
pub const BYTES_PER_GB: f64 = (1u64 << 30) as f64;

/// Keys returned by one list request: S3's page size, which R2 and the S3-compatible
/// servers follow.
pub const LIST_PAGE_SIZE: u64 = 1000;

/// Why prices could not be settled.
#[derive(Debug, thiserror::Error)]
pub enum CostsError {
    /// No built-in table for the kind, and the configuration gives none.
    #[error("no built-in prices for {kind:?}; set them under [prices] in the configuration")]
    UnknownKind {
        /// The store kind, or the `based_on` table asked for.
        kind: String,
    },

    /// A configured figure is negative, infinite or not a number.
    #[error("price {field} is {value}; it must be a finite amount, zero or more")]
    InvalidPrice {
        /// The field's TOML name.
        field: &'static str,
        /// The value given.
        value: f64,
    },
}

/// One store's usage over a month.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Usage {
    /// Bytes held in the store.
    pub bytes_stored: u64,
    /// Objects held in the store.
    pub objects: u64,
    /// Write requests (PUT, COPY, POST).
    pub write_requests: u64,
    /// Read requests (GET and HEAD).
    pub read_requests: u64,
    /// List requests, one per page of keys.
    pub list_requests: u64,
    /// Delete requests.
    pub delete_requests: u64,
    /// Bytes read out of the store.
    pub egress_bytes: u64,
}

impl Usage {
    /// The usage of a store holding `bytes_stored` in `objects`, that served the
    /// requests in `counts`: reads are GETs and HEADs, egress is the bytes read.
    pub fn from_counts(bytes_stored: u64, objects: u64, counts: &RequestCounts) -> Usage {
        Usage {
            bytes_stored,
            objects,
            write_requests: counts.puts,
            read_requests: counts.gets.saturating_add(counts.heads),
            list_requests: counts.lists,
            delete_requests: counts.deletes,
            egress_bytes: counts.bytes_read,
        }
    }
}

/// What a store costs for one month, in US dollars.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CostEstimate {
    /// The GB stored, before any free allowance.
    pub storage_gb: f64,
    /// The plan's fixed monthly fee.
    pub plan_usd: f64,
    /// Storage beyond the free allowance.
    pub storage_usd: f64,
    /// Requests beyond the free allowances.
    pub requests_usd: f64,
    /// Egress beyond the free allowance.
    pub egress_usd: f64,
    /// The sum of the above.
    pub total_usd: f64,
    /// Whether the store holds more than the plan allows; the provider will refuse
    /// uploads or ask for a bigger plan.
    pub over_storage_limit: bool,
}

/// The cost of one month of `usage` at `prices`, free allowances taken off.
///
/// Requests are priced as counted. Backend retries are not seen by the counters, and a
/// large object goes up in several requests (one per 8 MiB part) but counts as one
/// write, so the request figure is a floor for stores of large files.
pub fn estimate(usage: &Usage, prices: &Prices) -> CostEstimate {
    price(usage, prices, true)
}

/// What copying every object of one store into another costs, on both sides.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MigrationEstimate {
    /// At the source: listing, reading and egress.
    pub source: CostEstimate,
    /// At the destination: writing.
    pub destination: CostEstimate,
    /// Both sides together.
    pub total_usd: f64,
}

/// What copying `bytes` in `objects` from a store priced `from` to one priced `to`
/// costs: a list of the source, one read per object and the egress at the source, one
/// write per object at the destination.
///
/// No free allowance is taken off, as if the month's were spent on ordinary traffic,
/// so the figure is an upper bound for the requests and egress. It does not include
/// storing the copies afterwards: that is the destination's ordinary [`estimate`].
pub fn migration_estimate(
    bytes: u64,
    objects: u64,
    from: &Prices,
    to: &Prices,
) -> MigrationEstimate {
    let reads = Usage {
        read_requests: objects,
        list_requests: objects.div_ceil(LIST_PAGE_SIZE).max(1),
        egress_bytes: bytes,
        ..Usage::default()
    };
    let writes = Usage { write_requests: objects, ..Usage::default() };

    let source = without_fees(price(&reads, from, false));
    let destination = without_fees(price(&writes, to, false));
    MigrationEstimate { source, destination, total_usd: source.total_usd + destination.total_usd }
}

/// One store's usage, prices and estimate together, as `twinstore costs` reports it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StoreCost {
    /// The store's name.
    pub store: String,
    /// What it held and served.
    pub usage: Usage,
    /// The prices applied.
    pub prices: Prices,
    /// The resulting monthly cost.
    pub estimate: CostEstimate,
}

impl StoreCost {
    /// Prices `usage` of the store `store` at `prices`.
    pub fn new(store: impl Into<String>, usage: Usage, prices: Prices) -> StoreCost {
        let estimate = estimate(&usage, &prices);
        StoreCost { store: store.into(), usage, prices, estimate }
    }
}

fn price(usage: &Usage, prices: &Prices, free_allowances: bool) -> CostEstimate {
    let free = |allowance: f64| if free_allowances { allowance } else { 0.0 };
    let free_count = |allowance: u64| if free_allowances { allowance } else { 0 };

    let storage_gb = usage.bytes_stored as f64 / BYTES_PER_GB;
    let billable_gb = (storage_gb - free(prices.free_storage_gb)).max(0.0);
    let storage_usd = billable_gb * prices.storage_per_gb_month;

    let class_a = usage.write_requests.saturating_add(usage.list_requests);
    let class_a = class_a.saturating_sub(free_count(prices.free_class_a));
    let class_b = usage.read_requests.saturating_sub(free_count(prices.free_class_b));
    let requests_usd = per_million(class_a, prices.class_a_per_million)
        + per_million(class_b, prices.class_b_per_million)
        + per_million(usage.delete_requests, prices.delete_per_million);

    let egress_gb = usage.egress_bytes as f64 / BYTES_PER_GB;
    let egress_usd = (egress_gb - free(prices.free_egress_gb)).max(0.0) * prices.egress_per_gb;

    let plan_usd = prices.monthly_fee;
    CostEstimate {
        storage_gb,
        plan_usd,
        storage_usd,
        requests_usd,
        egress_usd,
        total_usd: plan_usd + storage_usd + requests_usd + egress_usd,
        over_storage_limit: prices.storage_limit_gb.is_some_and(|limit| storage_gb > limit),
    }
}

/// A one-off copy pays no plan fee and holds nothing, so neither is part of its cost.
fn without_fees(estimate: CostEstimate) -> CostEstimate {
    let total_usd = estimate.requests_usd + estimate.egress_usd;
    CostEstimate {
        plan_usd: 0.0,
        storage_usd: 0.0,
        over_storage_limit: false,
        total_usd,
        ..estimate
    }
}

fn per_million(requests: u64, price: f64) -> f64 {
    requests as f64 / 1_000_000.0 * price
}
