//! `ai-video-bench`: measures ai-video next to its peers on this machine, in one run.
//!
//! Servers come from the environment that `scripts/bench.sh` sets up: a private
//! `BENCH_REDIS_PORT` (flushed between runs) and `BENCH_DATABASE_URL` (a Postgres
//! superuser URL). BullMQ runs from `bench/peer` (installed by the script). Each
//! benchmark prints its rows as they complete; `all` runs every one and ends with one
//! Markdown table, the one `docs/benchmarks.md` holds.
//!
//!   ai-video-bench all | queue | latency | backlog | pipeline | api | slow | render | idle | sse
//!   options: --n N (jobs per queue run), --repeat R (runs per figure; the median is kept)

mod admin;
mod api;
mod cpu;
mod peer;
mod pipeline;
mod queue;
mod render;
mod report;
mod slow;
mod sse;
mod stats;

use std::time::Duration;

use report::Report;

/// Settings shared by the benchmarks.
#[derive(Debug, Clone)]
pub struct Bench {
    pub redis_port: u16,
    pub database_url: Option<String>,
    pub n: usize,
    pub repeat: usize,
}

impl Bench {
    pub fn redis_url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.redis_port)
    }

    /// The process id of the private Redis.
    pub async fn redis_pid(&self) -> anyhow::Result<u32> {
        let client = redis::Client::open(self.redis_url())?;
        let mut conn = client.get_multiplexed_async_connection().await?;
        let info: String = redis::cmd("INFO")
            .arg("server")
            .query_async(&mut conn)
            .await?;
        info.lines()
            .find_map(|l| l.strip_prefix("process_id:"))
            .and_then(|v| v.trim().parse().ok())
            .ok_or_else(|| anyhow::anyhow!("Redis did not report its process_id"))
    }

    /// Empties the private Redis between runs.
    pub async fn flush(&self) -> anyhow::Result<()> {
        let client = redis::Client::open(self.redis_url())?;
        let mut conn = client.get_multiplexed_async_connection().await?;
        redis::cmd("FLUSHALL")
            .arg("ASYNC")
            .query_async::<()>(&mut conn)
            .await?;
        Ok(())
    }
}

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let what = args.first().cloned().unwrap_or_else(|| "all".into());
    if what == "sse-peer" {
        return sse::peer_process(&args[1..]).await;
    }
    if what == "slow-worker" {
        return slow::worker_process(&args[1..]).await;
    }
    let bench = Bench {
        redis_port: std::env::var("BENCH_REDIS_PORT")
            .ok()
            .and_then(|p| p.parse().ok())
            .ok_or_else(|| anyhow::anyhow!("BENCH_REDIS_PORT is not set; run scripts/bench.sh"))?,
        database_url: std::env::var("BENCH_DATABASE_URL").ok(),
        n: arg(&args, "--n")
            .and_then(|v| v.parse().ok())
            .unwrap_or(20_000),
        repeat: arg(&args, "--repeat")
            .and_then(|v| v.parse().ok())
            .unwrap_or(3),
    };
    let mut report = Report::default();
    let all = what == "all";
    if all || what == "queue" {
        queue::drain(&bench, &mut report).await?;
    }
    if all || what == "latency" {
        queue::latency(&bench, &mut report).await?;
    }
    if all || what == "backlog" {
        queue::backlog(&bench, &mut report).await?;
    }
    if all || what == "idle" {
        slow::idle(&bench, &mut report).await?;
    }
    if all || what == "slow" {
        slow::run(&bench, &mut report).await?;
    }
    if all || what == "render" {
        render::run(&mut report).await?;
    }
    if all || what == "pipeline" {
        pipeline::run(&bench, &mut report).await?;
    }
    if all || what == "api" {
        api::run(&bench, &mut report).await?;
    }
    if all || what == "sse" {
        sse::run(&bench, &mut report).await?;
    }
    if all || what == "stats" {
        stats::run(&bench, &mut report).await?;
    }
    if all || what == "admin" {
        admin::run(&bench, &mut report).await?;
    }
    println!("\n{}", report.markdown());
    tokio::time::sleep(Duration::from_millis(10)).await;
    Ok(())
}
