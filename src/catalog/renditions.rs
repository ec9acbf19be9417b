//! Image renditions and each file's rendering state.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::any::AnyRow;

use super::model::{now, to_text};
use super::{Catalog, CatalogError, column, parse_time};

/// One rendition of an image in one store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RenditionRecord {
    /// The rendition's name: `optimized`, `thumb-600`, `thumb-300` or `thumb-150`.
    pub name: String,
    /// The store that holds it.
    pub store: String,
    /// The object key inside the store.
    pub key: String,
    /// The object's canonical URL.
    pub url: String,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256 of the WebP bytes, lowercase hex.
    pub sha256: String,
    /// When it was stored.
    pub created_at: DateTime<Utc>,
}

fn query_error(operation: &'static str) -> impl Fn(sqlx::Error) -> CatalogError {
    move |source| CatalogError::Query { operation, source }
}

impl Catalog {
    /// Records a file's rendering state (`none`, `pending`, `skipped`, `failed`) and
    /// why. Use [`Catalog::record_renditions`] for `done`.
    pub async fn set_render_status(
        &self,
        file_id: &str,
        status: &str,
        detail: Option<&str>,
    ) -> Result<(), CatalogError> {
        sqlx::query(
            r#"UPDATE file SET "renderStatus" = $1, "renderDetail" = $2, "updatedAt" = $3
               WHERE id = $4"#,
        )
        .bind(status)
        .bind(detail)
        .bind(to_text(now()))
        .bind(file_id)
        .execute(&self.pool)
        .await
        .map_err(query_error("record a render state"))?;
        Ok(())
    }

    /// Records a file's renditions (replacing any earlier set), its thumbnail URL, and
    /// `done`, in one transaction. Returns false, recording nothing, when the file is
    /// no longer in the catalog or was found infected.
    pub async fn record_renditions(
        &self,
        file_id: &str,
        renditions: &[RenditionRecord],
        thumbnail_url: Option<&str>,
    ) -> Result<bool, CatalogError> {
        let mut tx = self.pool.begin().await.map_err(query_error("begin a transaction"))?;

        // An infected file keeps no renditions, even if the scan ended mid-render.
        let updated = sqlx::query(
            r#"UPDATE file SET "renderStatus" = 'done', "renderDetail" = NULL,
                 "thumbnailUrl" = $1, "updatedAt" = $2
               WHERE id = $3 AND "scanStatus" <> 'infected'"#,
        )
        .bind(thumbnail_url)
        .bind(to_text(now()))
        .bind(file_id)
        .execute(&mut *tx)
        .await
        .map_err(query_error("record a thumbnail"))?;
        if updated.rows_affected() == 0 {
            return Ok(false);
        }

        sqlx::query("DELETE FROM rendition WHERE file_id = $1")
            .bind(file_id)
            .execute(&mut *tx)
            .await
            .map_err(query_error("replace renditions"))?;
        for rendition in renditions {
            sqlx::query(
                "INSERT INTO rendition (file_id, name, store, object_key, url, width, height,
                   size, sha256, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            )
            .bind(file_id)
            .bind(&rendition.name)
            .bind(&rendition.store)
            .bind(&rendition.key)
            .bind(&rendition.url)
            .bind(rendition.width as i32)
            .bind(rendition.height as i32)
            .bind(rendition.size as i64)
            .bind(&rendition.sha256)
            .bind(to_text(rendition.created_at))
            .execute(&mut *tx)
            .await
            .map_err(query_error("insert a rendition"))?;
        }

        tx.commit().await.map_err(query_error("commit renditions"))?;
        Ok(true)
    }

    /// Forgets a file's renditions (after their objects were removed): no rows, no
    /// thumbnail URL, and the render state `status` with `detail`.
    pub async fn forget_renditions(
        &self,
        file_id: &str,
        status: &str,
        detail: Option<&str>,
    ) -> Result<(), CatalogError> {
        let mut tx = self.pool.begin().await.map_err(query_error("begin a transaction"))?;
        sqlx::query("DELETE FROM rendition WHERE file_id = $1")
            .bind(file_id)
            .execute(&mut *tx)
            .await
            .map_err(query_error("delete renditions"))?;
        sqlx::query(
            r#"UPDATE file SET "thumbnailUrl" = NULL, "renderStatus" = $1, "renderDetail" = $2,
                 "updatedAt" = $3 WHERE id = $4"#,
        )
        .bind(status)
        .bind(detail)
        .bind(to_text(now()))
        .bind(file_id)
        .execute(&mut *tx)
        .await
        .map_err(query_error("forget renditions"))?;
        tx.commit().await.map_err(query_error("commit forgetting renditions"))?;
        Ok(())
    }

    /// A file's renditions, by name then store.
    pub async fn renditions(&self, file_id: &str) -> Result<Vec<RenditionRecord>, CatalogError> {
        let rows = sqlx::query(
            "SELECT name, store, object_key, url, width, height, size, sha256, created_at
             FROM rendition WHERE file_id = $1 ORDER BY name, store",
        )
        .bind(file_id)
        .fetch_all(&self.pool)
        .await
        .map_err(query_error("read renditions"))?;
        rows.iter().map(rendition_from_row).collect()
    }
}

fn rendition_from_row(row: &AnyRow) -> Result<RenditionRecord, CatalogError> {
    let created_at: String = column(row, "created_at")?;
    Ok(RenditionRecord {
        name: column(row, "name")?,
        store: column(row, "store")?,
        key: column(row, "object_key")?,
        url: column(row, "url")?,
        width: column::<i32>(row, "width")? as u32,
        height: column::<i32>(row, "height")? as u32,
        size: column::<i64>(row, "size")? as u64,
        sha256: column(row, "sha256")?,
        created_at: parse_time("created_at", &created_at)?,
    })
}
