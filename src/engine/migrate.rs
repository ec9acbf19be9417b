//! Migration: moving every file to another store, then giving it a role.

use futures::StreamExt;
use serde::Serialize;
use tracing::{info, warn};

use super::Twinstore;
use super::verify::{CopyProblem, PAGE, Progress};
use crate::catalog::{CopyState, FileRecord, Roles};
use crate::costs::{MigrationEstimate, Prices, migration_estimate};
use crate::error::{Error, Result};

/// A store role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The store every upload must reach.
    Primary,
    /// The store that holds the second copy.
    Backup,
}

impl Role {
    /// The role's name in the catalog.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Primary => "primary",
            Role::Backup => "backup",
        }
    }
}

/// A migration to run.
#[derive(Debug, Clone)]
pub struct MigrateOptions {
    /// The store to move every file to.
    pub to: String,
    /// The role it takes once every file is there.
    pub role: Role,
    /// Files copied at once.
    pub concurrency: usize,
}

/// What a migration has to do.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MigrationPlan {
    /// The target store.
    pub to: String,
    /// The role it takes.
    pub role: Role,
    /// The store that holds the role now.
    pub from: String,
    /// Files in the catalog.
    pub files: u64,
    /// Files that still need a copy in the target.
    pub files_to_copy: u64,
    /// Their bytes.
    pub bytes_to_copy: u64,
    /// What copying them costs, from the price table.
    pub estimate: Option<MigrationEstimate>,
}

/// What a migration did.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MigrateReport {
    /// Copies written and verified in the target.
    pub copied: u64,
    /// Copies that could not be made; the roles are not switched while any remain.
    pub failed: Vec<CopyProblem>,
    /// The roles after the migration, when it finished.
    pub roles: Option<Roles>,
    /// Images whose renditions are to be made again in the new backup store.
    pub renders_queued: u64,
}

impl Twinstore {
    /// Counts what migrating to `to` in `role` would copy, and prices it.
    pub async fn plan_migration(&self, to: &str, role: Role) -> Result<MigrationPlan> {
        let target = self.migration_target(to)?;
        let roles = self.refresh_roles().await?;
        let from = match role {
            Role::Primary => roles.primary,
            Role::Backup => roles.backup,
        };
        let mut plan = MigrationPlan {
            to: to.to_owned(),
            role,
            from: from.clone(),
            files: 0,
            files_to_copy: 0,
            bytes_to_copy: 0,
            estimate: None,
        };
        self.for_each_page(|files| {
            for file in files {
                plan.files += 1;
                if !has_stored_copy(file, to) {
                    plan.files_to_copy += 1;
                    plan.bytes_to_copy += file.size;
                }
            }
        })
        .await?;

        let source_kind = self.stores[&from].kind().as_str();
        if let (Some(source), Some(dest)) =
            (Prices::builtin(source_kind), Prices::builtin(target.kind().as_str()))
        {
            let estimate =
                migration_estimate(plan.bytes_to_copy, plan.files_to_copy, &source, &dest);
            plan.estimate = Some(estimate);
        }
        Ok(plan)
    }

    /// Copies every file to the target store, verifying each copy by reading it back,
    /// then gives the target the role and points the catalog's URLs at it.
    ///
    /// The migration is recorded in the catalog while it runs: uploads made meanwhile
    /// (by any instance) get a copy in the target too, and running `migrate` again
    /// after an interruption resumes it, skipping files already copied. The roles
    /// switch only once every file has a verified copy in the target. The old store
    /// keeps its copies; they are no longer in a role.
    pub async fn migrate(
        &self,
        options: &MigrateOptions,
        progress: &(dyn Fn(Progress) + Sync),
    ) -> Result<MigrateReport> {
        self.migration_target(&options.to)?;
        let role = options.role.as_str();
        let migration = self.catalog.start_migration(&options.to, role).await?;
        if migration.target != options.to || migration.role != role {
            return Err(Error::Invalid {
                message: format!(
                    "a migration to {} as {} is already running; finish it first",
                    migration.target, migration.role
                ),
            });
        }
        info!(to = %options.to, role, "migration running");

        let total = self.catalog.file_count().await?;
        let mut report =
            MigrateReport { copied: 0, failed: Vec::new(), roles: None, renders_queued: 0 };
        // Passes repeat until one finds nothing to copy: files uploaded during a pass
        // are picked up by the next.
        loop {
            let before = report.copied;
            report.failed.clear();
            self.copy_pass(options, total, &mut report, progress).await?;
            if !report.failed.is_empty() {
                warn!(failed = report.failed.len(), "migration incomplete; run it again");
                return Ok(report);
            }
            if report.copied == before {
                break;
            }
        }

        let roles = self.switched_roles(&options.to, options.role);
        self.catalog.finish_migration(&migration.id, &roles).await?;
        self.refresh_roles().await?;
        self.catalog.point_urls_at(&roles).await?;
        info!(primary = %roles.primary, backup = %roles.backup, "migration finished");

        // A put that was already running when the roles switched may have committed
        // without a target copy; one more pass catches it.
        self.copy_pass(options, total, &mut report, progress).await?;
        self.catalog.point_urls_at(&roles).await?;
        report.renders_queued = self.rerender_outside(&roles.backup).await?;
        report.roles = Some(roles);
        Ok(report)
    }

    /// Queues a render job for every image whose renditions are not in `backup`, the
    /// backup store after a migration: renditions live in the backup, and the old one
    /// may be retired. The renders replace the recorded renditions; the objects in the
    /// old store become orphans that `repair --delete-orphans` removes.
    async fn rerender_outside(&self, backup: &str) -> Result<u64> {
        let mut images = Vec::new();
        self.for_each_page(|files| {
            images.extend(
                files.iter().filter(|file| file.render_status == "done").map(|f| f.id.clone()),
            )
        })
        .await?;

        let mut queued = 0;
        for id in images {
            let renditions = self.catalog.renditions(&id).await?;
            if renditions.iter().any(|rendition| rendition.store == backup) {
                continue;
            }
            self.catalog.set_render_status(&id, "pending", None).await?;
            self.catalog.enqueue(&crate::jobs::Job::Render { file_id: id }).await?;
            queued += 1;
        }
        if queued > 0 {
            info!(queued, backup, "renditions to be made again in the new backup store");
            self.jobs_queued.notify_one();
        }
        Ok(queued)
    }

    /// One walk over every file, copying those without a stored copy in the target.
    async fn copy_pass(
        &self,
        options: &MigrateOptions,
        total: u64,
        report: &mut MigrateReport,
        progress: &(dyn Fn(Progress) + Sync),
    ) -> Result<()> {
        let mut after: Option<String> = None;
        let mut done = 0;
        loop {
            let files = self.catalog.files_after(after.as_deref(), PAGE).await?;
            let Some(last) = files.last() else {
                return Ok(());
            };
            after = Some(last.id.clone());

            done += files.len() as u64;
            let todo: Vec<FileRecord> =
                files.into_iter().filter(|file| !has_stored_copy(file, &options.to)).collect();
            let outcomes: Vec<(FileRecord, Result<()>)> = futures::stream::iter(todo)
                .map(|file| self.copy_verified(file, &options.to))
                .buffer_unordered(options.concurrency.max(1))
                .collect()
                .await;
            for (file, outcome) in outcomes {
                match outcome {
                    Ok(()) => report.copied += 1,
                    Err(err) => report.failed.push(CopyProblem {
                        file_id: file.id.clone(),
                        store: options.to.clone(),
                        key: file.copies.first().map(|c| c.key.clone()).unwrap_or_default(),
                        reason: crate::store::error_chain(&err),
                    }),
                }
            }
            progress(Progress { done, total: total.max(done) });
        }
    }

    /// Writes `file`'s copy in `store` and reads it back to check its SHA-256.
    async fn copy_verified(&self, file: FileRecord, store: &str) -> (FileRecord, Result<()>) {
        let outcome = self.try_copy_verified(&file, store).await;
        (file, outcome)
    }

    async fn try_copy_verified(&self, file: &FileRecord, store: &str) -> Result<()> {
        let key = crate::names::original_key(&file.id);
        let url = self.stores[store].canonical_url(&key);
        self.catalog.ensure_copy(&file.id, store, &key, &url).await?;
        self.replicate(&file.id, store).await?;

        let copied = self.file(&file.id).await?;
        let copy = copied.copy_in(store).expect("the copy was just recorded");
        if let Err(reason) = self.hash_copy(&copied, copy).await {
            self.catalog.record_copy_failure(&file.id, store, &reason).await?;
            return Err(Error::NoReadableCopy { id: file.id.clone(), reasons: reason });
        }
        self.catalog.mark_copy_verified(&file.id, store).await?;
        Ok(())
    }

    /// The roles once `to` holds `role`; when `to` held the other role, the two swap.
    fn switched_roles(&self, to: &str, role: Role) -> Roles {
        let Roles { primary, backup } = self.roles();
        match role {
            Role::Primary if backup == to => Roles { primary: to.to_owned(), backup: primary },
            Role::Primary => Roles { primary: to.to_owned(), backup },
            Role::Backup if primary == to => Roles { primary: backup, backup: to.to_owned() },
            Role::Backup => Roles { primary, backup: to.to_owned() },
        }
    }

    fn migration_target(&self, to: &str) -> Result<&std::sync::Arc<dyn crate::store::Store>> {
        self.stores.get(to).ok_or_else(|| Error::Invalid {
            message: format!("no store named {to:?} is configured"),
        })
    }

    /// Calls `visit` with every page of files.
    async fn for_each_page(&self, mut visit: impl FnMut(&[FileRecord])) -> Result<()> {
        let mut after: Option<String> = None;
        loop {
            let files = self.catalog.files_after(after.as_deref(), PAGE).await?;
            let Some(last) = files.last() else {
                return Ok(());
            };
            after = Some(last.id.clone());
            visit(&files);
        }
    }
}

fn has_stored_copy(file: &FileRecord, store: &str) -> bool {
    file.copy_in(store).is_some_and(|copy| copy.state == CopyState::Stored)
}
