//! Estimates checked against figures worked out by hand from the price tables.

use super::*;

const GB: u64 = 1 << 30;

fn builtin(kind: &str) -> Prices {
    Prices::builtin(kind).unwrap()
}

fn assert_usd(actual: f64, expected: f64) {
    assert!((actual - expected).abs() < 1e-9, "expected ${expected}, got ${actual}");
}

fn stored(bytes: u64) -> Usage {
    Usage { bytes_stored: bytes, ..Usage::default() }
}

#[test]
fn s3_storage_is_two_thirty_for_100_gb() {
    // 100 GB x $0.023.
    let cost = estimate(&stored(100 * GB), &builtin("s3"));

    assert_usd(cost.storage_gb, 100.0);
    assert_usd(cost.storage_usd, 2.30);
    assert_usd(cost.total_usd, 2.30);
}

#[test]
fn s3_prices_writes_and_lists_together_and_deletes_free() {
    let usage = Usage {
        write_requests: 10_000,
        list_requests: 2_000,
        read_requests: 1_250_000,
        delete_requests: 5_000,
        ..Usage::default()
    };
    let cost = estimate(&usage, &builtin("s3"));

    // 12,000 x $0.005 / 1,000 = $0.06, plus 1,250,000 x $0.0004 / 1,000 = $0.50.
    assert_usd(cost.requests_usd, 0.56);
    assert_usd(cost.total_usd, 0.56);
}

#[test]
fn s3_egress_past_the_free_100_gb_is_nine_cents_a_gb() {
    let s3 = builtin("s3");
    let egress = |gb: u64| {
        let usage = Usage { egress_bytes: gb * GB, ..Usage::default() };
        estimate(&usage, &s3).egress_usd
    };

    assert_usd(egress(50), 0.0);
    assert_usd(egress(100), 0.0);
    // (150 - 100) x $0.09.
    assert_usd(egress(150), 4.50);
}

#[test]
fn r2_takes_off_the_free_tier_and_charges_no_egress() {
    let usage = Usage {
        bytes_stored: 100 * GB,
        write_requests: 1_200_000,
        list_requests: 300_000,
        read_requests: 12_000_000,
        egress_bytes: 1024 * GB,
        ..Usage::default()
    };
    let cost = estimate(&usage, &builtin("r2"));

    // (100 - 10) GB x $0.015 = $1.35.
    assert_usd(cost.storage_usd, 1.35);
    // Class A: (1.5M - 1M) x $4.50 / M = $2.25. Class B: (12M - 10M) x $0.36 / M = $0.72.
    assert_usd(cost.requests_usd, 2.97);
    assert_usd(cost.egress_usd, 0.0);
    assert_usd(cost.total_usd, 4.32);
}

#[test]
fn a_small_r2_store_is_free() {
    let usage = Usage {
        bytes_stored: 10 * GB,
        objects: 20_000,
        write_requests: 20_000,
        read_requests: 500_000,
        egress_bytes: 200 * GB,
        ..Usage::default()
    };

    assert_eq!(estimate(&usage, &builtin("r2")).total_usd, 0.0);
}

#[test]
fn uploadthing_usage_plan_charges_its_fee_and_the_gb_past_250() {
    let plan = builtin("uploadthing");

    let small = estimate(&stored(10 * GB), &plan);
    assert_usd(small.plan_usd, 25.0);
    assert_usd(small.total_usd, 25.0);

    // $25 + (300 - 250) x $0.08.
    let large = estimate(&stored(300 * GB), &plan);
    assert_usd(large.storage_usd, 4.0);
    assert_usd(large.total_usd, 29.0);
    assert!(!large.over_storage_limit);
}

#[test]
fn a_fixed_plan_flags_a_store_past_its_limit() {
    let free = estimate(&stored(3 * GB), &builtin("uploadthing-free"));
    assert_usd(free.total_usd, 0.0);
    assert!(free.over_storage_limit);

    let app = estimate(&stored(60 * GB), &builtin("uploadthing-100gb"));
    assert_usd(app.total_usd, 10.0);
    assert!(!app.over_storage_limit);
}

#[test]
fn local_disk_is_free_until_configured() {
    let usage = Usage {
        bytes_stored: 100 * GB,
        write_requests: 1_000_000,
        egress_bytes: 100 * GB,
        ..Usage::default()
    };
    assert_eq!(estimate(&usage, &builtin("local")).total_usd, 0.0);

    let overrides =
        PriceOverrides { storage_per_gb_month: Some(0.02), ..PriceOverrides::default() };
    let priced = Prices::resolve("local", Some(&overrides)).unwrap();
    // 100 GB x $0.02.
    assert_usd(estimate(&usage, &priced).total_usd, 2.0);
    assert_eq!(priced.overridden, ["storage_per_gb_month"]);
}

#[test]
fn migrating_s3_to_r2_pays_reads_and_egress_at_the_source_and_writes_at_the_destination() {
    let cost = migration_estimate(500 * GB, 200_000, &builtin("s3"), &builtin("r2"));

    // 200,000 GETs x $0.0004 / 1,000 = $0.08; 200 list pages x $0.005 / 1,000 = $0.001;
    // 500 GB x $0.09 = $45, no free allowance.
    assert_usd(cost.source.requests_usd, 0.081);
    assert_usd(cost.source.egress_usd, 45.0);
    assert_usd(cost.source.total_usd, 45.081);
    // 200,000 PutObject x $4.50 / M = $0.90, no free tier.
    assert_usd(cost.destination.requests_usd, 0.90);
    assert_usd(cost.destination.total_usd, 0.90);
    assert_usd(cost.total_usd, 45.981);
}

#[test]
fn migrating_into_a_plan_does_not_charge_its_fee() {
    let cost = migration_estimate(GB, 10, &builtin("r2"), &builtin("uploadthing"));

    // R2: 10 reads and 1 list page, no egress fee; UploadThing: nothing per request.
    assert_usd(cost.source.total_usd, 10.0 * 0.36 / 1e6 + 4.5 / 1e6);
    assert_usd(cost.destination.total_usd, 0.0);
}

#[test]
fn usage_from_counts_reads_gets_and_heads_and_egress_from_bytes_read() {
    let counts = RequestCounts {
        puts: 3,
        gets: 5,
        heads: 2,
        deletes: 1,
        lists: 4,
        bytes_written: 300,
        bytes_read: 500,
    };
    let usage = Usage::from_counts(1000, 7, &counts);

    assert_eq!(
        usage,
        Usage {
            bytes_stored: 1000,
            objects: 7,
            write_requests: 3,
            read_requests: 7,
            list_requests: 4,
            delete_requests: 1,
            egress_bytes: 500,
        }
    );
}

#[test]
fn every_builtin_table_is_valid_dated_and_sourced() {
    for kind in BUILTIN_KINDS {
        let prices = builtin(kind);
        prices.validate().unwrap();
        assert_eq!(prices.read_on, PRICES_READ_ON, "{kind}");
        assert!(!prices.source.is_empty(), "{kind}");
        assert!(prices.overridden.is_empty(), "{kind}");
    }
    assert!(Prices::builtin("gcs").is_none());
    assert_eq!(builtin("uploadthing").verification, Verification::Unverified);
}

#[test]
fn overrides_parse_from_toml_and_replace_only_what_they_set() {
    let overrides: PriceOverrides = toml::from_str(
        r#"
        based_on = "r2"
        storage_per_gb_month = 0.02
        monthly_fee = 5
        free_class_a = 0
        "#,
    )
    .unwrap();
    let prices = Prices::resolve("s3", Some(&overrides)).unwrap();

    assert_eq!(prices.provider, "Cloudflare R2, Standard storage");
    assert_eq!(prices.storage_per_gb_month, 0.02);
    assert_eq!(prices.monthly_fee, 5.0);
    assert_eq!(prices.free_class_a, 0);
    assert_eq!(prices.class_b_per_million, 0.36);
    assert_eq!(prices.overridden, ["monthly_fee", "storage_per_gb_month", "free_class_a"]);
}

#[test]
fn a_storage_limit_of_zero_removes_the_limit() {
    let overrides = PriceOverrides { storage_limit_gb: Some(0.0), ..PriceOverrides::default() };
    let prices = Prices::resolve("uploadthing-free", Some(&overrides)).unwrap();

    assert_eq!(prices.storage_limit_gb, None);
}

#[test]
fn bad_overrides_are_refused() {
    assert!(toml::from_str::<PriceOverrides>("storage_per_gb = 0.02").is_err());

    let negative = PriceOverrides { egress_per_gb: Some(-0.01), ..PriceOverrides::default() };
    assert!(matches!(
        Prices::resolve("s3", Some(&negative)),
        Err(CostsError::InvalidPrice { field: "egress_per_gb", .. })
    ));

    let not_a_number = PriceOverrides { monthly_fee: Some(f64::NAN), ..PriceOverrides::default() };
    assert!(Prices::resolve("s3", Some(&not_a_number)).is_err());
}

#[test]
fn an_unknown_kind_needs_prices_from_the_configuration() {
    assert!(matches!(
        Prices::resolve("gcs", None),
        Err(CostsError::UnknownKind { kind }) if kind == "gcs"
    ));

    let unknown_base =
        PriceOverrides { based_on: Some("wasabi".into()), ..PriceOverrides::default() };
    assert!(Prices::resolve("s3", Some(&unknown_base)).is_err());

    let configured =
        PriceOverrides { storage_per_gb_month: Some(0.0069), ..PriceOverrides::default() };
    let prices = Prices::resolve("wasabi", Some(&configured)).unwrap();
    assert_eq!(prices.provider, "wasabi");
    assert_eq!(prices.verification, Verification::Configured);
    assert_usd(estimate(&stored(1000 * GB), &prices).total_usd, 6.9);
}

#[test]
fn a_whole_table_parses_from_toml_with_missing_fields_zero() {
    let prices: Prices = toml::from_str(
        r#"
        provider = "Backblaze B2"
        storage_per_gb_month = 0.006
        free_storage_gb = 10
        "#,
    )
    .unwrap();

    assert_eq!(prices.provider, "Backblaze B2");
    assert_eq!(prices.free_storage_gb, 10.0);
    assert_eq!(prices.egress_per_gb, 0.0);
    assert_eq!(prices.verification, Verification::Configured);
}

#[test]
fn reports_serialize_in_camel_case() {
    let cost = StoreCost::new("backup", stored(100 * GB), builtin("s3"));
    let json = serde_json::to_value(&cost).unwrap();

    assert_eq!(json["usage"]["bytesStored"], 100 * GB);
    assert_eq!(json["prices"]["storagePerGbMonth"], 0.023);
    assert_eq!(json["prices"]["readOn"], PRICES_READ_ON);
    assert_eq!(json["prices"]["verification"], "corroborated");
    assert!((json["estimate"]["totalUsd"].as_f64().unwrap() - 2.3).abs() < 1e-9);
}
