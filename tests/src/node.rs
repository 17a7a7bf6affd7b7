//! Third-party BullMQ clients in Node (tests/node/): Node BullMQ itself and
//! bull-board, run against a test app's queue. `scripts/test.sh` installs them with
//! `npm ci`.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use serde_json::Value;

use crate::TestApp;

/// tests/node, where the scripts and their node_modules live.
pub fn node_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("node");
    assert!(
        dir.join("node_modules/bullmq").exists(),
        "{} has no node_modules; scripts/test.sh installs them (npm ci)",
        dir.display()
    );
    dir
}

impl TestApp {
    fn node(&self, script: &str) -> Command {
        let dir = node_dir();
        let mut cmd = Command::new("node");
        cmd.current_dir(&dir)
            .arg(dir.join(script))
            .env("REDIS_URL", &self.redis_url)
            .env("QUEUE_PREFIX", &self.queue.prefix)
            .env("QUEUE_NAME", &self.queue.name)
            .stderr(Stdio::inherit());
        cmd
    }

    /// Runs `node client.mjs ARGS…` and answers the JSON it printed.
    pub async fn bullmq_client(&self, args: &[&str]) -> Value {
        let mut cmd = self.node("client.mjs");
        cmd.args(args);
        let out = tokio::task::spawn_blocking(move || cmd.output())
            .await
            .expect("join")
            .expect("run node");
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(
            out.status.success(),
            "node client.mjs {args:?} failed: {text}"
        );
        let line = text.lines().last().unwrap_or_default();
        serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {text}"))
    }

    /// Starts `node client.mjs watch ID TIMEOUT_MS` and waits until it listens.
    pub fn bullmq_watch(&self, id: &str, timeout_ms: u64) -> NodeProcess {
        let mut cmd = self.node("client.mjs");
        cmd.args(["watch", id, &timeout_ms.to_string()]);
        NodeProcess::start(cmd, |line| line == "\"READY\"")
    }

    /// Starts bull-board over this app's queue; answers it and its HTTP base URL.
    pub fn bull_board(&self) -> (NodeProcess, String) {
        let mut port = String::new();
        let board = NodeProcess::start(self.node("board.mjs"), |line| {
            let v: Value = serde_json::from_str(line).unwrap_or_default();
            match v["port"].as_u64() {
                Some(p) => {
                    port = p.to_string();
                    true
                }
                None => false,
            }
        });
        (board, format!("http://127.0.0.1:{port}"))
    }
}

/// A Node process that printed its first line(s) and goes on running.
pub struct NodeProcess {
    child: Child,
    lines: std::io::Lines<BufReader<std::process::ChildStdout>>,
}

impl NodeProcess {
    fn start(mut cmd: Command, mut ready: impl FnMut(&str) -> bool) -> Self {
        let mut child = cmd.stdout(Stdio::piped()).spawn().expect("start node");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        loop {
            match lines.next() {
                Some(Ok(line)) if ready(&line) => break,
                Some(Ok(_)) => continue,
                _ => panic!("node exited before it was ready"),
            }
        }
        Self { child, lines }
    }

    /// The next JSON line it prints (blocking until then).
    pub async fn next_json(mut self) -> (Self, Value) {
        let (lines, line) = tokio::task::spawn_blocking(move || {
            let line = self.lines.next();
            (self, line)
        })
        .await
        .expect("join");
        self = lines;
        let line = line.expect("a line").expect("readable");
        let value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
        (self, value)
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
