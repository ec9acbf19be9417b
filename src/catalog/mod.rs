//! The catalog: a SQL record of every file and every copy of it.
//!
//! One code path serves SQLite (the embedded default) and PostgreSQL, through sqlx's
//! `Any` driver. Queries are written in the SQL both accept, with `$N` placeholders in
//! increasing order (SQLite numbers named parameters by first appearance).

mod health;
mod jobs;
mod model;
mod renditions;
mod roles;
mod scan;
mod uploadthing;
mod usage;

use std::path::Path;

use chrono::{DateTime, Utc};
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, AssertSqlSafe, Row};

pub use health::HealthProbe;
pub use jobs::{ClaimedJob, JobCounts, JobSummary};
pub use model::{CopyRecord, CopyState, FileRecord, now};
use model::{from_text, to_text};
pub use renditions::RenditionRecord;
pub use roles::{Migration, Roles};
pub use scan::QuarantineRecord;

use crate::config::DatabaseUrl;
use crate::jobs::Job;

/// Why a catalog operation failed.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// The database could not be reached or opened.
    #[error("cannot open the catalog at {url}")]
    Connect {
        /// The database URL, password masked.
        url: String,
        /// What the driver said.
        #[source]
        source: sqlx::Error,
    },
    /// The schema could not be brought up to date.
    #[error("cannot migrate the catalog schema")]
    Migrate(#[source] sqlx::migrate::MigrateError),
    /// A query failed.
    #[error("the catalog failed to {operation}")]
    Query {
        /// What was being done, such as `insert file`.
        operation: &'static str,
        /// What the driver said.
        #[source]
        source: sqlx::Error,
    },
    /// A row holds a value this version cannot read.
    #[error("the catalog holds an unreadable {what}: {value:?}")]
    Corrupt {
        /// The column or field.
        what: &'static str,
        /// The value found.
        value: String,
    },
}

/// A page of files, newest first, and the cursor for the next page.
#[derive(Debug, Clone)]
pub struct FilePage {
    /// The files on this page.
    pub files: Vec<FileRecord>,
    /// Where the next page starts, when there is one.
    pub next_cursor: Option<String>,
}

/// Copies by state: the replication backlog.
#[derive(Debug, Clone, Default, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CopyBacklog {
    /// Copies waiting to be written.
    pub pending: u64,
    /// Copies in place.
    pub stored: u64,
    /// Copies given up on.
    pub failed: u64,
    /// Copies removed on purpose.
    pub deleted: u64,
    /// When the oldest pending copy was recorded.
    pub oldest_pending: Option<DateTime<Utc>>,
}

/// The catalog database.
#[derive(Debug, Clone)]
pub struct Catalog {
    pool: AnyPool,
    backend: Backend,
}

/// The database behind the catalog, for the few places where the SQL differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite: one writer at a time, so job claims need no row locks.
    Sqlite,
    /// PostgreSQL: several instances claim jobs with `FOR UPDATE SKIP LOCKED`.
    Postgres,
}

impl Catalog {
    /// Opens the catalog at `url`, creating a SQLite file if needed, and applies any
    /// pending migrations.
    pub async fn connect(url: &DatabaseUrl) -> Result<Self, CatalogError> {
        sqlx::any::install_default_drivers();
        let connect_error = |source| CatalogError::Connect { url: url.redacted(), source };

        if let Some(path) = sqlite_path(url.expose())
            && let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty())
        {
            std::fs::create_dir_all(parent).map_err(|err| connect_error(err.into()))?;
        }

        let pool = AnyPoolOptions::new()
            .max_connections(8)
            // A database that is down must fail requests quickly (and the health
            // check report it), not hold them for sqlx's default 30 s.
            .acquire_timeout(std::time::Duration::from_secs(5))
            .after_connect(|conn, _meta| {
                Box::pin(async move {
                    if conn.backend_name() == "SQLite" {
                        // WAL lets readers work beside the writer; FULL sync keeps an
                        // acknowledged upload's row through a power loss.
                        for pragma in [
                            "PRAGMA journal_mode = WAL",
                            "PRAGMA synchronous = FULL",
                            "PRAGMA foreign_keys = ON",
                            "PRAGMA busy_timeout = 10000",
                        ] {
                            sqlx::query(pragma).execute(&mut *conn).await?;
                        }
                    }
                    Ok(())
                })
            })
            .connect(url.expose())
            .await
            .map_err(connect_error)?;

        sqlx::migrate!("./migrations").run(&pool).await.map_err(CatalogError::Migrate)?;
        let backend =
            if url.expose().starts_with("postgres") { Backend::Postgres } else { Backend::Sqlite };
        Ok(Self { pool, backend })
    }

    /// The database behind the catalog.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Whether the database answers a trivial query.
    pub async fn ping(&self) -> Result<(), CatalogError> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(|source| CatalogError::Query { operation: "reach the database", source })?;
        Ok(())
    }

    /// The connection pool, for queries that have no method here.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Records a new file, its copies, and the jobs that follow from it, in one
    /// transaction.
    pub async fn insert_file(&self, file: &FileRecord, jobs: &[Job]) -> Result<(), CatalogError> {
        let query_error = |operation| move |source| CatalogError::Query { operation, source };
        let now = to_text(now());
        let mut tx = self.pool.begin().await.map_err(query_error("begin a transaction"))?;

        sqlx::query(
            r#"INSERT INTO file (id, name, size, "contentType", sha256, url, "backupUrl",
                 "thumbnailUrl", "scanStatus", "renderStatus", "createdAt", "updatedAt")
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"#,
        )
        .bind(&file.id)
        .bind(&file.name)
        .bind(file.size as i64)
        .bind(&file.content_type)
        .bind(&file.sha256)
        .bind(&file.url)
        .bind(&file.backup_url)
        .bind(&file.thumbnail_url)
        .bind(&file.scan_status)
        .bind(&file.render_status)
        .bind(to_text(file.created_at))
        .bind(&now)
        .execute(&mut *tx)
        .await
        .map_err(query_error("insert a file"))?;

        for copy in &file.copies {
            sqlx::query(
                "INSERT INTO file_copy (file_id, store, object_key, url, state, checksum, etag,
                   last_error, attempts, created_at, updated_at, verified_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
            )
            .bind(&file.id)
            .bind(&copy.store)
            .bind(&copy.key)
            .bind(&copy.url)
            .bind(copy.state.as_str())
            .bind(&copy.checksum)
            .bind(&copy.etag)
            .bind(&copy.last_error)
            .bind(copy.attempts as i32)
            .bind(&now)
            .bind(&now)
            .bind(copy.verified_at.map(to_text))
            .execute(&mut *tx)
            .await
            .map_err(query_error("insert a copy"))?;
        }

        for job in jobs {
            jobs::enqueue_on(&mut tx, job).await?;
        }
        tx.commit().await.map_err(query_error("commit a new file"))
    }

    /// Records that the copy of `file_id` in `store` holds the bytes with `checksum`.
    pub async fn mark_copy_stored(
        &self,
        file_id: &str,
        store: &str,
        checksum: &str,
        etag: Option<&str>,
    ) -> Result<(), CatalogError> {
        let now = to_text(now());
        sqlx::query(
            "UPDATE file_copy SET state = 'stored', checksum = $1, etag = $2, last_error = NULL,
               attempts = attempts + 1, updated_at = $3, verified_at = $4
             WHERE file_id = $5 AND store = $6",
        )
        .bind(checksum)
        .bind(etag)
        .bind(&now)
        .bind(&now)
        .bind(file_id)
        .bind(store)
        .execute(&self.pool)
        .await
        .map_err(|source| CatalogError::Query { operation: "record a stored copy", source })?;
        Ok(())
    }

    /// Records a failed attempt to write the copy of `file_id` in `store`; the copy
    /// stays `pending`.
    pub async fn record_copy_failure(
        &self,
        file_id: &str,
        store: &str,
        error: &str,
    ) -> Result<(), CatalogError> {
        sqlx::query(
            "UPDATE file_copy SET state = 'pending', last_error = $1, attempts = attempts + 1,
               updated_at = $2
             WHERE file_id = $3 AND store = $4",
        )
        .bind(error)
        .bind(to_text(now()))
        .bind(file_id)
        .bind(store)
        .execute(&self.pool)
        .await
        .map_err(|source| CatalogError::Query { operation: "record a copy failure", source })?;
        Ok(())
    }

    /// Adds a `pending` copy of `file_id` in `store` unless the file has one there.
    pub async fn ensure_copy(
        &self,
        file_id: &str,
        store: &str,
        key: &str,
        url: &str,
    ) -> Result<(), CatalogError> {
        let now = to_text(now());
        sqlx::query(
            "INSERT INTO file_copy (file_id, store, object_key, url, state, attempts,
               created_at, updated_at)
             VALUES ($1, $2, $3, $4, 'pending', 0, $5, $6)
             ON CONFLICT (file_id, store) DO NOTHING",
        )
        .bind(file_id)
        .bind(store)
        .bind(key)
        .bind(url)
        .bind(&now)
        .bind(&now)
        .execute(&self.pool)
        .await
        .map_err(|source| CatalogError::Query { operation: "add a copy", source })?;
        Ok(())
    }

    /// Sets the URLs the `file` table shows for the primary and the backup copy.
    pub async fn set_file_urls(
        &self,
        file_id: &str,
        url: &str,
        backup_url: Option<&str>,
    ) -> Result<(), CatalogError> {
        sqlx::query(
            r#"UPDATE file SET url = $1, "backupUrl" = $2, "updatedAt" = $3 WHERE id = $4"#,
        )
        .bind(url)
        .bind(backup_url)
        .bind(to_text(now()))
        .bind(file_id)
        .execute(&self.pool)
        .await
        .map_err(|source| CatalogError::Query { operation: "update file URLs", source })?;
        Ok(())
    }

    /// Copies by state, and the creation time of the oldest pending one.
    pub async fn copy_backlog(&self) -> Result<CopyBacklog, CatalogError> {
        let query_error = |source| CatalogError::Query { operation: "count copies", source };
        let rows = sqlx::query("SELECT state, COUNT(*) AS n FROM file_copy GROUP BY state")
            .fetch_all(&self.pool)
            .await
            .map_err(query_error)?;
        let mut backlog = CopyBacklog::default();
        for row in &rows {
            let state: String = column(row, "state")?;
            let n = column::<i64>(row, "n")? as u64;
            match state.as_str() {
                "pending" => backlog.pending = n,
                "stored" => backlog.stored = n,
                "failed" => backlog.failed = n,
                _ => backlog.deleted = n,
            }
        }
        let oldest =
            sqlx::query("SELECT MIN(created_at) AS oldest FROM file_copy WHERE state = 'pending'")
                .fetch_one(&self.pool)
                .await
                .map_err(query_error)?;
        let oldest: Option<String> = column(&oldest, "oldest")?;
        backlog.oldest_pending = oldest.and_then(|text| from_text(&text));
        Ok(backlog)
    }

    /// The file `id` with its copies, or `None` when there is no such file.
    pub async fn file(&self, id: &str) -> Result<Option<FileRecord>, CatalogError> {
        let row =
            sqlx::query(AssertSqlSafe(format!("SELECT {FILE_COLUMNS} FROM file WHERE id = $1")))
                .bind(id)
                .fetch_optional(&self.pool)
                .await
                .map_err(|source| CatalogError::Query { operation: "read a file", source })?;
        let Some(row) = row else { return Ok(None) };

        let mut file = file_from_row(&row)?;
        file.copies = self.copies_of(id).await?;
        Ok(Some(file))
    }

    /// Up to `limit` files, newest first, starting after `cursor` (from a previous page).
    pub async fn list_files(
        &self,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<FilePage, CatalogError> {
        let query_error = |source| CatalogError::Query { operation: "list files", source };
        let fetch = i64::from(limit) + 1;

        let rows = match cursor.map(parse_cursor).transpose()? {
            None => {
                // FILE_COLUMNS is a constant: nothing user-supplied reaches the SQL text.
                sqlx::query(AssertSqlSafe(format!(
                    r#"SELECT {FILE_COLUMNS} FROM file ORDER BY "createdAt" DESC, id DESC
                       LIMIT $1"#
                )))
                .bind(fetch)
                .fetch_all(&self.pool)
                .await
            }
            Some((created_at, id)) => {
                sqlx::query(AssertSqlSafe(format!(
                    r#"SELECT {FILE_COLUMNS} FROM file
                       WHERE "createdAt" < $1 OR ("createdAt" = $2 AND id < $3)
                       ORDER BY "createdAt" DESC, id DESC LIMIT $4"#
                )))
                .bind(created_at.clone())
                .bind(created_at)
                .bind(id)
                .bind(fetch)
                .fetch_all(&self.pool)
                .await
            }
        }
        .map_err(query_error)?;

        let mut files = rows.iter().map(file_from_row).collect::<Result<Vec<_>, _>>()?;
        let next_cursor = if files.len() > limit as usize {
            files.truncate(limit as usize);
            files.last().map(|last| format!("{}|{}", to_text(last.created_at), last.id))
        } else {
            None
        };
        for file in &mut files {
            file.copies = self.copies_of(&file.id).await?;
        }
        Ok(FilePage { files, next_cursor })
    }

    /// Sets a copy's state, with the error that explains it (or none).
    pub async fn set_copy_state(
        &self,
        file_id: &str,
        store: &str,
        state: CopyState,
        error: Option<&str>,
    ) -> Result<(), CatalogError> {
        sqlx::query(
            "UPDATE file_copy SET state = $1, last_error = $2, updated_at = $3
             WHERE file_id = $4 AND store = $5",
        )
        .bind(state.as_str())
        .bind(error)
        .bind(to_text(now()))
        .bind(file_id)
        .bind(store)
        .execute(&self.pool)
        .await
        .map_err(|source| CatalogError::Query { operation: "update a copy", source })?;
        Ok(())
    }

    /// Removes the file `id` and its copies from the catalog. Returns whether it existed.
    pub async fn delete_file(&self, id: &str) -> Result<bool, CatalogError> {
        let query_error = |operation| move |source| CatalogError::Query { operation, source };
        let mut tx = self.pool.begin().await.map_err(query_error("begin a transaction"))?;
        sqlx::query("DELETE FROM file_copy WHERE file_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(query_error("delete copies"))?;
        sqlx::query("DELETE FROM rendition WHERE file_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(query_error("delete renditions"))?;
        let deleted = sqlx::query("DELETE FROM file WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(query_error("delete a file"))?;
        tx.commit().await.map_err(query_error("commit a delete"))?;
        Ok(deleted.rows_affected() > 0)
    }

    /// Up to `limit` files with ids after `after`, in id order, with their copies: for
    /// walking every file in pages (ids are UUIDv7, so new files come last).
    pub async fn files_after(
        &self,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<FileRecord>, CatalogError> {
        let query_error = |source| CatalogError::Query { operation: "walk files", source };
        let after = after.unwrap_or("");
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT {FILE_COLUMNS} FROM file WHERE id > $1 ORDER BY id LIMIT $2"
        )))
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(query_error)?;
        let mut files = rows.iter().map(file_from_row).collect::<Result<Vec<_>, _>>()?;
        let Some(last) = files.last() else {
            return Ok(files);
        };

        let copy_rows = sqlx::query(
            "SELECT file_id, store, object_key, url, state, checksum, etag, last_error, attempts,
                    verified_at
             FROM file_copy WHERE file_id > $1 AND file_id <= $2 ORDER BY file_id, created_at",
        )
        .bind(after)
        .bind(&last.id)
        .fetch_all(&self.pool)
        .await
        .map_err(query_error)?;
        let mut by_file: std::collections::HashMap<String, Vec<CopyRecord>> = Default::default();
        for row in &copy_rows {
            let file_id: String = column(row, "file_id")?;
            by_file.entry(file_id).or_default().push(copy_from_row(row)?);
        }
        for file in &mut files {
            file.copies = by_file.remove(&file.id).unwrap_or_default();
        }
        Ok(files)
    }

    /// Records that the copy of `file_id` in `store` was read and matched its checksum.
    pub async fn mark_copy_verified(&self, file_id: &str, store: &str) -> Result<(), CatalogError> {
        sqlx::query("UPDATE file_copy SET verified_at = $1 WHERE file_id = $2 AND store = $3")
            .bind(to_text(now()))
            .bind(file_id)
            .bind(store)
            .execute(&self.pool)
            .await
            .map_err(|source| CatalogError::Query { operation: "record a verification", source })?;
        Ok(())
    }

    /// Records that each `(file id, store)` copy was just read back and verified, in one
    /// transaction (one commit for a whole page of a deep verify).
    pub async fn mark_copies_verified(&self, copies: &[(&str, &str)]) -> Result<(), CatalogError> {
        let query_error =
            |source| CatalogError::Query { operation: "record verifications", source };
        let now = to_text(now());
        let mut tx = self.pool.begin().await.map_err(query_error)?;
        for (file_id, store) in copies {
            sqlx::query("UPDATE file_copy SET verified_at = $1 WHERE file_id = $2 AND store = $3")
                .bind(&now)
                .bind(*file_id)
                .bind(*store)
                .execute(&mut *tx)
                .await
                .map_err(query_error)?;
        }
        tx.commit().await.map_err(query_error)?;
        Ok(())
    }

    /// Points every file's `url` and `backupUrl` at its copies in the stores that hold
    /// the roles, where it has such copies.
    pub async fn point_urls_at(&self, roles: &Roles) -> Result<(), CatalogError> {
        let query_error = |source| CatalogError::Query { operation: "update URLs", source };
        sqlx::query(
            "UPDATE file SET url = (SELECT c.url FROM file_copy c
                                    WHERE c.file_id = file.id AND c.store = $1)
             WHERE EXISTS (SELECT 1 FROM file_copy c WHERE c.file_id = file.id AND c.store = $2)",
        )
        .bind(&roles.primary)
        .bind(&roles.primary)
        .execute(&self.pool)
        .await
        .map_err(query_error)?;
        sqlx::query(
            r#"UPDATE file SET "backupUrl" = (SELECT c.url FROM file_copy c
                                              WHERE c.file_id = file.id AND c.store = $1)"#,
        )
        .bind(&roles.backup)
        .execute(&self.pool)
        .await
        .map_err(query_error)?;
        Ok(())
    }

    /// Up to `limit` stored copies, those verified longest ago (or never) first, with
    /// their files' size and SHA-256: the next share of a scrub.
    pub async fn least_recently_verified(
        &self,
        limit: u32,
    ) -> Result<Vec<(String, String)>, CatalogError> {
        let rows = sqlx::query(
            "SELECT file_id, store FROM file_copy WHERE state = 'stored'
             ORDER BY CASE WHEN verified_at IS NULL THEN 0 ELSE 1 END, verified_at LIMIT $1",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(|source| CatalogError::Query { operation: "pick copies to scrub", source })?;
        rows.iter().map(|row| Ok((column(row, "file_id")?, column(row, "store")?))).collect()
    }

    /// How many files the catalog holds.
    pub async fn file_count(&self) -> Result<u64, CatalogError> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM file")
            .fetch_one(&self.pool)
            .await
            .map_err(|source| CatalogError::Query { operation: "count files", source })?;
        Ok(column::<i64>(&row, "n")? as u64)
    }

    /// The names of stores that hold at least one copy not deleted.
    pub async fn stores_with_copies(&self) -> Result<Vec<String>, CatalogError> {
        let rows = sqlx::query("SELECT DISTINCT store FROM file_copy WHERE state <> 'deleted'")
            .fetch_all(&self.pool)
            .await
            .map_err(|source| CatalogError::Query { operation: "list stores", source })?;
        rows.iter().map(|row| column(row, "store")).collect()
    }

    async fn copies_of(&self, file_id: &str) -> Result<Vec<CopyRecord>, CatalogError> {
        let rows = sqlx::query(
            "SELECT store, object_key, url, state, checksum, etag, last_error, attempts,
                    verified_at
             FROM file_copy WHERE file_id = $1 ORDER BY created_at, store",
        )
        .bind(file_id)
        .fetch_all(&self.pool)
        .await
        .map_err(|source| CatalogError::Query { operation: "read copies", source })?;
        rows.iter().map(copy_from_row).collect()
    }
}

const FILE_COLUMNS: &str = r#"id, name, size, "contentType", sha256, url, "backupUrl",
    "thumbnailUrl", "scanStatus", "scanDetail", "scannedAt", "renderStatus", "renderDetail",
    "createdAt""#;

fn file_from_row(row: &AnyRow) -> Result<FileRecord, CatalogError> {
    let created_at: String = column(row, "createdAt")?;
    Ok(FileRecord {
        id: column(row, "id")?,
        name: column(row, "name")?,
        size: column::<i64>(row, "size")? as u64,
        sha256: column(row, "sha256")?,
        content_type: column(row, "contentType")?,
        url: column(row, "url")?,
        backup_url: column(row, "backupUrl")?,
        thumbnail_url: column(row, "thumbnailUrl")?,
        scan_status: column(row, "scanStatus")?,
        scan_detail: column(row, "scanDetail")?,
        scanned_at: column::<Option<String>>(row, "scannedAt")?.and_then(|t| from_text(&t)),
        render_status: column(row, "renderStatus")?,
        render_detail: column(row, "renderDetail")?,
        created_at: parse_time("createdAt", &created_at)?,
        copies: Vec::new(),
    })
}

fn copy_from_row(row: &AnyRow) -> Result<CopyRecord, CatalogError> {
    let state: String = column(row, "state")?;
    let verified_at: Option<String> = column(row, "verified_at")?;
    Ok(CopyRecord {
        store: column(row, "store")?,
        key: column(row, "object_key")?,
        url: column(row, "url")?,
        state: CopyState::parse(&state)
            .ok_or(CatalogError::Corrupt { what: "copy state", value: state })?,
        checksum: column(row, "checksum")?,
        etag: column(row, "etag")?,
        last_error: column(row, "last_error")?,
        attempts: column::<i32>(row, "attempts")? as u32,
        verified_at: verified_at.map(|text| parse_time("verified_at", &text)).transpose()?,
    })
}

fn column<'r, T>(row: &'r AnyRow, name: &'static str) -> Result<T, CatalogError>
where
    T: sqlx::Decode<'r, sqlx::Any> + sqlx::Type<sqlx::Any>,
{
    row.try_get(name).map_err(|source| CatalogError::Query { operation: "read a column", source })
}

fn parse_time(what: &'static str, text: &str) -> Result<DateTime<Utc>, CatalogError> {
    from_text(text).ok_or_else(|| CatalogError::Corrupt { what, value: text.to_owned() })
}

fn parse_cursor(cursor: &str) -> Result<(String, String), CatalogError> {
    let invalid = || CatalogError::Corrupt { what: "page cursor", value: cursor.to_owned() };
    let (created_at, id) = cursor.split_once('|').ok_or_else(invalid)?;
    from_text(created_at).ok_or_else(invalid)?;
    Ok((created_at.to_owned(), id.to_owned()))
}

/// The file path of a `sqlite:` URL, so that its folder can be created first.
fn sqlite_path(url: &str) -> Option<&Path> {
    let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next()?;
    (path != ":memory:" && !path.is_empty()).then(|| Path::new(path))
}
