//! The `twinstore` command line, run as a user would, on the embedded default and on
//! a real S3 backup.

mod support;

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

use support::{Garage, sha256, test_bytes};

/// Runs `twinstore` in `dir` with a clean environment plus `env`.
fn twinstore(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_twinstore"));
    command.current_dir(dir).args(args);
    for name in [
        "STORAGE_PROVIDER",
        "DATABASE_URL",
        "TWINSTORE_CONFIG",
        "TWINSTORE_DATA_DIR",
        "TWINSTORE_PRIMARY",
        "TWINSTORE_BACKUP",
        "AWS_ENDPOINT_URL",
    ] {
        command.env_remove(name);
    }
    command.envs(env.iter().copied());
    command.output().unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).unwrap()
}

fn json_lines(output: &Output) -> Vec<Value> {
    stdout(output).lines().map(|line| serde_json::from_str(line).unwrap()).collect()
}

#[test]
fn put_get_url_ls_rm_on_the_embedded_default() {
    let dir = tempfile::tempdir().unwrap();
    let data = test_bytes(3 * 1024 * 1024, 20);
    std::fs::write(dir.path().join("scan.png"), &data).unwrap();
    std::fs::write(dir.path().join("empty.txt"), b"").unwrap();

    let put = twinstore(dir.path(), &["put", "scan.png", "empty.txt", "--json"], &[]);
    assert!(put.status.success(), "{}", stderr(&put));
    let records = json_lines(&put);
    assert_eq!(records.len(), 2, "one JSON line per file");
    for field in [
        "id",
        "name",
        "size",
        "sha256",
        "contentType",
        "url",
        "backupUrl",
        "thumbnailUrl",
        "createdAt",
        "copies",
    ] {
        assert!(records[0].get(field).is_some(), "missing {field}: {}", records[0]);
    }
    assert_eq!(records[0]["sha256"], sha256(&data));
    assert_eq!(records[1]["size"], 0);
    assert_eq!(records[1]["sha256"], sha256(b""));
    assert!(stderr(&put).contains("file stored redundantly"), "{}", stderr(&put));

    let id = records[0]["id"].as_str().unwrap();
    assert!(dir.path().join(format!("twinstore-data/primary/files/{id}")).is_file());
    assert!(dir.path().join(format!("twinstore-data/backup/files/{id}")).is_file());

    let get = twinstore(dir.path(), &["get", id, "-o", "copy.png"], &[]);
    assert!(get.status.success(), "{}", stderr(&get));
    assert!(std::fs::read(dir.path().join("copy.png")).unwrap() == data);

    let url = twinstore(dir.path(), &["url", id, "--prefer-backup"], &[]);
    assert!(stdout(&url).trim().starts_with("file://"), "{}", stdout(&url));
    assert!(stdout(&url).contains("/backup/files/"), "{}", stdout(&url));

    let ls = twinstore(dir.path(), &["ls", "--json"], &[]);
    let listed = json_lines(&ls);
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0]["name"], "empty.txt", "newest first");

    let rm = twinstore(dir.path(), &["rm", id], &[]);
    assert!(rm.status.success(), "{}", stderr(&rm));
    assert!(!dir.path().join(format!("twinstore-data/primary/files/{id}")).exists());
    assert!(!dir.path().join(format!("twinstore-data/backup/files/{id}")).exists());
    assert_eq!(json_lines(&twinstore(dir.path(), &["ls", "--json"], &[])).len(), 1);
}

#[test]
fn bad_input_gives_one_clear_line_and_stores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("a-folder")).unwrap();

    for (args, expected) in [
        (vec!["put", "no-such-file.bin"], "no-such-file.bin"),
        (vec!["put", "a-folder"], "not a regular file"),
        (vec!["put", "missing-dir/x.bin"], "missing-dir/x.bin"),
        (vec!["get", "00000000-0000-0000-0000-000000000000"], "no file with id"),
        (vec!["rm", "not-an-id"], "no file with id"),
    ] {
        let output = twinstore(dir.path(), &args, &[]);
        assert!(!output.status.success(), "{args:?} should fail");
        let err = stderr(&output);
        let error_lines: Vec<&str> = err.lines().filter(|l| l.starts_with("error:")).collect();
        assert_eq!(error_lines.len(), 1, "{args:?}: {err}");
        assert!(error_lines[0].contains(expected), "{args:?}: {err}");
    }

    let ls = twinstore(dir.path(), &["ls", "--json"], &[]);
    assert!(stdout(&ls).is_empty(), "nothing was recorded");
    let primary = dir.path().join("twinstore-data/primary/files");
    assert!(!primary.exists() || std::fs::read_dir(primary).unwrap().next().is_none());
}

#[test]
fn health_exits_1_only_when_the_primary_is_down() {
    let dir = tempfile::tempdir().unwrap();
    let health = twinstore(dir.path(), &["health", "--json"], &[]);
    assert!(health.status.success(), "{}", stderr(&health));
    let report: Value = serde_json::from_str(&stdout(&health)).unwrap();
    assert_eq!(report["primary"]["available"], true);
    assert_eq!(report["backup"]["available"], true);

    // A backup on a port where nothing listens: reported, but not fatal.
    let dead = [
        ("STORAGE_PROVIDER", "s3"),
        ("AWS_ENDPOINT_URL", "http://127.0.0.1:9"),
        ("AWS_S3_BUCKET", "nowhere"),
        ("AWS_ACCESS_KEY_ID", "AKIA"),
        ("AWS_SECRET_ACCESS_KEY", "secret"),
    ];
    let health = twinstore(dir.path(), &["health", "--json"], &dead);
    assert!(health.status.success(), "{}", stderr(&health));
    let report: Value = serde_json::from_str(&stdout(&health)).unwrap();
    assert_eq!(report["backup"]["available"], false);

    let mut swapped = dead.to_vec();
    swapped.extend([("TWINSTORE_PRIMARY", "s3"), ("TWINSTORE_BACKUP", "primary")]);
    let health = twinstore(dir.path(), &["health"], &swapped);
    assert_eq!(health.status.code(), Some(1), "{}", stdout(&health));
    assert!(stdout(&health).contains("UNAVAILABLE"));
}

#[test]
fn the_guide_environment_sends_backups_to_s3_and_never_logs_the_secret() {
    let garage = Garage::start(&["backups"]);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("invoice.pdf"), b"%PDF-1.7\n...").unwrap();
    let endpoint = garage.endpoint();
    // The guide's variables, from a .env file as its users keep them.
    std::fs::write(
        dir.path().join(".env"),
        format!(
            "STORAGE_PROVIDER=\"s3\"\nAWS_REGION=\"us-east-1\"\nAWS_ACCESS_KEY_ID=\"{}\"\n\
             AWS_SECRET_ACCESS_KEY=\"{}\"\nAWS_S3_BUCKET=\"backups\"\n\
             AWS_ENDPOINT_URL=\"{endpoint}\"\n",
            Garage::access_key(),
            Garage::secret_key()
        ),
    )
    .unwrap();

    let env = [("RUST_LOG", "trace")];
    let put = twinstore(dir.path(), &["put", "invoice.pdf", "--json"], &env);
    assert!(put.status.success(), "{}", stderr(&put));
    let record = &json_lines(&put)[0];
    assert_eq!(record["contentType"], "application/pdf");
    let backup_url = record["backupUrl"].as_str().unwrap();
    assert!(backup_url.starts_with(&format!("{endpoint}/backups/files/")), "{backup_url}");
    assert_eq!(record["copies"][1]["state"], "stored");

    let health = twinstore(dir.path(), &["health"], &env);
    for output in [&put, &health] {
        let all = format!("{}{}", stdout(output), stderr(output));
        assert!(!all.contains(Garage::secret_key()), "the secret leaked into the output");
    }
}

#[test]
fn verify_and_repair_exit_codes_follow_what_they_find() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.txt"), b"hello twin").unwrap();
    let put = twinstore(dir.path(), &["put", "a.txt", "--json"], &[]);
    let id = json_lines(&put)[0]["id"].as_str().unwrap().to_owned();

    assert!(twinstore(dir.path(), &["verify"], &[]).status.success());

    let backup_object = dir.path().join(format!("twinstore-data/backup/files/{id}"));
    std::fs::remove_file(&backup_object).unwrap();
    let verify = twinstore(dir.path(), &["verify", "--json"], &[]);
    assert_eq!(verify.status.code(), Some(1));
    let report: Value = serde_json::from_str(&stdout(&verify)).unwrap();
    assert_eq!(report["missing"][0]["fileId"], id.as_str());

    let repair = twinstore(dir.path(), &["repair"], &[]);
    assert!(repair.status.success(), "{}", stdout(&repair));
    assert_eq!(std::fs::read(&backup_object).unwrap(), b"hello twin");
    assert!(twinstore(dir.path(), &["verify", "--deep"], &[]).status.success());
}

#[test]
fn costs_count_what_was_stored_and_served_and_take_price_overrides() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("big.bin"), test_bytes(2 * 1024 * 1024, 30)).unwrap();
    let put = twinstore(dir.path(), &["put", "big.bin", "--json"], &[]);
    let id = json_lines(&put)[0]["id"].as_str().unwrap().to_owned();
    assert!(twinstore(dir.path(), &["get", &id, "-o", "copy.bin"], &[]).status.success());

    // Local disk has no list price: override it as if it cost $100 per GB-month.
    std::fs::write(
        dir.path().join("twinstore.toml"),
        "[prices.primary]\nstorage_per_gb_month = 100.0\n",
    )
    .unwrap();
    let costs = twinstore(dir.path(), &["--config", "twinstore.toml", "costs", "--json"], &[]);
    assert!(costs.status.success(), "{}", stderr(&costs));
    let report: Value = serde_json::from_str(&stdout(&costs)).unwrap();
    let stores = report["stores"].as_array().unwrap();
    let primary = stores.iter().find(|s| s["store"] == "primary").unwrap();
    assert_eq!(primary["role"], "primary");
    assert_eq!(primary["usage"]["bytesStored"], 2 * 1024 * 1024);
    assert_eq!(primary["usage"]["egressBytes"], 2 * 1024 * 1024, "the get read it once");
    let expected = 100.0 * 2.0 / 1024.0;
    let total = primary["estimate"]["totalUsd"].as_f64().unwrap();
    assert!((total - expected).abs() < 1e-6, "{total} vs {expected}");
    assert!((report["monthlyUsd"].as_f64().unwrap() - expected).abs() < 1e-6);
}

#[test]
fn put_waits_for_renditions_and_renditions_lists_them() {
    let dir = tempfile::tempdir().unwrap();
    let data = support::images::jpeg_with_metadata(1000, 500, 1);
    std::fs::write(dir.path().join("photo.jpg"), &data).unwrap();

    let put = twinstore(dir.path(), &["put", "photo.jpg", "--json"], &[]);
    assert!(put.status.success(), "{}", stderr(&put));
    let record = &json_lines(&put)[0];
    assert_eq!(record["renderStatus"], "done", "{record}");
    let thumbnail = record["thumbnailUrl"].as_str().unwrap();
    assert!(thumbnail.contains("/backup/renditions/") && thumbnail.ends_with("thumb-300.webp"));
    let path = thumbnail.strip_prefix("file://").unwrap();
    let picture = support::images::decode_webp(&std::fs::read(path).unwrap());
    assert_eq!((picture.width(), picture.height()), (300, 150));

    let id = record["id"].as_str().unwrap();
    let listed = twinstore(dir.path(), &["renditions", id, "--json"], &[]);
    assert!(listed.status.success(), "{}", stderr(&listed));
    let listing = &json_lines(&listed)[0];
    let sizes: Vec<(String, u64, u64)> = listing["renditions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let name = r["name"].as_str().unwrap().to_owned();
            (name, r["width"].as_u64().unwrap(), r["height"].as_u64().unwrap())
        })
        .collect();
    let expected = [("optimized", 1000, 500), ("thumb-150", 150, 75), ("thumb-300", 300, 150)];
    for (name, width, height) in expected {
        assert!(sizes.contains(&(name.to_owned(), width, height)), "{name}: {sizes:?}");
    }

    let later = twinstore(dir.path(), &["put", "photo.jpg", "--no-wait", "--json"], &[]);
    assert!(later.status.success(), "{}", stderr(&later));
    let record = &json_lines(&later)[0];
    assert_eq!(record["renderStatus"], "pending", "left to a worker");
    let human = twinstore(dir.path(), &["renditions", record["id"].as_str().unwrap()], &[]);
    assert!(stdout(&human).contains("renditions pending"), "{}", stdout(&human));
}
