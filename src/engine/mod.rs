//! The engine: the redundant put, the failover read, and the operations around them.
//!
//! [`Twinstore`] is the library's entry point; the CLI and the service are thin layers
//! over it.

mod cost_report;
mod digest;
mod ingest;
mod migrate;
mod monitor;
mod put;
mod read;
mod render;
mod repair;
mod replicate;
mod scan;
mod scrub;
mod status;
mod verify;
mod worker;

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use serde::Serialize;
use tracing::{info, warn};

pub use cost_report::{CostReport, MigrationOption, StoreCostLine};
pub use migrate::{MigrateOptions, MigrateReport, MigrationPlan, Role};
pub use monitor::{Alert, HealthMonitor};
pub use read::{FileReader, ReadOptions};
pub use render::{RenderOutcome, RenditionReader};
pub use repair::{RepairOptions, RepairReport};
pub use scrub::{SCRUB_INTERVAL, ScrubReport};
pub use status::Status;
pub use verify::{CopyProblem, Orphan, Progress, RenditionProblem, StoreProblem, VerifyReport};
pub use worker::{Worker, WorkerOptions};

use crate::catalog::{Catalog, CopyState, FilePage, FileRecord, Roles};
use crate::config::{Config, ConfigError};
use crate::error::{Error, Result};
use crate::store::{CircuitBreaker, MeteredStore, Store, StoreHealth, open_store, round_trip};

/// Both stores' health, from real round trips, and the virus scanner's.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct StorageHealth {
    /// The primary store.
    pub primary: StoreHealth,
    /// The backup store.
    pub backup: StoreHealth,
    /// The virus scanner, when one is configured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scanner: Option<crate::scan::ScannerHealth>,
    /// The catalog's database.
    pub catalog: CatalogHealth,
}

/// Whether the catalog's database answers.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CatalogHealth {
    /// Whether a trivial query worked.
    pub available: bool,
    /// `sqlite` or `postgres`.
    pub backend: &'static str,
    /// Why it did not.
    pub error: Option<String>,
}

/// A running twinstore: the configured stores and the catalog.
#[derive(Debug)]
pub struct Twinstore {
    config: Config,
    catalog: Catalog,
    stores: BTreeMap<String, Arc<dyn Store>>,
    /// Woken when this process queues a job, so that its workers start at once
    /// instead of at their next poll.
    jobs_queued: tokio::sync::Notify,
    /// The virus scanner, when one is configured.
    scanner: Option<crate::scan::Scanner>,
    /// Whole-file writes running at once are bounded, and with them the memory their
    /// part buffers take.
    write_slots: Arc<tokio::sync::Semaphore>,
    /// Images rendered at once are bounded to the cores (renders are CPU-bound).
    render_slots: Arc<tokio::sync::Semaphore>,
    /// The meters around each store, whose counts feed the cost report.
    meters: Vec<(String, Arc<MeteredStore>)>,
    /// Which store holds each role: the configuration's, unless the catalog records
    /// a change (after a migration). Refreshed by [`Twinstore::refresh_roles`].
    roles: RwLock<Roles>,
    breaker: CircuitBreaker,
}

impl Twinstore {
    /// Opens every configured store and the catalog (applying migrations).
    pub async fn open(config: Config) -> Result<Self> {
        let mut stores = BTreeMap::new();
        for (name, store_config) in &config.stores {
            stores.insert(name.clone(), open_store(name, store_config)?);
        }
        let catalog = Catalog::connect(&config.database_url).await?;
        let twinstore = Self::from_parts(config, catalog, stores);
        twinstore.refresh_roles().await?;
        Ok(twinstore)
    }

    /// Assembles a twinstore from stores that are already open, for callers (and
    /// tests) that build their own stores. `stores` must hold the primary and backup
    /// named in `config`.
    pub fn from_parts(
        config: Config,
        catalog: Catalog,
        stores: BTreeMap<String, Arc<dyn Store>>,
    ) -> Self {
        assert!(stores.contains_key(&config.primary), "the primary store is not open");
        assert!(stores.contains_key(&config.backup), "the backup store is not open");
        let breaker = CircuitBreaker::new(config.timeouts.breaker_cooldown);
        let roles = RwLock::new(configured_roles(&config));
        let mut meters = Vec::new();
        let stores = stores
            .into_iter()
            .map(|(name, store)| {
                let metered = Arc::new(MeteredStore::new(store));
                meters.push((name.clone(), metered.clone()));
                (name, metered as Arc<dyn Store>)
            })
            .collect();
        let write_slots = Arc::new(tokio::sync::Semaphore::new(config.max_concurrent_writes));
        let scanner = config.clamd.as_deref().and_then(|address| {
            match crate::scan::ClamdAddress::parse(address) {
                Ok(address) => Some(crate::scan::Scanner::new(address)),
                Err(err) => {
                    warn!(error = %err, "virus scanning is off");
                    None
                }
            }
        });
        let render_slots = Arc::new(tokio::sync::Semaphore::new(config.images.concurrency));
        let jobs_queued = tokio::sync::Notify::new();
        Self {
            config,
            catalog,
            stores,
            meters,
            roles,
            breaker,
            write_slots,
            render_slots,
            scanner,
            jobs_queued,
        }
    }

    /// The meter around each store: request counts, bytes and timings.
    pub fn store_meters(&self) -> &[(String, Arc<MeteredStore>)] {
        &self.meters
    }

    /// Adds the requests and bytes counted since the last flush to the catalog's
    /// usage table, for the cost report.
    pub async fn flush_usage(&self) -> Result<()> {
        for (name, meter) in &self.meters {
            let counts = meter.take();
            if !counts.is_empty() {
                self.catalog.add_usage(name, &counts).await?;
            }
        }
        Ok(())
    }

    /// Reads the roles recorded in the catalog (a migration may have changed them).
    pub async fn refresh_roles(&self) -> Result<Roles> {
        let roles = self.catalog.roles(&configured_roles(&self.config)).await?;
        for name in [&roles.primary, &roles.backup] {
            if !self.stores.contains_key(name) {
                let message =
                    format!("the catalog gives a role to store {name:?}, which is not configured");
                let setting = "stores".to_owned();
                return Err(ConfigError::Invalid { setting, message }.into());
            }
        }
        let mut current = self.roles.write().expect("roles lock poisoned");
        if *current != roles {
            info!(primary = %roles.primary, backup = %roles.backup, "store roles from the catalog");
            *current = roles.clone();
        }
        Ok(roles)
    }

    /// Which store holds each role now.
    pub fn roles(&self) -> Roles {
        self.roles.read().expect("roles lock poisoned").clone()
    }

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The catalog.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// The store in the primary role.
    pub fn primary(&self) -> Arc<dyn Store> {
        self.stores[&self.roles().primary].clone()
    }

    /// The store in the backup role.
    pub fn backup(&self) -> Arc<dyn Store> {
        self.stores[&self.roles().backup].clone()
    }

    /// The store named `name`, if it is configured.
    pub fn store(&self, name: &str) -> Option<&Arc<dyn Store>> {
        self.stores.get(name)
    }

    /// The file `id` with its copies.
    pub async fn file(&self, id: &str) -> Result<FileRecord> {
        self.catalog.file(id).await?.ok_or_else(|| Error::FileNotFound { id: id.to_owned() })
    }

    /// Up to `limit` files, newest first, after `cursor`.
    pub async fn list(&self, limit: u32, cursor: Option<&str>) -> Result<FilePage> {
        Ok(self.catalog.list_files(limit, cursor).await?)
    }

    /// Checks both stores with a real round trip (put, get and delete a canary object),
    /// at the same time.
    pub async fn check_storage_health(&self) -> StorageHealth {
        let timeout = self.config.timeouts.health;
        let (primary, backup) = (self.primary(), self.backup());
        let (primary, backup) = tokio::join!(
            round_trip(primary.as_ref(), timeout),
            round_trip(backup.as_ref(), timeout),
        );
        let scanner = match &self.scanner {
            Some(scanner) => Some(scanner.health().await),
            None => None,
        };
        let catalog = CatalogHealth {
            backend: match self.catalog.backend() {
                crate::catalog::Backend::Sqlite => "sqlite",
                crate::catalog::Backend::Postgres => "postgres",
            },
            ..match tokio::time::timeout(timeout, self.catalog.ping()).await {
                Ok(Ok(())) => CatalogHealth { available: true, backend: "", error: None },
                Ok(Err(err)) => CatalogHealth {
                    available: false,
                    backend: "",
                    error: Some(crate::store::error_chain(&err)),
                },
                Err(_) => CatalogHealth {
                    available: false,
                    backend: "",
                    error: Some(format!("no answer within {timeout:?}")),
                },
            }
        };
        StorageHealth { primary, backup, scanner, catalog }
    }

    /// Removes every copy of the file `id`, then its catalog row.
    ///
    /// A store that fails keeps its copy recorded (the others are marked `deleted`),
    /// and the error says so; running `remove` again finishes the job.
    pub async fn remove(&self, id: &str) -> Result<()> {
        let file = self.file(id).await?;
        let mut failures = Vec::new();

        for copy in file.copies.iter().filter(|c| c.state != CopyState::Deleted) {
            let store = self.store_of(&file, &copy.store)?;
            match store.delete(&copy.key).await {
                Ok(()) => {
                    self.catalog.set_copy_state(id, &copy.store, CopyState::Deleted, None).await?;
                }
                Err(err) => {
                    warn!(file_id = %id, store = %copy.store, error = %err, "copy not removed");
                    failures.push(format!("{}: {err}", copy.store));
                }
            }
        }
        let renditions = self.catalog.renditions(id).await?;
        failures.extend(self.delete_renditions(&renditions).await);
        if !failures.is_empty() {
            return Err(Error::IncompleteDelete {
                id: id.to_owned(),
                reasons: failures.join("; "),
            });
        }

        self.catalog.delete_file(id).await?;
        info!(file_id = %id, "file removed from every store");
        Ok(())
    }

    /// The ids of every file, oldest first.
    pub async fn all_file_ids(&self) -> Result<Vec<String>> {
        let mut ids = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let files = self.catalog.files_after(after.as_deref(), 1000).await?;
            let Some(last) = files.last() else { return Ok(ids) };
            after = Some(last.id.clone());
            ids.extend(files.into_iter().map(|file| file.id));
        }
    }

    /// Sets the URLs the `file` table shows from the copies in the current roles.
    async fn refresh_file_urls(&self, file_id: &str) -> Result<()> {
        let file = self.file(file_id).await?;
        let roles = self.roles();
        let url_of = |store: &str| file.copy_in(store).map(|copy| copy.url.clone());
        let Some(url) = url_of(&roles.primary) else {
            return Ok(());
        };
        let backup_url = url_of(&roles.backup);
        if url != file.url || backup_url != file.backup_url {
            self.catalog.set_file_urls(file_id, &url, backup_url.as_deref()).await?;
        }
        Ok(())
    }

    /// Waits for a turn to write a whole file (see `max_concurrent_writes`).
    async fn write_slot(&self) -> tokio::sync::SemaphorePermit<'_> {
        self.write_slots.acquire().await.expect("the write semaphore is never closed")
    }

    fn store_of(&self, file: &FileRecord, store: &str) -> Result<&Arc<dyn Store>> {
        self.stores
            .get(store)
            .ok_or_else(|| Error::UnknownStore { id: file.id.clone(), store: store.to_owned() })
    }
}

fn configured_roles(config: &Config) -> Roles {
    Roles { primary: config.primary.clone(), backup: config.backup.clone() }
}
