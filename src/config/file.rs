//! The optional TOML configuration file.
//!
//! ```toml
//! data_dir = "/var/lib/twinstore"
//! database_url = "sqlite:///var/lib/twinstore/catalog.db"
//! primary = "garage"
//! backup = "r2"
//!
//! [stores.garage]
//! kind = "s3"
//! endpoint = "http://127.0.0.1:3900"
//! bucket = "uploads"
//! access_key_id = "GK..."
//! secret_access_key = "..."
//!
//! [stores.r2]
//! kind = "r2"
//! account_id = "..."
//! bucket = "uploads-backup"
//! public_base_url = "https://files.example.com"
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::{Config, ConfigError, DatabaseUrl, Secret, StoreConfig};

/// The file's contents; every field is optional and overrides the default.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileConfig {
    pub(super) data_dir: Option<PathBuf>,
    database_url: Option<DatabaseUrl>,
    primary: Option<String>,
    backup: Option<String>,
    #[serde(default)]
    stores: BTreeMap<String, StoreConfig>,
    first_byte_timeout_secs: Option<u64>,
    health_timeout_secs: Option<u64>,
    breaker_cooldown_secs: Option<u64>,
    signed_url_ttl_secs: Option<u64>,
    health_interval_secs: Option<u64>,
    max_concurrent_writes: Option<usize>,
    clamd: Option<String>,
    serve_unscanned: Option<bool>,
    alert_webhook: Option<Secret>,
    #[serde(default)]
    prices: BTreeMap<String, crate::costs::PriceOverrides>,
    #[serde(default)]
    images: ImagesTable,
}

/// The `[images]` table.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ImagesTable {
    enabled: Option<bool>,
    max_pixels: Option<u64>,
    max_frames: Option<u32>,
    in_primary: Option<bool>,
    concurrency: Option<usize>,
}

impl FileConfig {
    pub(super) fn read(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| ConfigError::ReadFile { path: path.to_path_buf(), source })?;
        toml::from_str(&text).map_err(|source| ConfigError::ParseFile {
            path: path.to_path_buf(),
            source: Box::new(source),
        })
    }

    pub(super) fn apply(self, config: &mut Config) {
        if let Some(url) = self.database_url {
            config.database_url = url;
        }
        if let Some(primary) = self.primary {
            config.primary = primary;
        }
        if let Some(backup) = self.backup {
            config.backup = backup;
        }
        config.stores.extend(self.stores);
        config.prices.extend(self.prices);
        if let Some(webhook) = self.alert_webhook {
            config.alert_webhook = Some(webhook);
        }
        if let Some(clamd) = self.clamd {
            config.clamd = Some(clamd);
        }
        if let Some(serve) = self.serve_unscanned {
            config.serve_unscanned = serve;
        }
        let images = &mut config.images;
        if let Some(enabled) = self.images.enabled {
            images.enabled = enabled;
        }
        if let Some(pixels) = self.images.max_pixels {
            images.max_pixels = pixels;
        }
        if let Some(frames) = self.images.max_frames {
            images.max_frames = frames;
        }
        if let Some(in_primary) = self.images.in_primary {
            images.in_primary = in_primary;
        }
        if let Some(concurrency) = self.images.concurrency {
            images.concurrency = concurrency.max(1);
        }
        if let Some(writes) = self.max_concurrent_writes {
            config.max_concurrent_writes = writes.max(1);
        }
        if let Some(secs) = self.health_interval_secs {
            config.health_interval = std::time::Duration::from_secs(secs.max(1));
        }

        let seconds = std::time::Duration::from_secs;
        let timeouts = &mut config.timeouts;
        if let Some(secs) = self.first_byte_timeout_secs {
            timeouts.first_byte = seconds(secs);
        }
        if let Some(secs) = self.health_timeout_secs {
            timeouts.health = seconds(secs);
        }
        if let Some(secs) = self.breaker_cooldown_secs {
            timeouts.breaker_cooldown = seconds(secs);
        }
        if let Some(secs) = self.signed_url_ttl_secs {
            timeouts.signed_url_ttl = seconds(secs);
        }
    }
}
