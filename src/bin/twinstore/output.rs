//! What the command line prints: a human line, or JSON for scripts.

use std::io::Write;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use twinstore::catalog::HealthProbe;
use twinstore::engine::{
    CostReport, MigrateReport, MigrationPlan, Progress, RepairReport, Status, VerifyReport,
};
use twinstore::{FileRecord, StorageHealth};

/// Prints one stored file.
pub fn file(file: &FileRecord, json: bool) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    if json {
        writeln!(out, "{}", serde_json::to_string(file)?)?;
        return Ok(());
    }
    writeln!(out, "{}  {}  {} bytes  {}", file.id, file.name, file.size, file.content_type)?;
    for copy in &file.copies {
        writeln!(out, "  {:<8} {:<8} {}", copy.store, copy.state.as_str(), copy.url)?;
    }
    if file.render_status != "none" {
        let detail = file.render_detail.as_deref().or(file.thumbnail_url.as_deref());
        writeln!(out, "  renditions {}  {}", file.render_status, detail.unwrap_or(""))?;
    }
    Ok(())
}

/// Prints a file's renditions.
pub fn renditions(
    file: &FileRecord,
    renditions: &[twinstore::catalog::RenditionRecord],
    json: bool,
) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    if json {
        let report = serde_json::json!({
            "id": file.id,
            "renderStatus": file.render_status,
            "renderDetail": file.render_detail,
            "thumbnailUrl": file.thumbnail_url,
            "renditions": renditions,
        });
        writeln!(out, "{report}")?;
        return Ok(());
    }
    let detail = file.render_detail.as_deref().unwrap_or("");
    writeln!(out, "{}  {}  renditions {}  {detail}", file.id, file.name, file.render_status)?;
    for rendition in renditions {
        let size = format!("{}x{}", rendition.width, rendition.height);
        writeln!(
            out,
            "  {:<10} {:<9} {:>9} bytes  {:<8} {}",
            rendition.name, size, rendition.size, rendition.store, rendition.url
        )?;
    }
    Ok(())
}

/// Prints a list of files.
pub fn listing(files: &[FileRecord], json: bool) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    for file in files {
        if json {
            writeln!(out, "{}", serde_json::to_string(file)?)?;
            continue;
        }
        let states: Vec<String> = file
            .copies
            .iter()
            .map(|copy| format!("{}:{}", copy.store, copy.state.as_str()))
            .collect();
        writeln!(
            out,
            "{}  {:>12}  {}  {}  {}",
            file.id,
            file.size,
            file.created_at.format("%Y-%m-%d %H:%M:%S"),
            states.join(","),
            file.name
        )?;
    }
    Ok(())
}

/// Prints both stores' health, and the probes recorded by the monitor.
pub fn health(health: &StorageHealth, history: &[HealthProbe], json: bool) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    if json {
        let report = serde_json::json!({
            "primary": health.primary,
            "backup": health.backup,
            "recentProbes": history,
        });
        writeln!(out, "{report}")?;
        return Ok(());
    }
    for (role, store) in [("primary", &health.primary), ("backup", &health.backup)] {
        let state = if store.available { "available" } else { "UNAVAILABLE" };
        write!(
            out,
            "{role:<8} {:<10} {:<6} {state:<12} {} ms",
            store.name, store.kind, store.latency_ms
        )?;
        if let Some(error) = &store.error {
            write!(out, "  {error}")?;
        }
        writeln!(out)?;
    }
    if !history.is_empty() {
        writeln!(out, "recent probes:")?;
    }
    for probe in history {
        let state = if probe.available { "up" } else { "DOWN" };
        let error = probe.error.as_deref().unwrap_or_default();
        writeln!(
            out,
            "  {} {:<10} {state:<4} {:>5} ms {error}",
            probe.probed_at.format("%Y-%m-%d %H:%M:%S"),
            probe.store,
            probe.latency_ms
        )?;
    }
    Ok(())
}

/// Prints the status report.
pub fn status(status: &Status, json: bool) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    if json {
        writeln!(out, "{}", serde_json::to_string(status)?)?;
        return Ok(());
    }
    writeln!(out, "roles      primary={} backup={}", status.roles.primary, status.roles.backup)?;
    let copies = &status.copies;
    writeln!(
        out,
        "copies     stored={} pending={} failed={} deleted={}",
        copies.stored, copies.pending, copies.failed, copies.deleted
    )?;
    if let Some(age) = status.oldest_pending_age_secs {
        writeln!(out, "backlog    oldest pending copy waited {age} s")?;
    }
    let jobs = &status.jobs;
    writeln!(
        out,
        "jobs       queued={} running={} done={} failed={}",
        jobs.queued, jobs.running, jobs.done, jobs.failed
    )?;
    if let Some(migration) = &status.migration {
        writeln!(
            out,
            "migration  to {} as {} since {}",
            migration.target, migration.role, migration.started_at
        )?;
    }
    for job in &status.failing_jobs {
        let error = job.last_error.as_deref().unwrap_or_default();
        writeln!(out, "failing    {} (attempt {}): {error}", job.key, job.attempts)?;
    }
    Ok(())
}

/// A progress bar on stderr, drawn only when stderr is a terminal.
pub fn progress_bar(message: &'static str) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
    if !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    }
    let style = ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} files ({eta})")
        .expect("the template is valid")
        .progress_chars("=> ");
    bar.set_style(style);
    bar.set_message(message);
    bar
}

/// Moves a progress bar to `progress`.
pub fn advance(bar: &ProgressBar, progress: Progress) {
    bar.set_length(progress.total);
    bar.set_position(progress.done);
}

/// Prints a verification report.
pub fn verify(report: &VerifyReport, json: bool) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    if json {
        writeln!(out, "{}", serde_json::to_string(report)?)?;
        return Ok(());
    }
    let mode = if report.deep { "deep" } else { "fast" };
    writeln!(
        out,
        "{mode} verify: {} files, {} copies checked, {} ok, {} pending",
        report.files, report.copies_checked, report.copies_ok, report.copies_pending
    )?;
    for problem in &report.missing {
        writeln!(out, "missing     {} {} ({})", problem.store, problem.key, problem.reason)?;
    }
    for problem in &report.mismatched {
        writeln!(out, "mismatched  {} {} ({})", problem.store, problem.key, problem.reason)?;
    }
    for orphan in &report.orphans {
        writeln!(out, "orphan      {} {} ({} bytes)", orphan.store, orphan.key, orphan.size)?;
    }
    for file_id in &report.unrecoverable {
        writeln!(out, "no good copy of file {file_id}")?;
    }
    for store in &report.unreachable {
        writeln!(out, "unreachable {}: {}", store.store, store.error)?;
    }
    for problem in &report.renditions_missing {
        writeln!(out, "rendition   {} {} ({})", problem.store, problem.key, problem.reason)?;
    }
    if report.is_clean() {
        writeln!(out, "all copies verified")?;
    }
    Ok(())
}

/// Prints a repair report.
pub fn repair(report: &RepairReport, json: bool) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    if json {
        writeln!(out, "{}", serde_json::to_string(report)?)?;
        return Ok(());
    }
    let verb = if report.dry_run { "would restore" } else { "restored" };
    for copy in &report.restored {
        writeln!(out, "{verb} {} {} ({})", copy.store, copy.key, copy.reason)?;
    }
    for copy in &report.failed {
        writeln!(out, "FAILED to restore {} {}: {}", copy.store, copy.key, copy.reason)?;
    }
    let verb = if report.dry_run { "would delete" } else { "deleted" };
    for orphan in &report.orphans_deleted {
        writeln!(out, "{verb} orphan {} {}", orphan.store, orphan.key)?;
    }
    let left = report.verify.orphans.len() - report.orphans_deleted.len();
    if left > 0 {
        writeln!(out, "{left} orphans kept (use --delete-orphans to remove them)")?;
    }
    let verb = if report.dry_run { "would render again" } else { "rendered again" };
    for file_id in &report.rerendered {
        writeln!(out, "{verb} the renditions of {file_id}")?;
    }
    for problem in &report.rerender_failed {
        writeln!(out, "FAILED to render {} again: {}", problem.file_id, problem.reason)?;
    }
    writeln!(out, "{} copies restored, {} failed", report.restored.len(), report.failed.len())?;
    Ok(())
}

/// Prints what a migration will do.
pub fn migration_plan(plan: &MigrationPlan, json: bool) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    if json {
        writeln!(out, "{}", serde_json::to_string(plan)?)?;
        return Ok(());
    }
    writeln!(
        out,
        "migrate {} from {} to {}: {} of {} files to copy, {} bytes",
        plan.role.as_str(),
        plan.from,
        plan.to,
        plan.files_to_copy,
        plan.files,
        plan.bytes_to_copy
    )?;
    if let Some(estimate) = &plan.estimate {
        writeln!(out, "estimated cost of the copy: ${:.4}", estimate.total_usd)?;
    }
    Ok(())
}

/// Prints what a migration did.
pub fn migration(report: &MigrateReport, json: bool) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    if json {
        writeln!(out, "{}", serde_json::to_string(report)?)?;
        return Ok(());
    }
    writeln!(out, "{} copies made and verified", report.copied)?;
    for copy in &report.failed {
        writeln!(out, "FAILED {} {}: {}", copy.store, copy.file_id, copy.reason)?;
    }
    match &report.roles {
        Some(roles) => {
            writeln!(out, "roles now primary={} backup={}", roles.primary, roles.backup)?
        }
        None => writeln!(out, "roles unchanged; run migrate again to resume")?,
    }
    if report.renders_queued > 0 {
        writeln!(
            out,
            "{} images queued to have their renditions made in the new backup store",
            report.renders_queued
        )?;
    }
    Ok(())
}

/// Prints the cost report.
pub fn costs(report: &CostReport, json: bool) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    if json {
        writeln!(out, "{}", serde_json::to_string(report)?)?;
        return Ok(());
    }
    writeln!(
        out,
        "list prices read on {}; override them under [prices] in the configuration",
        report.prices_read_on
    )?;
    for line in &report.stores {
        let cost = &line.cost;
        let role = line.role.unwrap_or("-");
        writeln!(
            out,
            "{role:<8} {:<12} {:<28} {:>10.3} GB {:>8} objects  ${:.2}/month",
            cost.store,
            cost.prices.provider,
            cost.estimate.storage_gb,
            cost.usage.objects,
            cost.estimate.total_usd
        )?;
        writeln!(
            out,
            "         storage ${:.2}  requests ${:.2} ({} writes, {} reads)  \
             egress ${:.2} ({} bytes)",
            cost.estimate.storage_usd,
            cost.estimate.requests_usd,
            cost.usage.write_requests,
            cost.usage.read_requests,
            cost.estimate.egress_usd,
            cost.usage.egress_bytes
        )?;
    }
    writeln!(out, "two copies cost ${:.2}/month", report.monthly_usd)?;
    for option in &report.migrations {
        writeln!(
            out,
            "moving the primary's files to {} would cost ${:.2} once",
            option.to, option.estimate.total_usd
        )?;
    }
    Ok(())
}

/// Prints one scan's verdict.
pub fn scan(
    id: &str,
    outcome: &twinstore::Result<twinstore::scan::Verdict>,
    json: bool,
) -> anyhow::Result<()> {
    use twinstore::scan::Verdict;
    let mut out = std::io::stdout().lock();
    if json {
        let line = match outcome {
            Ok(verdict) => serde_json::json!({ "id": id, "result": verdict }),
            Err(err) => serde_json::json!({ "id": id, "error": format!("{err:#}") }),
        };
        writeln!(out, "{line}")?;
        return Ok(());
    }
    match outcome {
        Ok(Verdict::Clean) => writeln!(out, "{id}  clean")?,
        Ok(Verdict::Infected(signature)) => writeln!(out, "{id}  INFECTED {signature} (removed)")?,
        Ok(Verdict::TooLarge) => writeln!(out, "{id}  skipped: too large for the scanner")?,
        Err(err) => writeln!(out, "{id}  error: {}", anyhow::Error::msg(err.to_string()))?,
    }
    Ok(())
}
