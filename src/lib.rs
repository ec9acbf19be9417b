//! twinstore keeps every file in two stores at once, a primary and a backup, with a SQL
//! catalog of both copies, and reads with failover.
//!
//! ```no_run
//! # async fn example() -> twinstore::Result<()> {
//! use twinstore::{Config, Twinstore};
//!
//! let twinstore = Twinstore::open(Config::load(None)?).await?;
//! let file = twinstore.put_path("report.pdf".as_ref()).await?;
//! let url = twinstore.file_url(&file.id, false).await?;
//! let health = twinstore.check_storage_health().await;
//! println!("{url} primary up: {}", health.primary.available);
//! # Ok(())
//! # }
//! ```

#![warn(missing_docs)]

pub mod catalog;
pub mod config;
pub mod costs;
pub mod engine;
pub mod error;
pub mod jobs;
pub mod names;
pub mod render;
pub mod scan;
pub mod service;
pub mod store;

pub use catalog::{CopyRecord, CopyState, FileRecord};
pub use config::Config;
pub use engine::{FileReader, ReadOptions, StorageHealth, Twinstore};
pub use error::{Error, Result};
