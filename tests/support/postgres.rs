//! A PostgreSQL cluster started for one test, on a free loopback port, with fresh
//! state (initdb refuses to run as root, hence `su postgres`).

use std::net::TcpListener;
use std::process::Command;

const PGBIN: &str = "/usr/lib/postgresql/15/bin";

/// A running PostgreSQL server. Dropping it stops the server.
pub struct Postgres {
    dir: tempfile::TempDir,
    pub port: u16,
    running: bool,
}

impl Postgres {
    /// Creates a cluster and starts it.
    pub fn start() -> Self {
        assert!(
            std::path::Path::new(PGBIN).join("initdb").is_file(),
            "PostgreSQL 15 is not installed: run scripts/test, which installs it"
        );
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("run")).unwrap();
        run("chown", &["-R", "postgres:postgres", &dir.path().display().to_string()]);
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let data = dir.path().join("data");
        as_postgres(&format!(
            "{PGBIN}/initdb -D {} -U postgres --auth=trust -E UTF8 --no-sync",
            data.display()
        ));
        let mut postgres = Self { dir, port, running: false };
        postgres.start_server();
        postgres
    }

    /// The URL of a new, empty database on this server.
    pub fn new_database(&self) -> String {
        let name = format!("t_{}", uuid::Uuid::new_v4().simple());
        let server = format!("postgres://postgres@127.0.0.1:{}/postgres", self.port);
        run("psql", &[&server, "-qc", &format!("CREATE DATABASE {name}")]);
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }

    /// Stops the server (fast: open connections are cut).
    pub fn stop(&mut self) {
        if self.running {
            as_postgres(&format!("{PGBIN}/pg_ctl -D {} -m fast -w stop", self.data()));
            self.running = false;
        }
    }

    /// Starts a stopped server again, on its old data.
    pub fn start_server(&mut self) {
        let options = format!(
            "-c listen_addresses=127.0.0.1 -p {} -k {}/run -c fsync=off",
            self.port,
            self.dir.path().display()
        );
        as_postgres(&format!(
            "{PGBIN}/pg_ctl -D {} -l {}/server.log -w -o '{options}' start",
            self.data(),
            self.dir.path().display()
        ));
        self.running = true;
    }

    fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        self.stop();
    }
}

fn as_postgres(command: &str) {
    run("su", &["postgres", "-c", command]);
}

fn run(program: &str, args: &[&str]) {
    let output = Command::new(program).args(args).output().unwrap();
    assert!(
        output.status.success(),
        "{program} {args:?} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
