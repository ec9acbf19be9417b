//! What the UploadThing webhook needs from the catalog.

use super::model::{now, to_text};
use super::{Catalog, CatalogError, column};

fn query_error(operation: &'static str) -> impl Fn(sqlx::Error) -> CatalogError {
    move |source| CatalogError::Query { operation, source }
}

impl Catalog {
    /// The id of the file that has a copy under `object_key` in `store`, if any.
    pub async fn file_with_copy(
        &self,
        store: &str,
        object_key: &str,
    ) -> Result<Option<String>, CatalogError> {
        let row = sqlx::query(
            "SELECT file_id FROM file_copy WHERE store = $1 AND object_key = $2 LIMIT 1",
        )
        .bind(store)
        .bind(object_key)
        .fetch_optional(&self.pool)
        .await
        .map_err(query_error("find a copy by key"))?;
        row.map(|row| column(&row, "file_id")).transpose()
    }

    /// Records an `error` hook: UploadThing could not finish the upload of `file_key`.
    pub async fn record_uploadthing_error(
        &self,
        store: &str,
        file_key: &str,
        error: &str,
    ) -> Result<(), CatalogError> {
        sqlx::query(
            "INSERT INTO uploadthing_error (id, store, file_key, error, received_at)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(uuid::Uuid::now_v7().to_string())
        .bind(store)
        .bind(file_key)
        .bind(error)
        .bind(to_text(now()))
        .execute(&self.pool)
        .await
        .map_err(query_error("record an UploadThing error hook"))?;
        Ok(())
    }

    /// The `error` hooks recorded for `store`, oldest first, as `(file key, error)`.
    pub async fn uploadthing_errors(
        &self,
        store: &str,
    ) -> Result<Vec<(String, String)>, CatalogError> {
        let rows = sqlx::query(
            "SELECT file_key, error FROM uploadthing_error WHERE store = $1
             ORDER BY received_at, id",
        )
        .bind(store)
        .fetch_all(&self.pool)
        .await
        .map_err(query_error("read UploadThing error hooks"))?;
        rows.iter().map(|row| Ok((column(row, "file_key")?, column(row, "error")?))).collect()
    }
}
