//! A Garage S3 server started for one test, on free loopback ports, with fresh state.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use twinstore::config::{Secret, StoreConfig};
use twinstore::store::StoreKind;

const ACCESS_KEY: &str = "GK0123456789abcdef01234567";
const SECRET_KEY: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const RPC_SECRET: &str = "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210";
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A running Garage server. Dropping it kills the process.
pub struct Garage {
    child: Option<Child>,
    dir: tempfile::TempDir,
    pub s3_port: u16,
    admin_port: u16,
}

impl Garage {
    /// Starts Garage with a key that owns each bucket in `buckets`.
    pub fn start(buckets: &[&str]) -> Self {
        let binary = garage_binary();
        let dir = tempfile::tempdir().unwrap();
        let [rpc_port, s3_port, admin_port] = free_ports();

        let config_path = dir.path().join("garage.toml");
        std::fs::write(&config_path, config_text(dir.path(), rpc_port, s3_port, admin_port))
            .unwrap();
        let flags = ["--single-node", "--default-bucket"];
        let child = spawn(&binary, dir.path(), &flags, buckets[0]);
        let mut garage = Self { child: Some(child), dir, s3_port, admin_port };
        garage.wait_until_healthy();
        for bucket in &buckets[1..] {
            garage.cli(&["bucket", "create", bucket]);
            garage.cli(&[
                "bucket", "allow", "--read", "--write", "--owner", bucket, "--key", ACCESS_KEY,
            ]);
        }
        garage
    }

    /// The S3 endpoint URL.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.s3_port)
    }

    /// A store configuration for `bucket` on this server.
    pub fn store_config(&self, bucket: &str) -> StoreConfig {
        StoreConfig {
            bucket: Some(bucket.to_owned()),
            region: Some("us-east-1".to_owned()),
            endpoint: Some(self.endpoint()),
            access_key_id: Some(ACCESS_KEY.to_owned()),
            secret_access_key: Some(Secret::new(SECRET_KEY)),
            ..StoreConfig::empty(StoreKind::S3)
        }
    }

    /// The secret key, for tests that check it never leaks.
    pub fn secret_key() -> &'static str {
        SECRET_KEY
    }

    /// The access key id.
    pub fn access_key() -> &'static str {
        ACCESS_KEY
    }

    /// Kills the server: its port refuses connections from now on.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts a stopped server again on its old state and ports.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "garage is still running");
        // `--single-node` refuses old state; the layout it made is kept, so none is
        // needed.
        self.child = Some(spawn(&garage_binary(), self.dir.path(), &[], "unused"));
        self.wait_until_healthy();
    }

    /// Freezes the server (SIGSTOP): connections are accepted but never answered.
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    /// Thaws a paused server (SIGCONT).
    pub fn resume(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, signal: &str) {
        let pid = self.child.as_ref().expect("garage is not running").id();
        let status = Command::new("kill").args([signal, &pid.to_string()]).status().unwrap();
        assert!(status.success(), "kill {signal} {pid} failed");
    }

    fn wait_until_healthy(&mut self) {
        let started = Instant::now();
        loop {
            if admin_health_ok(self.admin_port) {
                return;
            }
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("garage exited with {status} at start; log:\n{}", self.log());
            }
            if started.elapsed() > START_TIMEOUT {
                panic!("garage did not become healthy in {START_TIMEOUT:?}; log:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn cli(&self, args: &[&str]) {
        let output = Command::new(garage_binary())
            .arg("-c")
            .arg(self.dir.path().join("garage.toml"))
            .args(args)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "garage {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("garage.log")).unwrap_or_default()
    }
}

impl Drop for Garage {
    fn drop(&mut self) {
        if let Some(child) = &self.child {
            // A paused process must be thawed to die cleanly.
            let _ = Command::new("kill").args(["-CONT", &child.id().to_string()]).status();
        }
        self.stop();
    }
}

fn spawn(binary: &std::path::Path, dir: &std::path::Path, flags: &[&str], bucket: &str) -> Child {
    let log =
        std::fs::OpenOptions::new().create(true).append(true).open(dir.join("garage.log")).unwrap();
    let child = Command::new(binary)
        .arg("-c")
        .arg(dir.join("garage.toml"))
        .arg("server")
        .args(flags)
        .env("GARAGE_DEFAULT_ACCESS_KEY", ACCESS_KEY)
        .env("GARAGE_DEFAULT_SECRET_KEY", SECRET_KEY)
        .env("GARAGE_DEFAULT_BUCKET", bucket)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap_or_else(|err| panic!("cannot start {}: {err}", binary.display()));
    register_pid(child.id());
    child
}

/// The `garage` binary: on the PATH or in cargo's bin folder. Panics when absent.
fn garage_binary() -> PathBuf {
    let candidates = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .chain(std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cargo/bin")));
    for dir in candidates {
        let binary = dir.join("garage");
        if binary.is_file() {
            return binary;
        }
    }
    panic!("the Garage S3 server is not installed: run scripts/test, which installs it");
}

/// Records a started server's PID so that `scripts/test` can stop any that a crashed
/// test left running.
fn register_pid(pid: u32) {
    if let Some(dir) = std::env::var_os("TWINSTORE_TEST_PIDS") {
        let _ = std::fs::write(PathBuf::from(dir).join(pid.to_string()), b"garage");
    }
}

fn free_ports() -> [u16; 3] {
    let listeners: Vec<TcpListener> =
        (0..3).map(|_| TcpListener::bind("127.0.0.1:0").unwrap()).collect();
    let ports: Vec<u16> = listeners.iter().map(|l| l.local_addr().unwrap().port()).collect();
    [ports[0], ports[1], ports[2]]
}

fn admin_health_ok(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let request = "GET /health HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    response.starts_with("HTTP/1.1 200") || response.starts_with("HTTP/1.0 200")
}

fn config_text(dir: &std::path::Path, rpc: u16, s3: u16, admin: u16) -> String {
    format!(
        r#"metadata_dir = "{dir}/meta"
data_dir = "{dir}/data"
db_engine = "sqlite"
metadata_fsync = false
data_fsync = false
replication_factor = 1
rpc_bind_addr = "127.0.0.1:{rpc}"
rpc_public_addr = "127.0.0.1:{rpc}"
rpc_secret = "{RPC_SECRET}"

[s3_api]
s3_region = "us-east-1"
api_bind_addr = "127.0.0.1:{s3}"
root_domain = ".s3.garage.localhost"

[admin]
api_bind_addr = "127.0.0.1:{admin}"
admin_token = "test-admin-token"
"#,
        dir = dir.display()
    )
}
