//! Scan verdicts and the quarantine.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::model::{from_text, now, to_text};
use super::{Catalog, CatalogError, column};

/// Infected content, remembered by its hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QuarantineRecord {
    /// SHA-256 of the infected bytes.
    pub sha256: String,
    /// The signature clamd found.
    pub signature: String,
    /// The name the file was uploaded under.
    pub name: String,
    /// The file it was found in.
    pub file_id: String,
    /// When.
    pub quarantined_at: DateTime<Utc>,
}

fn query_error(operation: &'static str) -> impl Fn(sqlx::Error) -> CatalogError {
    move |source| CatalogError::Query { operation, source }
}

impl Catalog {
    /// Records a file's scan state (`pending`, `clean`, `infected`, `skipped`,
    /// `error`), with the signature or the reason, and the time.
    pub async fn set_scan_status(
        &self,
        file_id: &str,
        status: &str,
        detail: Option<&str>,
    ) -> Result<(), CatalogError> {
        let now = to_text(now());
        sqlx::query(
            r#"UPDATE file SET "scanStatus" = $1, "scanDetail" = $2, "scannedAt" = $3,
                 "updatedAt" = $4 WHERE id = $5"#,
        )
        .bind(status)
        .bind(detail)
        .bind(&now)
        .bind(&now)
        .bind(file_id)
        .execute(&self.pool)
        .await
        .map_err(query_error("record a scan"))?;
        Ok(())
    }

    /// The quarantine record of content with this SHA-256, if it was found infected.
    pub async fn quarantined(
        &self,
        sha256: &str,
    ) -> Result<Option<QuarantineRecord>, CatalogError> {
        let row = sqlx::query(
            "SELECT sha256, signature, name, file_id, quarantined_at FROM quarantine
             WHERE sha256 = $1",
        )
        .bind(sha256)
        .fetch_optional(&self.pool)
        .await
        .map_err(query_error("read the quarantine"))?;
        let Some(row) = row else { return Ok(None) };
        let at: String = column(&row, "quarantined_at")?;
        Ok(Some(QuarantineRecord {
            sha256: column(&row, "sha256")?,
            signature: column(&row, "signature")?,
            name: column(&row, "name")?,
            file_id: column(&row, "file_id")?,
            quarantined_at: from_text(&at).unwrap_or_else(now),
        }))
    }

    /// Adds content to the quarantine (once per hash).
    pub async fn add_quarantine(&self, record: &QuarantineRecord) -> Result<(), CatalogError> {
        sqlx::query(
            "INSERT INTO quarantine (sha256, signature, name, file_id, quarantined_at)
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (sha256) DO NOTHING",
        )
        .bind(&record.sha256)
        .bind(&record.signature)
        .bind(&record.name)
        .bind(&record.file_id)
        .bind(to_text(record.quarantined_at))
        .execute(&self.pool)
        .await
        .map_err(query_error("quarantine content"))?;
        Ok(())
    }
}
