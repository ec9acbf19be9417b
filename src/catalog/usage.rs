//! Usage per store: the requests counted by each instance, per day, and the bytes the
//! catalog records as stored.

use chrono::{NaiveDate, Utc};
use sqlx::any::AnyRow;

use super::model::to_text;
use super::{Catalog, CatalogError, column};
use crate::store::RequestCounts;

/// The format of the `day` column: RFC 3339 full-date, which sorts as text.
const DAY_FORMAT: &str = "%Y-%m-%d";

impl Catalog {
    /// Adds `counts` to the usage of `store` for today (UTC). Nothing is written when
    /// every count is zero.
    pub async fn add_usage(&self, store: &str, counts: &RequestCounts) -> Result<(), CatalogError> {
        self.add_usage_on(store, Utc::now().date_naive(), counts).await
    }

    /// Adds `counts` to the usage of `store` for `day`, creating the day's row when it
    /// is the first. Several instances may add to the same row at once.
    pub async fn add_usage_on(
        &self,
        store: &str,
        day: NaiveDate,
        counts: &RequestCounts,
    ) -> Result<(), CatalogError> {
        if counts.is_empty() {
            return Ok(());
        }

        sqlx::query(
            "INSERT INTO store_usage (store, day, puts, gets, heads, deletes, lists,
               bytes_written, bytes_read, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
             ON CONFLICT (store, day) DO UPDATE SET
               puts = store_usage.puts + excluded.puts,
               gets = store_usage.gets + excluded.gets,
               heads = store_usage.heads + excluded.heads,
               deletes = store_usage.deletes + excluded.deletes,
               lists = store_usage.lists + excluded.lists,
               bytes_written = store_usage.bytes_written + excluded.bytes_written,
               bytes_read = store_usage.bytes_read + excluded.bytes_read,
               updated_at = excluded.updated_at",
        )
        .bind(store)
        .bind(day.format(DAY_FORMAT).to_string())
        .bind(to_i64(counts.puts))
        .bind(to_i64(counts.gets))
        .bind(to_i64(counts.heads))
        .bind(to_i64(counts.deletes))
        .bind(to_i64(counts.lists))
        .bind(to_i64(counts.bytes_written))
        .bind(to_i64(counts.bytes_read))
        .bind(to_text(Utc::now()))
        .execute(self.pool())
        .await
        .map_err(|source| CatalogError::Query { operation: "add store usage", source })?;
        Ok(())
    }

    /// The usage of each store from `since` (UTC, inclusive) to today, summed, by store
    /// name. Stores with no usage recorded in that time are absent.
    pub async fn usage_since(
        &self,
        since: NaiveDate,
    ) -> Result<Vec<(String, RequestCounts)>, CatalogError> {
        // PostgreSQL sums BIGINT to NUMERIC; the casts keep every column an integer.
        let rows = sqlx::query(
            "SELECT store,
                    CAST(SUM(puts) AS BIGINT) AS puts,
                    CAST(SUM(gets) AS BIGINT) AS gets,
                    CAST(SUM(heads) AS BIGINT) AS heads,
                    CAST(SUM(deletes) AS BIGINT) AS deletes,
                    CAST(SUM(lists) AS BIGINT) AS lists,
                    CAST(SUM(bytes_written) AS BIGINT) AS bytes_written,
                    CAST(SUM(bytes_read) AS BIGINT) AS bytes_read
             FROM store_usage WHERE day >= $1
             GROUP BY store ORDER BY store",
        )
        .bind(since.format(DAY_FORMAT).to_string())
        .fetch_all(self.pool())
        .await
        .map_err(|source| CatalogError::Query { operation: "sum store usage", source })?;

        rows.iter().map(|row| Ok((column(row, "store")?, counts_from_row(row)?))).collect()
    }

    /// The bytes and objects each store holds, as `(store, bytes, objects)` by store
    /// name: the sizes of the files whose copy there is `stored`.
    ///
    /// Only originals are counted: renditions have no rows of their own yet.
    pub async fn stored_bytes_by_store(&self) -> Result<Vec<(String, u64, u64)>, CatalogError> {
        let rows = sqlx::query(
            "SELECT c.store,
                    CAST(SUM(f.size) AS BIGINT) AS bytes,
                    CAST(COUNT(*) AS BIGINT) AS objects
             FROM file_copy c JOIN file f ON f.id = c.file_id
             WHERE c.state = $1
             GROUP BY c.store ORDER BY c.store",
        )
        .bind("stored")
        .fetch_all(self.pool())
        .await
        .map_err(|source| CatalogError::Query { operation: "sum stored bytes", source })?;

        rows.iter()
            .map(|row| {
                let store = column(row, "store")?;
                Ok((store, count(row, "bytes")?, count(row, "objects")?))
            })
            .collect()
    }
}

fn counts_from_row(row: &AnyRow) -> Result<RequestCounts, CatalogError> {
    Ok(RequestCounts {
        puts: count(row, "puts")?,
        gets: count(row, "gets")?,
        heads: count(row, "heads")?,
        deletes: count(row, "deletes")?,
        lists: count(row, "lists")?,
        bytes_written: count(row, "bytes_written")?,
        bytes_read: count(row, "bytes_read")?,
    })
}

/// A count column, which the database keeps as a signed BIGINT.
fn count(row: &AnyRow, name: &'static str) -> Result<u64, CatalogError> {
    let value: i64 = column(row, name)?;
    u64::try_from(value).map_err(|_| CatalogError::Corrupt { what: name, value: value.to_string() })
}

/// Counts past `i64::MAX` (about 9.2e18) cannot happen in practice; they are stored as
/// the largest value the column holds rather than wrapping negative.
fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use tempfile::TempDir;

    use super::*;
    use crate::config::DatabaseUrl;

    async fn catalog_at(url: &str) -> Catalog {
        Catalog::connect(&DatabaseUrl::new(url)).await.unwrap()
    }

    async fn sqlite() -> (TempDir, Catalog) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("catalog.db").display());
        let catalog = catalog_at(&url).await;
        (dir, catalog)
    }

    fn day(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, DAY_FORMAT).unwrap()
    }

    fn counts(puts: u64, bytes_read: u64) -> RequestCounts {
        RequestCounts {
            puts,
            gets: 2 * puts,
            bytes_written: 100 * puts,
            bytes_read,
            ..RequestCounts::default()
        }
    }

    async fn usage_adds_up_per_store_and_day(catalog: &Catalog) {
        catalog.add_usage_on("backup", day("2026-11-30"), &counts(1, 10)).await.unwrap();
        catalog.add_usage_on("backup", day("2026-12-01"), &counts(2, 20)).await.unwrap();
        catalog.add_usage_on("backup", day("2026-12-01"), &counts(3, 30)).await.unwrap();
        catalog.add_usage_on("primary", day("2026-12-02"), &counts(4, 40)).await.unwrap();
        catalog
            .add_usage_on("primary", day("2026-12-02"), &RequestCounts::default())
            .await
            .unwrap();

        let usage = catalog.usage_since(day("2026-12-01")).await.unwrap();
        assert_eq!(
            usage,
            [("backup".to_owned(), counts(5, 50)), ("primary".to_owned(), counts(4, 40)),]
        );

        let all = catalog.usage_since(day("2026-01-01")).await.unwrap();
        assert_eq!(all[0], ("backup".to_owned(), counts(6, 60)));
        assert!(catalog.usage_since(day("2027-01-01")).await.unwrap().is_empty());
    }

    async fn stored_bytes_count_only_stored_copies(catalog: &Catalog) {
        let now = to_text(Utc::now());
        for (id, size) in [("f1", 1000_i64), ("f2", 250), ("f3", 5)] {
            sqlx::query(
                r#"INSERT INTO file (id, name, size, "contentType", sha256, url,
                     "createdAt", "updatedAt")
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"#,
            )
            .bind(id)
            .bind(id)
            .bind(size)
            .bind("application/octet-stream")
            .bind("00")
            .bind(format!("mem://primary/{id}"))
            .bind(&now)
            .bind(&now)
            .execute(catalog.pool())
            .await
            .unwrap();
        }
        let copies = [
            ("f1", "primary", "stored"),
            ("f1", "backup", "stored"),
            ("f2", "primary", "stored"),
            ("f2", "backup", "pending"),
            ("f3", "primary", "deleted"),
        ];
        for (file_id, store, state) in copies {
            sqlx::query(
                "INSERT INTO file_copy (file_id, store, object_key, url, state, created_at,
                   updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(file_id)
            .bind(store)
            .bind(file_id)
            .bind(format!("mem://{store}/{file_id}"))
            .bind(state)
            .bind(&now)
            .bind(&now)
            .execute(catalog.pool())
            .await
            .unwrap();
        }

        assert_eq!(
            catalog.stored_bytes_by_store().await.unwrap(),
            [("backup".to_owned(), 1000, 1), ("primary".to_owned(), 1250, 2),]
        );
    }

    #[tokio::test]
    async fn sqlite_usage_adds_up_per_store_and_day() {
        let (_dir, catalog) = sqlite().await;
        usage_adds_up_per_store_and_day(&catalog).await;
    }

    #[tokio::test]
    async fn sqlite_stored_bytes_count_only_stored_copies() {
        let (_dir, catalog) = sqlite().await;
        assert!(catalog.stored_bytes_by_store().await.unwrap().is_empty());
        stored_bytes_count_only_stored_copies(&catalog).await;
    }
}
