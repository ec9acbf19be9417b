//! The built-in price table, and the configuration's overrides of it.
//!
//! Every provider's prices fit one shape: an optional monthly plan fee, a price per
//! GB-month of storage, two classes of requests, free deletes or not, a price per GB of
//! egress, and a free allowance for each. AWS S3 and Cloudflare R2 split requests the
//! same way: writes and lists in the dearer class ("Class A" on R2, "PUT, COPY, POST,
//! LIST" on S3), reads and HEADs in the cheaper one ("Class B", "GET, SELECT and all
//! other"), and deletes free. Request prices are kept per million requests; S3 quotes
//! them per 1,000, so its $0.005 per 1,000 is 5.0 here.

use serde::{Deserialize, Serialize};

use super::CostsError;

/// The day the built-in prices were read.
pub const PRICES_READ_ON: &str = "2026-12-03";

/// The kinds that [`Prices::builtin`] knows.
///
/// `uploadthing` is the usage-based plan; `uploadthing-free` and `uploadthing-100gb` are
/// the fixed plans. `memory` is priced like `local`.
pub const BUILTIN_KINDS: &[&str] =
    &["s3", "r2", "uploadthing", "uploadthing-free", "uploadthing-100gb", "local", "memory"];

/// How far a price table was confirmed on the day it was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Verification {
    /// Read from the provider's own pricing page.
    Provider,
    /// The provider's page could not be read, but several independent sources dated
    /// within the year before give the same figures.
    Corroborated,
    /// The last widely published figures; they could not be confirmed when read.
    Unverified,
    /// There is no list price (local disk): every figure is zero until configured.
    NoListPrice,
    /// Written in the configuration rather than taken from the built-in table.
    Configured,
}

/// One provider's list prices, in US dollars, with where and when they were read.
///
/// A GB is 2^30 bytes, as AWS bills it; the other providers do not say, and the
/// difference is at most 7%. Tiered prices are kept at their first tier, which
/// overstates the cost of very large stores (past 50 TB stored or 10 TB of egress a
/// month on S3) by a few percent.
///
/// The TOML configuration uses the snake_case field names; JSON output uses camelCase.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    rename_all(serialize = "camelCase", deserialize = "snake_case"),
    default,
    deny_unknown_fields
)]
pub struct Prices {
    /// What the prices are for, such as `AWS S3 Standard, us-east-1`.
    pub provider: String,
    /// Where they were read: the provider's pricing page, by name.
    pub source: String,
    /// The day they were read, as `YYYY-MM-DD`.
    pub read_on: String,
    /// How far they were confirmed on that day.
    pub verification: Verification,
    /// What a reader of the figures should know: their limits, why one is unverified.
    pub note: Option<String>,
    /// The fields that the configuration changed, by their TOML names.
    #[serde(skip_deserializing)]
    pub overridden: Vec<String>,

    /// A plan's fixed fee per month, whatever the usage.
    pub monthly_fee: f64,
    /// Price per GB-month stored beyond the free storage.
    pub storage_per_gb_month: f64,
    /// Storage that costs nothing beyond the fee: a free tier, or what a plan includes.
    pub free_storage_gb: f64,
    /// The most a plan can store, when it has a hard limit.
    pub storage_limit_gb: Option<f64>,
    /// Price per million class A requests: writes (PUT, COPY, POST, multipart parts)
    /// and lists.
    pub class_a_per_million: f64,
    /// Class A requests free each month.
    pub free_class_a: u64,
    /// Price per million class B requests: reads (GET) and HEADs.
    pub class_b_per_million: f64,
    /// Class B requests free each month.
    pub free_class_b: u64,
    /// Price per million DELETE requests.
    pub delete_per_million: f64,
    /// Price per GB read out of the store beyond the free egress.
    pub egress_per_gb: f64,
    /// Egress free each month.
    pub free_egress_gb: f64,
}

impl Default for Prices {
    /// A table with every price zero, to be filled in by the configuration.
    fn default() -> Self {
        Prices::custom("custom")
    }
}

/// The configuration's changes to a price table: every field is optional, and the
/// ones given replace the built-in figures.
///
/// ```toml
/// [prices.garage]
/// based_on = "local"
/// storage_per_gb_month = 0.004
/// ```
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriceOverrides {
    /// The built-in table to start from instead of the store's kind, such as `local`
    /// for a self-hosted S3-compatible server, or `uploadthing-100gb` for that plan.
    pub based_on: Option<String>,
    /// Replaces [`Prices::monthly_fee`].
    pub monthly_fee: Option<f64>,
    /// Replaces [`Prices::storage_per_gb_month`].
    pub storage_per_gb_month: Option<f64>,
    /// Replaces [`Prices::free_storage_gb`].
    pub free_storage_gb: Option<f64>,
    /// Replaces [`Prices::storage_limit_gb`]; 0 removes the limit.
    pub storage_limit_gb: Option<f64>,
    /// Replaces [`Prices::class_a_per_million`].
    pub class_a_per_million: Option<f64>,
    /// Replaces [`Prices::free_class_a`].
    pub free_class_a: Option<u64>,
    /// Replaces [`Prices::class_b_per_million`].
    pub class_b_per_million: Option<f64>,
    /// Replaces [`Prices::free_class_b`].
    pub free_class_b: Option<u64>,
    /// Replaces [`Prices::delete_per_million`].
    pub delete_per_million: Option<f64>,
    /// Replaces [`Prices::egress_per_gb`].
    pub egress_per_gb: Option<f64>,
    /// Replaces [`Prices::free_egress_gb`].
    pub free_egress_gb: Option<f64>,
    /// Replaces [`Prices::note`].
    pub note: Option<String>,
}

impl Prices {
    /// The built-in list prices for a store kind (see [`BUILTIN_KINDS`]), or `None` for
    /// a kind without a table.
    ///
    /// Every S3-compatible store has kind `s3` and so gets AWS's prices; a self-hosted
    /// one (Garage, MinIO, Ceph) should be priced with `based_on = "local"`.
    pub fn builtin(kind: &str) -> Option<Prices> {
        let prices = match kind {
            "s3" => aws_s3_standard(),
            "r2" => cloudflare_r2(),
            "uploadthing" => uploadthing_usage_based(),
            "uploadthing-free" => uploadthing_free(),
            "uploadthing-100gb" => uploadthing_100gb(),
            "local" | "memory" => local_disk(),
            _ => return None,
        };
        Some(prices)
    }

    /// A table with every price zero, for a provider that only the configuration knows.
    pub fn custom(provider: &str) -> Prices {
        Prices {
            provider: provider.to_owned(),
            source: "configuration".to_owned(),
            read_on: String::new(),
            verification: Verification::Configured,
            note: None,
            overridden: Vec::new(),
            monthly_fee: 0.0,
            storage_per_gb_month: 0.0,
            free_storage_gb: 0.0,
            storage_limit_gb: None,
            class_a_per_million: 0.0,
            free_class_a: 0,
            class_b_per_million: 0.0,
            free_class_b: 0,
            delete_per_million: 0.0,
            egress_per_gb: 0.0,
            free_egress_gb: 0.0,
        }
    }

    /// The prices for a store of `kind`, with the configuration's `overrides` applied.
    ///
    /// The table starts from `overrides.based_on` when set, else from `kind`. A kind
    /// without a built-in table starts from [`Prices::custom`] when overrides are given,
    /// and is an error otherwise (its cost would silently read as zero).
    pub fn resolve(kind: &str, overrides: Option<&PriceOverrides>) -> Result<Prices, CostsError> {
        let based_on = overrides.and_then(|o| o.based_on.as_deref());
        let mut prices = match (based_on, Prices::builtin(based_on.unwrap_or(kind))) {
            (_, Some(prices)) => prices,
            (None, None) if overrides.is_some() => Prices::custom(kind),
            (based_on, None) => {
                return Err(CostsError::UnknownKind { kind: based_on.unwrap_or(kind).to_owned() });
            }
        };

        if let Some(overrides) = overrides {
            prices.apply(overrides)?;
        }
        Ok(prices)
    }

    /// Replaces the fields that `overrides` sets (all but `based_on`, which only
    /// [`Prices::resolve`] reads), records their names in [`Prices::overridden`], and
    /// checks the result.
    pub fn apply(&mut self, overrides: &PriceOverrides) -> Result<(), CostsError> {
        let changed = &mut self.overridden;
        let mut set = |name: &str, field: &mut f64, value: Option<f64>| {
            if let Some(value) = value {
                *field = value;
                changed.push(name.to_owned());
            }
        };
        set("monthly_fee", &mut self.monthly_fee, overrides.monthly_fee);
        set("storage_per_gb_month", &mut self.storage_per_gb_month, overrides.storage_per_gb_month);
        set("free_storage_gb", &mut self.free_storage_gb, overrides.free_storage_gb);
        set("class_a_per_million", &mut self.class_a_per_million, overrides.class_a_per_million);
        set("class_b_per_million", &mut self.class_b_per_million, overrides.class_b_per_million);
        set("delete_per_million", &mut self.delete_per_million, overrides.delete_per_million);
        set("egress_per_gb", &mut self.egress_per_gb, overrides.egress_per_gb);
        set("free_egress_gb", &mut self.free_egress_gb, overrides.free_egress_gb);

        if let Some(limit) = overrides.storage_limit_gb {
            self.storage_limit_gb = (limit != 0.0).then_some(limit);
            self.overridden.push("storage_limit_gb".to_owned());
        }
        if let Some(free) = overrides.free_class_a {
            self.free_class_a = free;
            self.overridden.push("free_class_a".to_owned());
        }
        if let Some(free) = overrides.free_class_b {
            self.free_class_b = free;
            self.overridden.push("free_class_b".to_owned());
        }
        if let Some(note) = &overrides.note {
            self.note = Some(note.clone());
            self.overridden.push("note".to_owned());
        }

        self.validate()
    }

    /// Checks that every price and allowance is a finite amount, zero or more, and that
    /// a storage limit is above zero.
    pub fn validate(&self) -> Result<(), CostsError> {
        let amounts = [
            ("monthly_fee", self.monthly_fee),
            ("storage_per_gb_month", self.storage_per_gb_month),
            ("free_storage_gb", self.free_storage_gb),
            ("class_a_per_million", self.class_a_per_million),
            ("class_b_per_million", self.class_b_per_million),
            ("delete_per_million", self.delete_per_million),
            ("egress_per_gb", self.egress_per_gb),
            ("free_egress_gb", self.free_egress_gb),
        ];
        for (field, value) in amounts {
            if !value.is_finite() || value < 0.0 {
                return Err(CostsError::InvalidPrice { field, value });
            }
        }
        if let Some(limit) = self.storage_limit_gb
            && (!limit.is_finite() || limit <= 0.0)
        {
            return Err(CostsError::InvalidPrice { field: "storage_limit_gb", value: limit });
        }
        Ok(())
    }
}

// The built-in tables. Each says where its figures come from and how far they were
// confirmed on PRICES_READ_ON; `twinstore costs` shows that next to every figure.

/// AWS S3 Standard in us-east-1.
///
/// The figures were checked against several independent write-ups of AWS's table
/// dated March to June 2026, which agree with each other and with the long-standing
/// list prices; the stored copy of AWS's own page did not include the table.
fn aws_s3_standard() -> Prices {
    Prices {
        provider: "AWS S3 Standard, us-east-1".to_owned(),
        source: "Amazon S3 pricing page, US East (N. Virginia)".to_owned(),
        read_on: PRICES_READ_ON.to_owned(),
        verification: Verification::Corroborated,
        note: Some(
            "First-tier rates: storage past 50 TB and egress past 10 TB a month cost a \
             little less. The 100 GB of free egress is shared by the whole AWS account, \
             and reads from EC2 in the same region pay no egress, which this estimate \
             cannot tell apart."
                .to_owned(),
        ),
        overridden: Vec::new(),
        monthly_fee: 0.0,
        // $0.023 per GB-month, first 50 TB / month.
        storage_per_gb_month: 0.023,
        free_storage_gb: 0.0,
        storage_limit_gb: None,
        // PUT, COPY, POST, LIST: $0.005 per 1,000 requests.
        class_a_per_million: 5.0,
        free_class_a: 0,
        // GET, SELECT and all other requests: $0.0004 per 1,000 requests.
        class_b_per_million: 0.4,
        free_class_b: 0,
        // DELETE and CANCEL requests are free.
        delete_per_million: 0.0,
        // Data transfer out to the internet: first 100 GB / month free, then $0.09 per
        // GB up to 10 TB / month.
        egress_per_gb: 0.09,
        free_egress_gb: 100.0,
    }
}

/// Cloudflare R2, Standard storage class.
///
/// Read from the R2 pricing page of Cloudflare's developer documentation (its source
/// in the cloudflare-docs repository): Class A is ListObjects, PutObject, CopyObject
/// and the multipart calls; Class B is HeadObject and GetObject; DeleteObject is free.
fn cloudflare_r2() -> Prices {
    Prices {
        provider: "Cloudflare R2, Standard storage".to_owned(),
        source: "Cloudflare R2 pricing page (developer documentation)".to_owned(),
        read_on: PRICES_READ_ON.to_owned(),
        verification: Verification::Provider,
        note: Some(
            "Cloudflare rounds each line up to a whole billing unit (1.1 GB-month is \
             billed as 2); this estimate does not round. The free tier does not apply to \
             Infrequent Access storage."
                .to_owned(),
        ),
        overridden: Vec::new(),
        monthly_fee: 0.0,
        // $0.015 / GB-month; free tier 10 GB-month / month.
        storage_per_gb_month: 0.015,
        free_storage_gb: 10.0,
        storage_limit_gb: None,
        // Class A: $4.50 / million requests; free tier 1 million / month.
        class_a_per_million: 4.5,
        free_class_a: 1_000_000,
        // Class B: $0.36 / million requests; free tier 10 million / month.
        class_b_per_million: 0.36,
        free_class_b: 10_000_000,
        delete_per_million: 0.0,
        // Egress is free.
        egress_per_gb: 0.0,
        free_egress_gb: 0.0,
    }
}

/// The note shared by the UploadThing plans: why their figures are unverified.
const UPLOADTHING_NOTE: &str = "Unverified: UploadThing's own pricing page could not be \
    read. These are the plans as last widely published (third-party notes dated January \
    2025, repeated unchanged by a list marked verified in September 2026). No request or \
    bandwidth fees are published.";

/// UploadThing's usage-based plan: $25 a month with 250 GB included, then $0.08 per GB.
fn uploadthing_usage_based() -> Prices {
    Prices {
        monthly_fee: 25.0,
        storage_per_gb_month: 0.08,
        free_storage_gb: 250.0,
        ..uploadthing("UploadThing, usage-based plan")
    }
}

/// UploadThing's free plan: 2 GB, no fee.
fn uploadthing_free() -> Prices {
    Prices {
        free_storage_gb: 2.0,
        storage_limit_gb: Some(2.0),
        ..uploadthing("UploadThing, free plan")
    }
}

/// UploadThing's "100GB app" plan: $10 a month for up to 100 GB.
fn uploadthing_100gb() -> Prices {
    Prices {
        monthly_fee: 10.0,
        free_storage_gb: 100.0,
        storage_limit_gb: Some(100.0),
        ..uploadthing("UploadThing, 100 GB plan")
    }
}

fn uploadthing(provider: &str) -> Prices {
    Prices {
        source: "UploadThing pricing page, as quoted by third parties".to_owned(),
        read_on: PRICES_READ_ON.to_owned(),
        verification: Verification::Unverified,
        note: Some(UPLOADTHING_NOTE.to_owned()),
        ..Prices::custom(provider)
    }
}

/// Local disk: no list price. The configuration can set what a GB-month of disk costs.
fn local_disk() -> Prices {
    Prices {
        source: "none: local disk has no list price".to_owned(),
        read_on: PRICES_READ_ON.to_owned(),
        verification: Verification::NoListPrice,
        note: Some("Zero unless the configuration sets what the disk costs.".to_owned()),
        ..Prices::custom("local disk")
    }
}
