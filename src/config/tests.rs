use std::collections::HashMap;
use std::io::Write;

use super::*;

fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
    let map: HashMap<String, String> =
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    move |name| map.get(name).cloned()
}

#[test]
fn nothing_configured_gives_the_embedded_default() {
    let config = Config::load_with(None, env_of(&[])).unwrap();

    assert_eq!(config.data_dir, PathBuf::from(DEFAULT_DATA_DIR));
    assert_eq!(config.primary, "primary");
    assert_eq!(config.backup, "backup");
    assert_eq!(config.primary_store().kind, StoreKind::Local);
    assert!(config.database_url.expose().starts_with("sqlite://"));
    assert!(config.database_url.expose().contains("catalog.db"));
}

#[test]
fn storage_provider_s3_puts_the_guide_variables_in_the_backup_role() {
    let env = env_of(&[
        ("STORAGE_PROVIDER", "s3"),
        ("AWS_REGION", "eu-west-1"),
        ("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE"),
        ("AWS_SECRET_ACCESS_KEY", "very-secret-value"),
        ("AWS_S3_BUCKET", "my-bucket"),
        ("TWINSTORE_DATA_DIR", "/srv/ts"),
    ]);
    let config = Config::load_with(None, env).unwrap();

    assert_eq!(config.backup, "s3");
    let backup = config.backup_store();
    assert_eq!(backup.kind, StoreKind::S3);
    assert_eq!(backup.bucket.as_deref(), Some("my-bucket"));
    assert_eq!(backup.region.as_deref(), Some("eu-west-1"));
    assert_eq!(backup.secret_access_key.as_ref().unwrap().expose(), "very-secret-value");
    assert_eq!(config.primary_store().path, Some(PathBuf::from("/srv/ts/primary")));
}

#[test]
fn storage_provider_r2_reads_the_r2_variables() {
    let env = env_of(&[
        ("STORAGE_PROVIDER", "r2"),
        ("R2_ACCOUNT_ID", "abc123"),
        ("R2_ACCESS_KEY_ID", "r2-key"),
        ("R2_SECRET_ACCESS_KEY", "r2-secret"),
        ("R2_BUCKET", "r2-bucket"),
    ]);
    let config = Config::load_with(None, env).unwrap();
    let backup = config.backup_store();
    assert_eq!(backup.kind, StoreKind::R2);
    assert_eq!(backup.account_id.as_deref(), Some("abc123"));
}

#[test]
fn an_unknown_storage_provider_is_refused() {
    let err = Config::load_with(None, env_of(&[("STORAGE_PROVIDER", "gcs")])).unwrap_err();
    assert!(err.to_string().contains("STORAGE_PROVIDER"), "{err}");
}

#[test]
fn the_toml_file_can_put_any_store_in_either_role() {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    writeln!(
        file,
        r#"
primary = "garage"
backup = "disk"

[stores.garage]
kind = "s3"
endpoint = "http://127.0.0.1:3900"
bucket = "uploads"
prefix = "app/"

[stores.disk]
kind = "local"
"#
    )
    .unwrap();

    let env = env_of(&[("TWINSTORE_DATA_DIR", "/data")]);
    let config = Config::load_with(Some(file.path()), env).unwrap();

    assert_eq!(config.primary_store().kind, StoreKind::S3);
    assert_eq!(config.primary_store().prefix.as_deref(), Some("app/"));
    assert_eq!(config.backup_store().path, Some(PathBuf::from("/data/disk")));
}

#[test]
fn a_role_naming_a_missing_store_is_refused() {
    let env = env_of(&[("TWINSTORE_BACKUP", "nowhere")]);
    let err = Config::load_with(None, env).unwrap_err();
    assert!(err.to_string().contains("nowhere"), "{err}");
}

#[test]
fn debug_output_never_shows_secrets() {
    let env = env_of(&[
        ("STORAGE_PROVIDER", "s3"),
        ("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE"),
        ("AWS_SECRET_ACCESS_KEY", "s3-secret-do-not-print"),
        ("AWS_S3_BUCKET", "b"),
        ("DATABASE_URL", "postgres://app:db-password-do-not-print@localhost/ts"),
    ]);
    let config = Config::load_with(None, env).unwrap();

    let shown = format!("{config:?} {config:#?}");
    assert!(!shown.contains("s3-secret-do-not-print"), "{shown}");
    assert!(!shown.contains("db-password-do-not-print"), "{shown}");
    assert!(shown.contains("AKIAEXAMPLE"), "key ids are not secret: {shown}");
}

#[test]
fn service_settings_come_from_the_environment_and_keys_stay_masked() {
    let env = env_of(&[
        ("TWINSTORE_LISTEN", "0.0.0.0:9000"),
        ("TWINSTORE_API_KEYS", "key-one-do-not-print, key-two-do-not-print"),
        ("TWINSTORE_PUBLIC_READS", "true"),
        ("TWINSTORE_MAX_UPLOAD_BYTES", "1048576"),
    ]);
    let config = Config::load_with(None, env).unwrap();
    assert_eq!(config.service.listen, "0.0.0.0:9000");
    assert_eq!(config.service.api_keys.len(), 2);
    assert_eq!(config.service.api_keys[1].expose(), "key-two-do-not-print");
    assert!(config.service.public_reads);
    assert_eq!(config.service.max_upload_bytes, 1_048_576);
    assert!(!format!("{config:?}").contains("do-not-print"));
}

#[test]
fn an_uploadthing_token_makes_uploadthing_the_primary_and_stays_masked() {
    let token = crate::store::uploadthing::Token::encode("sk_live_do_not_print", "app1", &["sea1"]);
    let env = env_of(&[
        ("UPLOADTHING_TOKEN", &token),
        ("UPLOADTHING_UFS_HOST", "http://127.0.0.1:9999"),
        ("STORAGE_PROVIDER", "s3"),
        ("AWS_S3_BUCKET", "b"),
    ]);
    let config = Config::load_with(None, env).unwrap();
    assert_eq!((config.primary.as_str(), config.backup.as_str()), ("uploadthing", "s3"));
    let primary = config.primary_store();
    assert_eq!(primary.kind, StoreKind::UploadThing);
    assert_eq!(primary.ufs_host.as_deref(), Some("http://127.0.0.1:9999"));
    let shown = format!("{config:?} {config:#?}");
    assert!(!shown.contains(&token), "{shown}");
}

#[test]
fn storage_provider_uploadthing_puts_it_in_the_backup_role() {
    let token = crate::store::uploadthing::Token::encode("sk_x", "app1", &["sea1"]);
    let env = env_of(&[("STORAGE_PROVIDER", "uploadthing"), ("UPLOADTHING_TOKEN", &token)]);
    let config = Config::load_with(None, env).unwrap();
    assert_eq!((config.primary.as_str(), config.backup.as_str()), ("primary", "uploadthing"));
    assert_eq!(config.backup_store().kind, StoreKind::UploadThing);
}

#[test]
fn a_toml_store_section_can_be_uploadthing() {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    writeln!(
        file,
        r#"
primary = "ut"
[stores.ut]
kind = "uploadthing"
token = "eyJ..."
acl = "private"
"#
    )
    .unwrap();
    let config = Config::load_with(Some(file.path()), env_of(&[])).unwrap();
    assert_eq!(config.primary_store().kind, StoreKind::UploadThing);
    assert_eq!(config.primary_store().acl.as_deref(), Some("private"));
}

#[test]
fn image_settings_come_from_the_images_table_and_the_environment() {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    writeln!(file, "first_byte_timeout_secs = 4\n\n[images]\nmax_frames = 20\nin_primary = true")
        .unwrap();

    let env = env_of(&[("TWINSTORE_IMAGE_MAX_PIXELS", "1000000")]);
    let config = Config::load_with(Some(file.path()), env).unwrap();

    assert_eq!(config.timeouts.first_byte, Duration::from_secs(4));
    assert!(config.images.enabled);
    assert!(config.images.in_primary);
    assert_eq!(config.images.max_frames, 20);
    assert_eq!(config.images.max_pixels, 1_000_000);

    let off = Config::load_with(None, env_of(&[("TWINSTORE_RENDITIONS", "false")])).unwrap();
    assert!(!off.images.enabled);
    let bad = Config::load_with(None, env_of(&[("TWINSTORE_IMAGE_MAX_PIXELS", "lots")]));
    assert!(bad.unwrap_err().to_string().contains("TWINSTORE_IMAGE_MAX_PIXELS"));
}
