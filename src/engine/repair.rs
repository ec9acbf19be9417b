//! Repair: restoring what verification found missing or wrong.

use serde::Serialize;
use tracing::{info, warn};

use super::RenderOutcome;
use super::Twinstore;
use super::verify::{CopyProblem, Orphan, Progress, RenditionProblem, VerifyReport};
use crate::error::Result;

/// What to repair.
#[derive(Debug, Clone, Copy, Default)]
pub struct RepairOptions {
    /// Verify deeply (read and hash every copy) before repairing.
    pub deep: bool,
    /// Only say what would be done.
    pub dry_run: bool,
    /// Remove orphan objects too (they are only reported otherwise).
    pub delete_orphans: bool,
}

/// What a repair did (or, in a dry run, would do).
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RepairReport {
    /// Whether this was a dry run.
    pub dry_run: bool,
    /// The verification the repair worked from.
    pub verify: VerifyReport,
    /// Copies written again from a good copy (or to be, in a dry run).
    pub restored: Vec<CopyProblem>,
    /// Copies that could not be restored, with why.
    pub failed: Vec<CopyProblem>,
    /// Orphans removed (or to be).
    pub orphans_deleted: Vec<Orphan>,
    /// Files whose missing renditions were made again (or are to be).
    pub rerendered: Vec<String>,
    /// Files whose renditions could not be made again, with why.
    pub rerender_failed: Vec<RenditionProblem>,
}

impl RepairReport {
    /// Whether everything found was fixed.
    pub fn is_complete(&self) -> bool {
        self.failed.is_empty()
            && self.rerender_failed.is_empty()
            && self.verify.unreachable.is_empty()
            && self.verify.unrecoverable.is_empty()
    }
}

impl Twinstore {
    /// Verifies, then restores each missing, mismatched or pending copy from a copy
    /// that verifies, renders again the images whose renditions are missing, and
    /// removes orphans when asked to.
    pub async fn repair(
        &self,
        options: RepairOptions,
        progress: &(dyn Fn(Progress) + Sync),
    ) -> Result<RepairReport> {
        let verify = self.verify(options.deep, progress).await?;
        let mut report = RepairReport { dry_run: options.dry_run, ..RepairReport::default() };

        let mut to_restore: Vec<CopyProblem> =
            verify.missing.iter().chain(&verify.mismatched).cloned().collect();
        to_restore.extend(self.pending_copies().await?);

        // Mark every bad copy first, so that none of them serves as a source.
        if !options.dry_run {
            for problem in &to_restore {
                let reason = format!("verify: {}", problem.reason);
                self.catalog.record_copy_failure(&problem.file_id, &problem.store, &reason).await?;
            }
        }
        for problem in to_restore {
            if options.dry_run {
                report.restored.push(problem);
                continue;
            }
            match self.replicate(&problem.file_id, &problem.store).await {
                Ok(()) => {
                    info!(file_id = %problem.file_id, store = %problem.store, "copy restored");
                    report.restored.push(problem);
                }
                Err(err) => {
                    let reason = crate::store::error_chain(&err);
                    warn!(file_id = %problem.file_id, store = %problem.store, error = %reason,
                        "copy not restored");
                    report.failed.push(CopyProblem { reason, ..problem });
                }
            }
        }

        self.rerender(&verify.renditions_missing, options.dry_run, &mut report).await?;

        if options.delete_orphans {
            for orphan in &verify.orphans {
                if !self.is_orphan(orphan).await? {
                    continue;
                }
                if !options.dry_run {
                    self.stores[&orphan.store].delete(&orphan.key).await?;
                    info!(store = %orphan.store, key = %orphan.key, "orphan removed");
                }
                report.orphans_deleted.push(orphan.clone());
            }
        }
        report.verify = verify;
        Ok(report)
    }

    /// Makes again the renditions of each file with one missing. The originals were
    /// restored first, so the render reads a good copy.
    async fn rerender(
        &self,
        missing: &[RenditionProblem],
        dry_run: bool,
        report: &mut RepairReport,
    ) -> Result<()> {
        let mut file_ids: Vec<&str> = missing.iter().map(|p| p.file_id.as_str()).collect();
        file_ids.dedup();
        for file_id in file_ids {
            if dry_run {
                report.rerendered.push(file_id.to_owned());
                continue;
            }
            // `render` leaves a file whose renditions are `done` alone.
            self.catalog.set_render_status(file_id, "pending", None).await?;
            let reason = match self.render(file_id).await {
                Ok(RenderOutcome::Done { .. }) => {
                    info!(file_id, "renditions made again");
                    report.rerendered.push(file_id.to_owned());
                    continue;
                }
                Ok(outcome) => format!("{outcome:?}"),
                Err(err) => crate::store::error_chain(&err),
            };
            warn!(file_id, reason = %reason, "renditions not made again");
            let first = missing.iter().find(|p| p.file_id == file_id).expect("listed above");
            report.rerender_failed.push(RenditionProblem { reason, ..first.clone() });
        }
        Ok(())
    }

    /// Whether `orphan` still belongs to nothing in the catalog (a file may have been
    /// recorded since the listing).
    async fn is_orphan(&self, orphan: &Orphan) -> Result<bool> {
        let file_id = super::verify::file_id_of(&orphan.key);
        let Some(file) = self.catalog.file(file_id).await? else {
            return Ok(true);
        };
        if orphan.key.starts_with(super::render::RENDITIONS_PREFIX) {
            let renditions = self.catalog.renditions(file_id).await?;
            return Ok(!renditions.iter().any(|r| r.store == orphan.store && r.key == orphan.key));
        }
        Ok(!file.copies.iter().any(|c| c.store == orphan.store && c.key == orphan.key))
    }

    /// Copies still pending, as problems to restore.
    async fn pending_copies(&self) -> Result<Vec<CopyProblem>> {
        let mut pending = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let files = self.catalog.files_after(after.as_deref(), super::verify::PAGE).await?;
            let Some(last) = files.last() else { break };
            after = Some(last.id.clone());
            for file in &files {
                for copy in &file.copies {
                    if copy.state == crate::catalog::CopyState::Pending {
                        pending.push(CopyProblem {
                            file_id: file.id.clone(),
                            store: copy.store.clone(),
                            key: copy.key.clone(),
                            reason: "the copy is pending".to_owned(),
                        });
                    }
                }
            }
        }
        Ok(pending)
    }
}
