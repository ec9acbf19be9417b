//! The `twinstore` command line.

mod output;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};
use tokio_util::sync::CancellationToken;
use tracing_subscriber::EnvFilter;
use twinstore::engine::{
    HealthMonitor, MigrateOptions, Progress, RepairOptions, Role, Worker, WorkerOptions,
};
use twinstore::{Config, Twinstore};

/// Keeps every file in a primary and a backup store, with a SQL catalog of both copies.
#[derive(Debug, Parser)]
#[command(name = "twinstore", version, about)]
struct Cli {
    /// A TOML configuration file (also TWINSTORE_CONFIG).
    #[arg(long, global = true, value_name = "PATH")]
    config: Option<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the HTTP service, with the background jobs and the health monitor.
    Serve {
        /// The address to listen on (also TWINSTORE_LISTEN; default 127.0.0.1:8080).
        #[arg(long, value_name = "ADDR")]
        listen: Option<String>,
    },
    /// Store files in the primary and the backup store.
    Put {
        /// The files to store.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Print one JSON object per file.
        #[arg(long)]
        json: bool,
        /// Return once the file is stored, leaving image renditions to a worker
        /// (`serve` or `work`) instead of making them before returning.
        #[arg(long)]
        no_wait: bool,
    },
    /// Download a file, verified against its SHA-256, with failover between copies.
    Get {
        /// The file's id.
        id: String,
        /// Where to write it (default: its name, in the current folder).
        #[arg(short, long, value_name = "PATH")]
        output: Option<PathBuf>,
        /// Read the backup copy first.
        #[arg(long)]
        prefer_backup: bool,
    },
    /// Print a URL for a file that works now.
    Url {
        /// The file's id.
        id: String,
        /// Prefer the backup copy's URL.
        #[arg(long)]
        prefer_backup: bool,
    },
    /// List files, newest first.
    Ls {
        /// How many files to list.
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// Print one JSON object per file.
        #[arg(long)]
        json: bool,
    },
    /// Remove a file from every store, then from the catalog.
    Rm {
        /// The file's id.
        id: String,
    },
    /// Check each store with a real round trip; exits 1 when the primary is down.
    Health {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Run background jobs (replication of pending copies) and the health monitor
    /// until stopped.
    Work {
        /// Exit once no job is due, instead of waiting for more (for scripts and cron).
        #[arg(long)]
        until_idle: bool,
        /// Jobs run at once.
        #[arg(long, default_value_t = 8)]
        concurrency: usize,
    },
    /// Check every copy against the catalog; exits 1 when anything is wrong.
    Verify {
        /// Read and hash every copy, instead of comparing what the stores list.
        #[arg(long)]
        deep: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Restore missing or wrong copies from good ones; exits 1 when some remain.
    Repair {
        /// Only show what would be done.
        #[arg(long)]
        dry_run: bool,
        /// Verify deeply first (read and hash every copy).
        #[arg(long)]
        deep: bool,
        /// Also remove objects that no file refers to.
        #[arg(long)]
        delete_orphans: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Copy every file to another store, verify each copy, then switch the role.
    Migrate {
        /// The store to move to (its name in the configuration).
        #[arg(long, value_name = "STORE")]
        to: String,
        /// The role the store takes.
        #[arg(long, value_enum, default_value_t = RoleArg::Primary)]
        role: RoleArg,
        /// Only show counts, bytes and the estimated cost.
        #[arg(long)]
        dry_run: bool,
        /// Files copied at once.
        #[arg(long, default_value_t = 8)]
        concurrency: usize,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show what each store costs a month, and what a migration would cost.
    Costs {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Scan a file for viruses now (or every file, after a signature update).
    Scan {
        /// The file's id.
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        id: Option<String>,
        /// Scan every file.
        #[arg(long)]
        all: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show an image's renditions (optimized WebP and thumbnails) and their state.
    Renditions {
        /// The file's id.
        id: String,
        /// Make them now if they are not made yet (or failed before).
        #[arg(long)]
        make: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show the replication backlog, jobs and store roles.
    Status {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// A store role, on the command line.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum RoleArg {
    Primary,
    Backup,
}

impl From<RoleArg> for Role {
    fn from(role: RoleArg) -> Self {
        match role {
            RoleArg::Primary => Role::Primary,
            RoleArg::Backup => Role::Backup,
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    // A missing .env file is normal; a broken one is worth saying.
    if let Err(err) = dotenvy::dotenv()
        && !err.not_found()
    {
        eprintln!("error: cannot read .env: {err}");
        return ExitCode::FAILURE;
    }
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,object_store=warn"));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();

    let cli = Cli::parse();
    match run(cli).await {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let config = Config::load(cli.config.as_deref())?;
    let twinstore = Arc::new(Twinstore::open(config).await?);
    let code = execute(&twinstore, cli.command).await;
    // The requests this command made count towards `costs`, even when it failed.
    twinstore.flush_usage().await?;
    code
}

async fn execute(twinstore: &Arc<Twinstore>, command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Serve { listen } => {
            let mut settings = twinstore.config().service.clone();
            if let Some(listen) = listen {
                settings.listen = listen;
            }
            let shutdown = CancellationToken::new();
            tokio::spawn(cancel_on_signal(shutdown.clone()));
            let options =
                WorkerOptions { lease: twinstore.config().job_lease, ..WorkerOptions::default() };
            let worker = Worker::new(twinstore.clone(), options);
            let monitor = HealthMonitor::new(twinstore.clone());
            let service = twinstore::service::serve(twinstore.clone(), settings, shutdown.clone());
            // A 24th of the copies every hour: each copy is read back once a day.
            let scrub = twinstore.clone().scrub_periodically(1.0 / 24.0, shutdown.clone());
            let (served, (), (), ()) = tokio::join!(
                async {
                    let served = service.await;
                    // If the service cannot start, stop the rest too.
                    shutdown.cancel();
                    served
                },
                worker.run(shutdown.clone()),
                monitor.run(shutdown.clone()),
                scrub,
            );
            served?;
        }
        Command::Put { paths, json, no_wait } => {
            for path in paths {
                let mut file = twinstore
                    .put_path(&path)
                    .await
                    .with_context(|| format!("cannot store {}", path.display()))?;
                if !no_wait && file.render_status == "pending" {
                    // The queued render job finds the renditions made and ends at once.
                    if let Err(err) = twinstore.render(&file.id).await {
                        tracing::warn!(file_id = %file.id, error = %err,
                            "renditions not made now; a worker will retry");
                    }
                    file = twinstore.file(&file.id).await?;
                }
                output::file(&file, json)?;
            }
        }
        Command::Renditions { id, make, json } => {
            if make {
                twinstore.render(&id).await?;
            }
            let file = twinstore.file(&id).await?;
            let renditions = twinstore.renditions(&id).await?;
            output::renditions(&file, &renditions, json)?;
        }
        Command::Get { id, output, prefer_backup } => {
            let path = match output {
                Some(path) => path,
                None => PathBuf::from(twinstore.file(&id).await?.name),
            };
            let store = twinstore.download(&id, &path, prefer_backup).await?;
            eprintln!("{} (from store {store})", path.display());
        }
        Command::Url { id, prefer_backup } => {
            println!("{}", twinstore.file_url(&id, prefer_backup).await?);
        }
        Command::Ls { limit, json } => {
            let page = twinstore.list(limit, None).await?;
            output::listing(&page.files, json)?;
        }
        Command::Rm { id } => {
            twinstore.remove(&id).await?;
        }
        Command::Health { json } => {
            let health = twinstore.check_storage_health().await;
            let mut history = Vec::new();
            for store in [&health.primary.name, &health.backup.name] {
                history.extend(twinstore.catalog().recent_probes(store, 5).await?);
            }
            output::health(&health, &history, json)?;
            if !health.primary.available {
                return Ok(ExitCode::FAILURE);
            }
        }
        Command::Work { until_idle, concurrency } => {
            let lease = twinstore.config().job_lease;
            let options = WorkerOptions { concurrency, lease, ..WorkerOptions::default() };
            let worker = Worker::new(twinstore.clone(), options);
            if until_idle {
                let ran = worker.run_until_idle().await?;
                eprintln!("{ran} jobs run; none is due now");
            } else {
                let shutdown = CancellationToken::new();
                tokio::spawn(cancel_on_signal(shutdown.clone()));
                let monitor = HealthMonitor::new(twinstore.clone());
                tokio::join!(monitor.run(shutdown.clone()), worker.run(shutdown));
            }
        }
        Command::Verify { deep, json } => {
            let bar = output::progress_bar("verifying");
            let report = twinstore.verify(deep, &|p| output::advance(&bar, p)).await?;
            bar.finish_and_clear();
            output::verify(&report, json)?;
            if !report.is_clean() {
                return Ok(ExitCode::FAILURE);
            }
        }
        Command::Repair { dry_run, deep, delete_orphans, json } => {
            let options = RepairOptions { deep, dry_run, delete_orphans };
            let bar = output::progress_bar("verifying");
            let report = twinstore.repair(options, &|p| output::advance(&bar, p)).await?;
            bar.finish_and_clear();
            output::repair(&report, json)?;
            if !report.is_complete() {
                return Ok(ExitCode::FAILURE);
            }
        }
        Command::Migrate { to, role, dry_run, concurrency, json } => {
            let plan = twinstore.plan_migration(&to, role.into()).await?;
            output::migration_plan(&plan, json)?;
            if dry_run {
                return Ok(ExitCode::SUCCESS);
            }
            let options = MigrateOptions { to, role: role.into(), concurrency };
            let bar = output::progress_bar("migrating");
            let report = twinstore.migrate(&options, &|p| output::advance(&bar, p)).await?;
            bar.finish_and_clear();
            output::migration(&report, json)?;
            if report.roles.is_none() {
                return Ok(ExitCode::FAILURE);
            }
        }
        Command::Costs { json } => {
            let report = twinstore.costs().await?;
            output::costs(&report, json)?;
        }
        Command::Scan { id, all, json } => {
            let ids = match id {
                Some(id) => vec![id],
                None if all => twinstore.all_file_ids().await?,
                None => unreachable!("clap requires an id or --all"),
            };
            let bar = output::progress_bar("scanning");
            let total = ids.len() as u64;
            let mut failed = 0;
            for (done, id) in ids.iter().enumerate() {
                let outcome = twinstore.scan_file(id).await;
                if outcome.is_err() {
                    failed += 1;
                }
                bar.suspend(|| output::scan(id, &outcome, json))?;
                output::advance(&bar, Progress { done: done as u64 + 1, total });
            }
            bar.finish_and_clear();
            if failed > 0 {
                return Ok(ExitCode::FAILURE);
            }
        }
        Command::Status { json } => {
            let status = twinstore.status().await?;
            output::status(&status, json)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Cancels `token` on Ctrl-C or SIGTERM, so that work in progress can finish.
async fn cancel_on_signal(token: CancellationToken) {
    let ctrl_c = tokio::signal::ctrl_c();
    let mut terminate =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    let sigterm = async {
        match &mut terminate {
            Some(signal) => {
                signal.recv().await;
            }
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = ctrl_c => {}
        _ = sigterm => {}
    }
    token.cancel();
}
