//! Configuration, in layers: built-in defaults, then an optional TOML file, then
//! environment variables (which a `.env` file may supply).
//!
//! With nothing configured, twinstore runs on the embedded default: a SQLite catalog at
//! `$TWINSTORE_DATA_DIR/catalog.db` and two folders, `primary/` and `backup/`, under
//! `$TWINSTORE_DATA_DIR` (`./twinstore-data` unless set).
//!
//! The environment names are the ones users of the original setup guide already have:
//!
//! | variable | meaning |
//! |---|---|
//! | `STORAGE_PROVIDER` | `s3`, `r2` or `uploadthing`: which service holds the backup copy |
//! | `UPLOADTHING_TOKEN` | UploadThing as the primary (the setup guide's arrangement) |
//! | `UPLOADTHING_API_URL`, `UPLOADTHING_INGEST_URL`, `UPLOADTHING_UFS_HOST` | its hosts |
//! | `UPLOADTHING_UFS_APP_ID_LOCATION`, `UPLOADTHING_ACL` | its file URLs, its ACL |
//! | `AWS_REGION`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_S3_BUCKET` | the S3 backup |
//! | `AWS_ENDPOINT_URL` | an S3-compatible endpoint instead of AWS (path-style requests) |
//! | `R2_ACCOUNT_ID`, `R2_ACCESS_KEY_ID`, `R2_SECRET_ACCESS_KEY`, `R2_BUCKET` | the R2 backup |
//! | `DATABASE_URL` | the catalog (`sqlite://...` or `postgres://...`) |
//! | `TWINSTORE_DATA_DIR` | where the embedded default keeps its files |
//! | `TWINSTORE_CONFIG` | the TOML file (the `--config` flag wins) |
//! | `TWINSTORE_PRIMARY`, `TWINSTORE_BACKUP` | the names of the stores in each role |
//! | `TWINSTORE_ALERT_WEBHOOK` | where store up/down alerts are POSTed |
//! | `TWINSTORE_CLAMD`, `TWINSTORE_SERVE_UNSCANNED` | virus scanning |
//! | `TWINSTORE_LISTEN`, `TWINSTORE_API_KEYS`, `TWINSTORE_PUBLIC_READS` | the service |
//! | `TWINSTORE_URL_SECRET`, `TWINSTORE_PUBLIC_URL`, `TWINSTORE_MAX_UPLOAD_BYTES` | the service |
//! | `TWINSTORE_HEALTH_INTERVAL_SECS` | how often stores are probed (default 60) |
//! | `TWINSTORE_RENDITIONS`, `TWINSTORE_IMAGE_MAX_PIXELS` | image renditions |
//! | `TWINSTORE_RENDITIONS_IN_PRIMARY` | keep renditions in the primary store too |

mod file;
mod secret;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

pub use secret::{DatabaseUrl, Secret};

use crate::store::StoreKind;
use file::FileConfig;

/// The data folder used when `TWINSTORE_DATA_DIR` is not set.
pub const DEFAULT_DATA_DIR: &str = "./twinstore-data";

/// Everything twinstore needs to run.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where the embedded default keeps its catalog and folders.
    pub data_dir: PathBuf,
    /// The catalog's database.
    pub database_url: DatabaseUrl,
    /// The name of the store in the primary role.
    pub primary: String,
    /// The name of the store in the backup role.
    pub backup: String,
    /// Every configured store, by name.
    pub stores: BTreeMap<String, StoreConfig>,
    /// Time limits for store calls, and how long a failed store is skipped.
    pub timeouts: Timeouts,
    /// Writes of whole files (uploads and replications) that run at once; more wait
    /// their turn. Each holds at most about 48 MiB of buffers (three 8 MiB parts per
    /// store), so the default of 3 bounds them to about 150 MiB.
    pub max_concurrent_writes: usize,
    /// The ClamAV daemon that scans every file: `tcp://HOST:PORT` or a unix socket
    /// path (`TWINSTORE_CLAMD`). Without it, files stay `pending` and are not scanned.
    pub clamd: Option<String>,
    /// Whether files not yet known clean (pending, skipped, error) are served.
    /// Default true; `TWINSTORE_SERVE_UNSCANNED=false` refuses them until clean.
    /// Infected files are never served.
    pub serve_unscanned: bool,
    /// How long a worker's lease on a job lasts (renewed while it runs); a worker that
    /// dies gives its jobs back after this. Default 60 s.
    pub job_lease: Duration,
    /// How often the service probes each store. Default 60 s.
    pub health_interval: Duration,
    /// Where alerts about stores going down or up are POSTed (JSON with a
    /// Slack-compatible `text` field). Webhook URLs carry their own credentials, so the
    /// URL is kept as a secret.
    pub alert_webhook: Option<Secret>,
    /// Price overrides for `costs`, by store name or by kind.
    pub prices: BTreeMap<String, crate::costs::PriceOverrides>,
    /// Image renditions: whether they are made, where they go, and the limits.
    pub images: ImageSettings,
    /// The HTTP service's settings.
    pub service: ServiceSettings,
}

/// Settings of image renditions (the `[images]` table).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageSettings {
    /// Whether images get renditions (`TWINSTORE_RENDITIONS`). Default true.
    pub enabled: bool,
    /// Images with more pixels than this are not decoded (`TWINSTORE_IMAGE_MAX_PIXELS`).
    /// Default 50 megapixels.
    pub max_pixels: u64,
    /// Animations with more frames than this are not decoded. Default 1,000.
    pub max_frames: u32,
    /// Whether renditions are stored in the primary store as well as in the backup
    /// (`TWINSTORE_RENDITIONS_IN_PRIMARY`). Default false.
    pub in_primary: bool,
    /// Images rendered at once. Default: the machine's cores.
    pub concurrency: usize,
}

impl Default for ImageSettings {
    fn default() -> Self {
        let limits = crate::render::RenderLimits::default();
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        Self {
            enabled: true,
            max_pixels: limits.max_pixels,
            max_frames: limits.max_frames,
            in_primary: false,
            concurrency: cores,
        }
    }
}

impl ImageSettings {
    /// The limits a render is held to.
    pub fn limits(&self) -> crate::render::RenderLimits {
        crate::render::RenderLimits { max_pixels: self.max_pixels, max_frames: self.max_frames }
    }
}

/// Settings of `twinstore serve`.
#[derive(Debug, Clone)]
pub struct ServiceSettings {
    /// The address to listen on. Default `127.0.0.1:8080` (`TWINSTORE_LISTEN`).
    pub listen: String,
    /// Keys accepted as `Authorization: Bearer KEY` (`TWINSTORE_API_KEYS`, comma
    /// separated). Without any, the service listens on loopback only.
    pub api_keys: Vec<Secret>,
    /// Whether reads need no key (`TWINSTORE_PUBLIC_READS=true`). Default false.
    pub public_reads: bool,
    /// The secret that signs download URLs (`TWINSTORE_URL_SECRET`). Without it a
    /// random one is made at start, and signed URLs end with the process.
    pub url_secret: Option<Secret>,
    /// The service's address as clients reach it, for the signed URLs it hands out
    /// (`TWINSTORE_PUBLIC_URL`). Default: `http://` and the listen address.
    pub public_url: Option<String>,
    /// The largest upload accepted, in bytes (`TWINSTORE_MAX_UPLOAD_BYTES`). Default
    /// 5 GiB.
    pub max_upload_bytes: u64,
    /// The time limit of requests other than uploads and downloads. Default 30 s.
    pub request_timeout: Duration,
    /// Requests handled at once; more wait their turn. Default 512.
    pub max_concurrent_requests: usize,
    /// How long shutdown waits for requests in flight. Default 30 s.
    pub shutdown_grace: Duration,
}

impl Default for ServiceSettings {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".to_owned(),
            api_keys: Vec::new(),
            public_reads: false,
            url_secret: None,
            public_url: None,
            max_upload_bytes: 5 * 1024 * 1024 * 1024,
            request_timeout: Duration::from_secs(30),
            max_concurrent_requests: 512,
            shutdown_grace: Duration::from_secs(30),
        }
    }
}

/// One store's settings. Which fields matter depends on `kind`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// The backend.
    pub kind: StoreKind,
    /// `local`: the folder (default: a folder named after the store in the data folder).
    pub path: Option<PathBuf>,
    /// `s3`, `r2`: the bucket.
    pub bucket: Option<String>,
    /// `s3`: the region (default `us-east-1`); `r2` always signs for `auto`.
    pub region: Option<String>,
    /// `s3`: an S3-compatible endpoint such as `http://127.0.0.1:3900`.
    pub endpoint: Option<String>,
    /// `r2`: the Cloudflare account id, which names the endpoint.
    pub account_id: Option<String>,
    /// `s3`, `r2`: the access key id.
    pub access_key_id: Option<String>,
    /// `s3`, `r2`: the secret access key.
    pub secret_access_key: Option<Secret>,
    /// A key prefix inside the bucket or folder, such as `uploads/`.
    pub prefix: Option<String>,
    /// The public base URL that serves this store's objects (a CDN or a public bucket).
    /// Without it, URLs handed out are signed and expire.
    pub public_base_url: Option<String>,
    /// `s3`: address buckets in the path (`endpoint/bucket/key`) rather than the host
    /// name. Default: on when an endpoint is set, off for AWS.
    pub path_style: Option<bool>,
    /// `uploadthing`: the v7 token (`UPLOADTHING_TOKEN`: base64 JSON with the API key,
    /// the app id and the regions).
    pub token: Option<Secret>,
    /// `uploadthing`: the REST API's base URL (`UPLOADTHING_API_URL`), default
    /// `https://api.uploadthing.com`.
    pub api_url: Option<String>,
    /// `uploadthing`: the ingest server's base URL (`UPLOADTHING_INGEST_URL`), default
    /// `https://{first region}.{ingest host}`.
    pub ingest_url: Option<String>,
    /// `uploadthing`: the file host (`UPLOADTHING_UFS_HOST`), default `ufs.sh`; an
    /// `http://` prefix makes file URLs plain HTTP (for a local fake).
    pub ufs_host: Option<String>,
    /// `uploadthing`: where the app id goes in file URLs
    /// (`UPLOADTHING_UFS_APP_ID_LOCATION`): `subdomain` (default) or `path`.
    pub ufs_app_id_location: Option<String>,
    /// `uploadthing`: the ACL of files twinstore uploads (`UPLOADTHING_ACL`):
    /// `public-read` (default) or `private` (URLs handed out are then signed).
    pub acl: Option<String>,
}

impl StoreConfig {
    /// A local folder store.
    pub fn local(path: impl Into<PathBuf>) -> Self {
        Self { path: Some(path.into()), ..Self::empty(StoreKind::Local) }
    }

    /// A store with only its kind set.
    pub fn empty(kind: StoreKind) -> Self {
        Self {
            kind,
            path: None,
            bucket: None,
            region: None,
            endpoint: None,
            account_id: None,
            access_key_id: None,
            secret_access_key: None,
            prefix: None,
            public_base_url: None,
            path_style: None,
            token: None,
            api_url: None,
            ingest_url: None,
            ufs_host: None,
            ufs_app_id_location: None,
            acl: None,
        }
    }
}

/// Time limits. All have defaults suited to a service next to an app.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// How long a read waits for a store to start answering before trying the other
    /// copy. Default 10 s.
    pub first_byte: Duration,
    /// How long a health round trip may take. Default 10 s.
    pub health: Duration,
    /// How long a store that failed is skipped by reads. Default 30 s.
    pub breaker_cooldown: Duration,
    /// How long a signed URL stays valid. Default 1 hour.
    pub signed_url_ttl: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            first_byte: Duration::from_secs(10),
            health: Duration::from_secs(10),
            breaker_cooldown: Duration::from_secs(30),
            signed_url_ttl: Duration::from_secs(3600),
        }
    }
}

/// Why the configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The TOML file could not be read.
    #[error("cannot read the configuration file {path}")]
    ReadFile {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The TOML file is not valid.
    #[error("the configuration file {path} is not valid")]
    ParseFile {
        /// The file.
        path: PathBuf,
        /// What the parser said.
        #[source]
        source: Box<toml::de::Error>,
    },
    /// A setting has a value that cannot work.
    #[error("{setting}: {message}")]
    Invalid {
        /// The setting, as named in the file or the environment.
        setting: String,
        /// What is wrong.
        message: String,
    },
}

impl Config {
    /// The embedded default: SQLite and two local folders under `data_dir`.
    pub fn embedded(data_dir: impl Into<PathBuf>) -> Self {
        let data_dir = data_dir.into();
        let database_url = sqlite_url(&data_dir.join("catalog.db"));
        let stores = BTreeMap::from([
            ("primary".to_owned(), StoreConfig::local(data_dir.join("primary"))),
            ("backup".to_owned(), StoreConfig::local(data_dir.join("backup"))),
        ]);
        Self {
            data_dir,
            database_url,
            primary: "primary".to_owned(),
            backup: "backup".to_owned(),
            stores,
            timeouts: Timeouts::default(),
            max_concurrent_writes: 3,
            clamd: None,
            job_lease: Duration::from_secs(60),
            serve_unscanned: true,
            health_interval: Duration::from_secs(60),
            alert_webhook: None,
            prices: BTreeMap::new(),
            images: ImageSettings::default(),
            service: ServiceSettings::default(),
        }
    }

    /// Loads the configuration from the process environment and the TOML file at
    /// `config_file` (or `TWINSTORE_CONFIG`), over the embedded default.
    pub fn load(config_file: Option<&Path>) -> Result<Self, ConfigError> {
        Self::load_with(config_file, |name| std::env::var(name).ok())
    }

    /// Like [`Config::load`], reading variables through `env` instead of the process
    /// environment.
    pub fn load_with(
        config_file: Option<&Path>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let env = |name: &str| env(name).filter(|value| !value.trim().is_empty());

        let file_path = config_file
            .map(Path::to_path_buf)
            .or_else(|| env("TWINSTORE_CONFIG").map(PathBuf::from));
        let file = match &file_path {
            Some(path) => FileConfig::read(path)?,
            None => FileConfig::default(),
        };

        let data_dir = env("TWINSTORE_DATA_DIR")
            .map(PathBuf::from)
            .or_else(|| file.data_dir.clone())
            .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR));
        let mut config = Self::embedded(&data_dir);

        file.apply(&mut config);
        apply_environment(&mut config, &env)?;
        config.fill_store_defaults();
        config.validate()?;
        Ok(config)
    }

    /// The primary store's settings.
    pub fn primary_store(&self) -> &StoreConfig {
        &self.stores[&self.primary]
    }

    /// The backup store's settings.
    pub fn backup_store(&self) -> &StoreConfig {
        &self.stores[&self.backup]
    }

    fn fill_store_defaults(&mut self) {
        for (name, store) in &mut self.stores {
            if store.kind == StoreKind::Local && store.path.is_none() {
                store.path = Some(self.data_dir.join(name));
            }
        }
    }

    fn validate(&self) -> Result<(), ConfigError> {
        for (setting, name) in [("primary", &self.primary), ("backup", &self.backup)] {
            if !self.stores.contains_key(name) {
                return Err(ConfigError::Invalid {
                    setting: setting.to_owned(),
                    message: format!("no store named {name:?} is configured"),
                });
            }
        }
        if self.primary == self.backup {
            return Err(ConfigError::Invalid {
                setting: "backup".to_owned(),
                message: "the backup must be a different store from the primary".to_owned(),
            });
        }
        Ok(())
    }
}

/// Whether a flag's text turns it off.
fn is_off(flag: &str) -> bool {
    matches!(flag.trim(), "0" | "false" | "no" | "off")
}

/// Applies the environment variables of the original setup guide, and twinstore's own.
fn apply_environment(
    config: &mut Config,
    env: &impl Fn(&str) -> Option<String>,
) -> Result<(), ConfigError> {
    if let Some(url) = env("DATABASE_URL") {
        config.database_url = DatabaseUrl::new(url);
    }

    if let Some(provider) = env("STORAGE_PROVIDER") {
        let (name, store) = match provider.trim().to_ascii_lowercase().as_str() {
            "s3" => ("s3", s3_from_env(env)),
            "r2" => ("r2", r2_from_env(env)),
            "uploadthing" => ("uploadthing", uploadthing_from_env(env)),
            other => {
                return Err(ConfigError::Invalid {
                    setting: "STORAGE_PROVIDER".to_owned(),
                    message: format!("expected \"s3\", \"r2\" or \"uploadthing\", got {other:?}"),
                });
            }
        };
        config.stores.insert(name.to_owned(), store);
        config.backup = name.to_owned();
    }
    // The setup guide's arrangement: a token alone makes UploadThing the primary (unless
    // STORAGE_PROVIDER already put it in the backup role).
    if env("UPLOADTHING_TOKEN").is_some() && !config.stores.contains_key("uploadthing") {
        config.stores.insert("uploadthing".to_owned(), uploadthing_from_env(env));
        config.primary = "uploadthing".to_owned();
    }

    if let Some(webhook) = env("TWINSTORE_ALERT_WEBHOOK") {
        config.alert_webhook = Some(Secret::new(webhook));
    }
    if let Some(secs) = env("TWINSTORE_HEALTH_INTERVAL_SECS") {
        let secs: u64 = secs.parse().map_err(|_| ConfigError::Invalid {
            setting: "TWINSTORE_HEALTH_INTERVAL_SECS".to_owned(),
            message: format!("expected a number of seconds, got {secs:?}"),
        })?;
        config.health_interval = Duration::from_secs(secs.max(1));
    }
    let service = &mut config.service;
    if let Some(listen) = env("TWINSTORE_LISTEN") {
        service.listen = listen;
    }
    if let Some(keys) = env("TWINSTORE_API_KEYS") {
        let keys = keys.split(',').map(str::trim).filter(|key| !key.is_empty());
        service.api_keys = keys.map(Secret::new).collect();
    }
    if let Some(public) = env("TWINSTORE_PUBLIC_READS") {
        service.public_reads = matches!(public.trim(), "1" | "true" | "yes" | "on");
    }
    if let Some(secret) = env("TWINSTORE_URL_SECRET") {
        service.url_secret = Some(Secret::new(secret));
    }
    if let Some(url) = env("TWINSTORE_PUBLIC_URL") {
        service.public_url = Some(url.trim_end_matches('/').to_owned());
    }
    if let Some(bytes) = env("TWINSTORE_MAX_UPLOAD_BYTES") {
        service.max_upload_bytes = bytes.trim().parse().map_err(|_| ConfigError::Invalid {
            setting: "TWINSTORE_MAX_UPLOAD_BYTES".to_owned(),
            message: format!("expected a number of bytes, got {bytes:?}"),
        })?;
    }
    if let Some(secs) = env("TWINSTORE_JOB_LEASE_SECS") {
        let secs: u64 = secs.trim().parse().map_err(|_| ConfigError::Invalid {
            setting: "TWINSTORE_JOB_LEASE_SECS".to_owned(),
            message: format!("expected a number of seconds, got {secs:?}"),
        })?;
        config.job_lease = Duration::from_secs(secs.max(1));
    }
    if let Some(clamd) = env("TWINSTORE_CLAMD") {
        config.clamd = Some(clamd);
    }
    if let Some(serve) = env("TWINSTORE_SERVE_UNSCANNED") {
        config.serve_unscanned = !is_off(&serve);
    }
    if let Some(writes) = env("TWINSTORE_MAX_CONCURRENT_WRITES") {
        let writes: usize = writes.trim().parse().map_err(|_| ConfigError::Invalid {
            setting: "TWINSTORE_MAX_CONCURRENT_WRITES".to_owned(),
            message: format!("expected a number, got {writes:?}"),
        })?;
        config.max_concurrent_writes = writes.max(1);
    }
    if let Some(enabled) = env("TWINSTORE_RENDITIONS") {
        config.images.enabled = !is_off(&enabled);
    }
    if let Some(in_primary) = env("TWINSTORE_RENDITIONS_IN_PRIMARY") {
        config.images.in_primary = !is_off(&in_primary);
    }
    if let Some(pixels) = env("TWINSTORE_IMAGE_MAX_PIXELS") {
        let pixels: u64 = pixels.trim().parse().map_err(|_| ConfigError::Invalid {
            setting: "TWINSTORE_IMAGE_MAX_PIXELS".to_owned(),
            message: format!("expected a number of pixels, got {pixels:?}"),
        })?;
        config.images.max_pixels = pixels;
    }
    if let Some(primary) = env("TWINSTORE_PRIMARY") {
        config.primary = primary;
    }
    if let Some(backup) = env("TWINSTORE_BACKUP") {
        config.backup = backup;
    }
    Ok(())
}

fn s3_from_env(env: &impl Fn(&str) -> Option<String>) -> StoreConfig {
    StoreConfig {
        bucket: env("AWS_S3_BUCKET"),
        region: env("AWS_REGION"),
        endpoint: env("AWS_ENDPOINT_URL"),
        access_key_id: env("AWS_ACCESS_KEY_ID"),
        secret_access_key: env("AWS_SECRET_ACCESS_KEY").map(Secret::new),
        public_base_url: env("AWS_S3_PUBLIC_URL"),
        ..StoreConfig::empty(StoreKind::S3)
    }
}

fn r2_from_env(env: &impl Fn(&str) -> Option<String>) -> StoreConfig {
    StoreConfig {
        bucket: env("R2_BUCKET"),
        account_id: env("R2_ACCOUNT_ID"),
        access_key_id: env("R2_ACCESS_KEY_ID"),
        secret_access_key: env("R2_SECRET_ACCESS_KEY").map(Secret::new),
        public_base_url: env("R2_PUBLIC_URL"),
        ..StoreConfig::empty(StoreKind::R2)
    }
}

fn uploadthing_from_env(env: &impl Fn(&str) -> Option<String>) -> StoreConfig {
    StoreConfig {
        token: env("UPLOADTHING_TOKEN").map(|token| Secret::new(token.trim())),
        api_url: env("UPLOADTHING_API_URL"),
        ingest_url: env("UPLOADTHING_INGEST_URL"),
        ufs_host: env("UPLOADTHING_UFS_HOST"),
        ufs_app_id_location: env("UPLOADTHING_UFS_APP_ID_LOCATION"),
        acl: env("UPLOADTHING_ACL"),
        ..StoreConfig::empty(StoreKind::UploadThing)
    }
}

/// The sqlx URL of a SQLite file, created when missing.
fn sqlite_url(path: &Path) -> DatabaseUrl {
    DatabaseUrl::new(format!("sqlite://{}?mode=rwc", path.display()))
}

#[cfg(test)]
mod tests;
