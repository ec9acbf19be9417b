//! Shared test support: a real Garage S3 server per test, test data, and helpers.
//!
//! Tests that need S3 start their own Garage processes on free loopback ports, with
//! fresh state, and stop them (by PID) when dropped. `garage` must be on the PATH
//! (`scripts/test` installs it): a test fails loudly when it is missing, never skips.

#![allow(dead_code)]

pub mod clamd;
pub mod garage;
pub mod images;
pub mod postgres;
pub mod uploadthing;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use twinstore::Twinstore;
use twinstore::catalog::Catalog;
use twinstore::config::{Config, StoreConfig, Timeouts};
use twinstore::store::{ByteStream, Store, open_store};

pub use garage::Garage;

/// Deterministic pseudo-random bytes (xorshift), different for each seed.
pub fn test_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.extend_from_slice(&state.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// A body stream of `data` in chunks of `chunk` bytes.
pub fn body(data: &[u8], chunk: usize) -> ByteStream {
    let chunks: Vec<std::io::Result<Bytes>> =
        data.chunks(chunk.max(1)).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
    futures::stream::iter(chunks).boxed()
}

/// Reads a whole stream into memory (test data is small enough).
pub async fn collect(mut stream: ByteStream) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    while let Some(chunk) = stream.next().await {
        out.extend_from_slice(&chunk?);
    }
    Ok(out)
}

/// SHA-256 in lowercase hex.
pub fn sha256(data: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(data))
}

/// A twinstore over two Garage servers (one per role) and a SQLite catalog in a
/// temporary folder, with short timeouts so that failover tests run quickly.
pub struct TwoGarages {
    pub primary: Garage,
    pub backup: Garage,
    pub dir: tempfile::TempDir,
    pub config: Config,
}

impl TwoGarages {
    pub fn start() -> Self {
        let primary = Garage::start(&["primary"]);
        let backup = Garage::start(&["backup"]);
        let dir = tempfile::tempdir().unwrap();

        let mut config = Config::embedded(dir.path());
        if let Some(url) = test_postgres_database() {
            config.database_url = twinstore::config::DatabaseUrl::new(url);
        }
        config.stores = BTreeMap::from([
            ("garage-a".to_owned(), primary.store_config("primary")),
            ("garage-b".to_owned(), backup.store_config("backup")),
        ]);
        config.primary = "garage-a".to_owned();
        config.backup = "garage-b".to_owned();
        config.timeouts = Timeouts {
            first_byte: Duration::from_secs(2),
            health: Duration::from_secs(5),
            breaker_cooldown: Duration::from_secs(30),
            signed_url_ttl: Duration::from_secs(600),
        };
        Self { primary, backup, dir, config }
    }

    pub async fn open(&self) -> Twinstore {
        Twinstore::open(self.config.clone()).await.unwrap()
    }

    /// The two stores as a TOML configuration file's text, for `twinstore` processes.
    pub fn toml(&self) -> String {
        let store = |name: &str, garage: &Garage, bucket: &str| {
            format!(
                "[stores.{name}]\nkind = \"s3\"\nendpoint = \"{}\"\nbucket = \"{bucket}\"\n\
                 access_key_id = \"{}\"\nsecret_access_key = \"{}\"\n\n",
                garage.endpoint(),
                Garage::access_key(),
                Garage::secret_key()
            )
        };
        format!(
            "primary = \"garage-a\"\nbackup = \"garage-b\"\n\n{}{}",
            store("garage-a", &self.primary, "primary"),
            store("garage-b", &self.backup, "backup")
        )
    }
}

/// A free TCP port on loopback.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Opens the store `name` of `config` on its own, to look behind twinstore's back.
pub fn raw_store(config: &Config, name: &str) -> Arc<dyn Store> {
    open_store(name, &config.stores[name]).unwrap()
}

/// Keys of every object in `store` under `files/`.
pub async fn keys_in(store: &dyn Store) -> Vec<String> {
    let listed: Vec<_> = store.list("files/").collect().await;
    listed.into_iter().map(|info| info.unwrap().key).collect()
}

/// Runs the setup guide's query, exactly as written, on the catalog.
pub async fn guide_query(
    catalog: &Catalog,
) -> Vec<(String, String, Option<String>, Option<String>)> {
    use sqlx::Row;
    // The guide's text, split only to keep the line short.
    let rows = sqlx::query(concat!(
        r#"SELECT name, url, "backupUrl", "thumbnailUrl" "#,
        r#"FROM file ORDER BY "createdAt" DESC LIMIT 5;"#
    ))
    .fetch_all(catalog.pool())
    .await
    .unwrap();
    rows.iter().map(|row| (row.get(0), row.get(1), row.get(2), row.get(3))).collect()
}

/// A local folder store config under `dir`.
pub fn local(dir: &Path, name: &str) -> StoreConfig {
    StoreConfig::local(dir.join(name))
}

/// A twinstore HTTP service running in this process on a free loopback port.
pub struct Service {
    pub twinstore: Arc<Twinstore>,
    pub base: String,
    shutdown: tokio_util::sync::CancellationToken,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Service {
    /// Starts the service over `config`, with `settings` (its listen address is
    /// replaced by a free loopback port).
    pub async fn start(
        config: &Config,
        mut settings: twinstore::config::ServiceSettings,
    ) -> Service {
        settings.listen = "127.0.0.1:0".to_owned();
        let twinstore = Arc::new(Twinstore::open(config.clone()).await.unwrap());
        let server = twinstore::service::Server::bind(twinstore.clone(), settings).await.unwrap();
        let base = format!("http://{}", server.local_addr());
        let shutdown = tokio_util::sync::CancellationToken::new();
        let task = tokio::spawn({
            let shutdown = shutdown.clone();
            async move { server.run(shutdown).await.unwrap() }
        });
        Service { twinstore, base, shutdown, task: Some(task) }
    }

    /// The URL of `path` on the service.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Stops the service and waits for it.
    pub async fn stop(mut self) {
        self.shutdown.cancel();
        if let Some(task) = self.task.take() {
            task.await.unwrap();
        }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// A fresh, empty PostgreSQL database for one test, when the test run is on
/// PostgreSQL (`scripts/test` sets `TWINSTORE_TEST_POSTGRES_URL` to a server it
/// started for its second pass); `None` on the SQLite pass.
pub fn test_postgres_database() -> Option<String> {
    let server = std::env::var("TWINSTORE_TEST_POSTGRES_URL").ok()?;
    let name = format!("t_{}", uuid::Uuid::new_v4().simple());
    let output = std::process::Command::new("psql")
        .arg(&server)
        .args(["-v", "ON_ERROR_STOP=1", "-qc", &format!("CREATE DATABASE {name}")])
        .output()
        .expect("psql runs");
    assert!(
        output.status.success(),
        "cannot create a test database on {server}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let base = server.rsplit_once('/').map(|(base, _)| base).unwrap_or(&server);
    Some(format!("{base}/{name}"))
}
