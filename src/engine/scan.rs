//! Virus scanning of stored files, and what follows from a verdict.

use tracing::{info, warn};

use super::Twinstore;
use crate::catalog::{CopyState, FileRecord, QuarantineRecord};
use crate::error::{Error, Result};
use crate::scan::{ScanError, Verdict};

impl Twinstore {
    /// Scans the file `id` with clamd, streaming it from a copy that verifies, and
    /// records the verdict.
    ///
    /// - clean: the file is marked `clean`;
    /// - too large for clamd's stream limit: `skipped`, with the reason (never clean);
    /// - infected: every copy and rendition is deleted from every store, the file is marked
    ///   `infected` with the signature, and its hash is quarantined so that the same
    ///   bytes are refused later;
    /// - no verdict (clamd down, say): `error`, and the error is returned so that the
    ///   scan job retries.
    pub async fn scan_file(&self, id: &str) -> Result<Verdict> {
        let Some(scanner) = &self.scanner else {
            return Err(Error::Invalid { message: "no virus scanner is configured".into() });
        };
        let file = self.file(id).await?;
        if file.scan_status == "infected" {
            let signature = file.scan_detail.clone().unwrap_or_default();
            return Ok(Verdict::Infected(signature));
        }

        let verdict = match self.scan_from_any_copy(scanner, &file).await {
            Ok(verdict) => verdict,
            Err(err) => {
                let detail = crate::store::error_chain(&err);
                self.catalog.set_scan_status(id, "error", Some(&detail)).await?;
                warn!(file_id = id, error = %detail, "scan failed; it will be retried");
                return Err(err);
            }
        };
        match &verdict {
            Verdict::Clean => self.catalog.set_scan_status(id, "clean", None).await?,
            Verdict::TooLarge => {
                let reason = "larger than the scanner's stream limit: not scanned";
                self.catalog.set_scan_status(id, "skipped", Some(reason)).await?;
                warn!(file_id = id, size = file.size, "file too large to scan; marked skipped");
            }
            Verdict::Infected(signature) => self.quarantine(&file, signature).await?,
        }
        Ok(verdict)
    }

    async fn scan_from_any_copy(
        &self,
        scanner: &crate::scan::Scanner,
        file: &FileRecord,
    ) -> Result<Verdict> {
        let mut last_error = None;
        for copy in self.read_order(file, false) {
            let body = match self.open_copy(file, copy, None).await {
                Ok((_, body)) => body,
                Err(err) => {
                    last_error = Some(err);
                    continue;
                }
            };
            match scanner.scan(body).await {
                // The copy's bytes failed (or did not match): try the next copy.
                Err(err @ ScanError::Read(_)) => last_error = Some(err.into()),
                other => return Ok(other?),
            }
        }
        Err(last_error.unwrap_or_else(|| Error::NoReadableCopy {
            id: file.id.clone(),
            reasons: "no stored copy".into(),
        }))
    }

    /// Deletes every copy of an infected file and remembers its hash.
    async fn quarantine(&self, file: &FileRecord, signature: &str) -> Result<()> {
        let record = QuarantineRecord {
            sha256: file.sha256.clone(),
            signature: signature.to_owned(),
            name: file.name.clone(),
            file_id: file.id.clone(),
            quarantined_at: crate::catalog::now(),
        };
        self.catalog.add_quarantine(&record).await?;
        self.catalog.set_scan_status(&file.id, "infected", Some(signature)).await?;

        let mut failures = Vec::new();
        for copy in file.copies.iter().filter(|c| c.state != CopyState::Deleted) {
            let store = self.store_of(file, &copy.store)?;
            match store.delete(&copy.key).await {
                Ok(()) => {
                    self.catalog
                        .set_copy_state(&file.id, &copy.store, CopyState::Deleted, None)
                        .await?
                }
                Err(err) => failures.push(format!("{}: {err}", copy.store)),
            }
        }
        let renditions = self.catalog.renditions(&file.id).await?;
        let rendition_failures = self.delete_renditions(&renditions).await;
        if rendition_failures.is_empty() {
            let detail = Some("the file is infected");
            self.catalog.forget_renditions(&file.id, "skipped", detail).await?;
        }
        failures.extend(rendition_failures);
        warn!(
            file_id = %file.id,
            signature,
            sha256 = %file.sha256,
            "infected file removed from every store"
        );
        if !failures.is_empty() {
            // The scan job retries; the next attempt deletes what is left.
            return Err(Error::IncompleteDelete {
                id: file.id.clone(),
                reasons: failures.join("; "),
            });
        }
        info!(file_id = %file.id, "quarantine recorded");
        Ok(())
    }

    /// Refuses to serve an infected file, and a file not known clean when the
    /// configuration says so.
    pub fn check_servable(&self, file: &FileRecord) -> Result<()> {
        match file.scan_status.as_str() {
            "infected" => Err(Error::Infected {
                id: file.id.clone(),
                signature: file.scan_detail.clone().unwrap_or_default(),
            }),
            "clean" => Ok(()),
            status if !self.config.serve_unscanned => {
                Err(Error::NotScanned { id: file.id.clone(), status: status.to_owned() })
            }
            _ => Ok(()),
        }
    }
}
