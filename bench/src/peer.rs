//! BullMQ (Node), the peer, run from `bench/peer` against the same private Redis.

use std::path::PathBuf;
use std::process::Stdio;

use anyhow::Context;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

fn dir() -> PathBuf {
    std::env::var("BENCH_PEER_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/peer")))
}

fn command(port: u16, args: &[String]) -> Command {
    let mut cmd = Command::new("node");
    cmd.arg(dir().join("bullmq-peer.js"))
        .args(args)
        .arg("--port")
        .arg(port.to_string());
    cmd.stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    cmd
}

/// Runs a peer command to the end; returns its JSON line.
pub async fn run(port: u16, args: &[&str]) -> anyhow::Result<Value> {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let out = command(port, &args)
        .output()
        .await
        .context("node runs (scripts/bench.sh installs it)")?;
    anyhow::ensure!(out.status.success(), "bullmq peer {args:?} failed");
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .context("no JSON from the peer")?;
    Ok(serde_json::from_str(line)?)
}

/// A running peer worker that announced READY.
pub struct Running {
    child: Child,
    lines: tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
}

impl Running {
    pub async fn start(port: u16, args: &[&str]) -> anyhow::Result<Self> {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let mut child = command(port, &args).spawn().context("node runs")?;
        let stdout = child.stdout.take().context("peer stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        while let Some(line) = lines.next_line().await? {
            if line.trim() == "READY" {
                return Ok(Self { child, lines });
            }
        }
        anyhow::bail!("the bullmq peer exited before it was ready")
    }

    /// Waits for the peer's JSON line.
    pub async fn result(mut self) -> anyhow::Result<Value> {
        while let Some(line) = self.lines.next_line().await? {
            if line.starts_with('{') {
                let _ = self.child.wait().await;
                return Ok(serde_json::from_str(&line)?);
            }
        }
        anyhow::bail!("the bullmq peer printed no result")
    }
}
