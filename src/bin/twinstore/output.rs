//! What the command line prints: a human line, or JSON for scripts.

use std::io::Write;

use twinstore::engine::Status;
use twinstore::{FileRecord, StorageHealth};

/// Prints one stored file.
pub fn file(file: &FileRecord, json: bool) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    if json {
        writeln!(out, "{}", serde_json::to_string(file)?)?;
        return Ok(());
    }
    writeln!(
        out,
        "{}  {}  {} bytes  {}",
        file.id, file.name, file.size, file.content_type
    )?;
    for copy in &file.copies {
        writeln!(
            out,
            "  {:<8} {:<8} {}",
            copy.store,
            copy.state.as_str(),
            copy.url
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

/// Prints both stores' health.
pub fn health(health: &StorageHealth, json: bool) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    if json {
        writeln!(out, "{}", serde_json::to_string(health)?)?;
        return Ok(());
    }
    for (role, store) in [("primary", &health.primary), ("backup", &health.backup)] {
        let state = if store.available {
            "available"
        } else {
            "UNAVAILABLE"
        };
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
    Ok(())
}

/// Prints the status report.
pub fn status(status: &Status, json: bool) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    if json {
        writeln!(out, "{}", serde_json::to_string(status)?)?;
        return Ok(());
    }
    writeln!(
        out,
        "roles      primary={} backup={}",
        status.roles.primary, status.roles.backup
    )?;
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
        writeln!(
            out,
            "failing    {} (attempt {}): {error}",
            job.key, job.attempts
        )?;
    }
    Ok(())
}
