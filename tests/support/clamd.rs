//! A ClamAV daemon started for one test, offline, with a signature database written
//! here: one body signature that matches the EICAR test string.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The stream limit configured, so that a test can send a file just past it.
pub const STREAM_MAX_BYTES: usize = 1024 * 1024;

/// The EICAR anti-virus test file, built here rather than committed.
pub fn eicar() -> Vec<u8> {
    let parts = [r"X5O!P%@AP[4\PZX54(P^)7CC)7}$", "EICAR-STANDARD-ANTIVIRUS-TEST-FILE!", "$H+H*"];
    parts.concat().into_bytes()
}

/// A running clamd. Dropping it stops the process.
pub struct Clamd {
    child: Option<Child>,
    dir: tempfile::TempDir,
    pub port: u16,
}

impl Clamd {
    /// Starts clamd on a free loopback port.
    pub fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("db")).unwrap();
        let signature = hex::encode("EICAR-STANDARD-ANTIVIRUS-TEST-FILE");
        std::fs::write(
            dir.path().join("db/test.ndb"),
            format!("Eicar-Test-Signature:0:*:{signature}\n"),
        )
        .unwrap();
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let config = format!(
            "Foreground yes\nDatabaseDirectory {dir}/db\nTCPSocket {port}\nTCPAddr 127.0.0.1\n\
             LogFile {dir}/clamd.log\nStreamMaxLength {max}\nMaxFileSize 10M\nMaxScanSize 40M\n",
            dir = dir.path().display(),
            max = STREAM_MAX_BYTES,
        );
        std::fs::write(dir.path().join("clamd.conf"), config).unwrap();
        let mut clamd = Self { child: None, dir, port };
        clamd.restart();
        clamd
    }

    /// The address as twinstore takes it.
    pub fn address(&self) -> String {
        format!("tcp://127.0.0.1:{}", self.port)
    }

    /// Stops clamd.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts clamd (again) and waits until it answers PING.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "clamd is still running");
        let child = Command::new(clamd_binary())
            .arg("-c")
            .arg(self.dir.path().join("clamd.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("cannot start clamd");
        if let Some(pids) = std::env::var_os("TWINSTORE_TEST_PIDS") {
            let _ = std::fs::write(PathBuf::from(pids).join(child.id().to_string()), b"clamd");
        }
        self.child = Some(child);

        let started = Instant::now();
        while !self.pings() {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                let log = std::fs::read_to_string(self.dir.path().join("clamd.log"));
                panic!("clamd exited with {status}; log:\n{}", log.unwrap_or_default());
            }
            assert!(started.elapsed() < Duration::from_secs(60), "clamd did not answer");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn pings(&self) -> bool {
        let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.port)) else { return false };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
        if stream.write_all(b"zPING\0").is_err() {
            return false;
        }
        let mut reply = String::new();
        let _ = stream.read_to_string(&mut reply);
        reply.starts_with("PONG")
    }
}

impl Drop for Clamd {
    fn drop(&mut self) {
        self.stop();
    }
}

fn clamd_binary() -> PathBuf {
    for candidate in ["/usr/sbin/clamd", "/usr/bin/clamd"] {
        if std::path::Path::new(candidate).is_file() {
            return PathBuf::from(candidate);
        }
    }
    panic!("clamd is not installed: run scripts/test, which installs it");
}
