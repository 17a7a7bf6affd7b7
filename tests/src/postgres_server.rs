//! A private PostgreSQL server that a test can stop and start again on the same
//! port, for outages that must not touch the server every other test shares.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::TempDir;

pub struct PostgresServer {
    pub port: u16,
    dir: TempDir,
    bin: PathBuf,
}

/// The newest installed server binaries (`scripts/test.sh` installs them).
fn pg_bin() -> PathBuf {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL is installed under /usr/lib/postgresql")
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|bin| bin.join("initdb").exists())
        .collect();
    dirs.sort_by_key(|d| {
        d.parent()
            .and_then(|v| v.file_name())
            .and_then(|v| v.to_str())
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(0)
    });
    dirs.pop().expect("PostgreSQL server binaries")
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// A command run as the `postgres` user when the tests run as root (the server
/// refuses root), as `scripts/lib/common.sh` does.
fn as_postgres(program: PathBuf) -> Command {
    if is_root() {
        let mut cmd = Command::new("runuser");
        cmd.args(["-u", "postgres", "--"]).arg(program);
        cmd
    } else {
        Command::new(program)
    }
}

impl PostgresServer {
    pub async fn start() -> Self {
        let port = crate::free_port();
        let dir = TempDir::new();
        if is_root() {
            let _ = Command::new("chown")
                .arg("postgres")
                .arg(&dir.path)
                .status();
        }
        let bin = pg_bin();
        let status = as_postgres(bin.join("initdb"))
            .arg("-D")
            .arg(dir.path.join("data"))
            .args(["-A", "trust", "-U", "postgres", "--no-sync"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("initdb runs");
        assert!(status.success(), "initdb failed");
        let mut server = Self { port, dir, bin };
        server.restart().await;
        server
    }

    /// The superuser URL of the server's `postgres` database.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Starts the server (again) and waits until it accepts connections.
    pub async fn restart(&mut self) {
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -c unix_socket_directories={} -c fsync=off -c max_connections=200",
            self.port,
            self.dir.path.display()
        );
        let status = as_postgres(self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(self.dir.path.join("data"))
            .arg("-l")
            .arg(self.dir.path.join("postgres.log"))
            .args(["-w", "-t", "60", "start", "-o", &options])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("pg_ctl runs");
        assert!(status.success(), "postgres did not start on {}", self.port);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    /// Stops the server at once (`immediate`): open connections break mid-query,
    /// as when a database host goes away.
    pub fn stop(&mut self) {
        let _ = as_postgres(self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(self.dir.path.join("data"))
            .args(["-m", "immediate", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

impl Drop for PostgresServer {
    fn drop(&mut self) {
        self.stop();
    }
}
