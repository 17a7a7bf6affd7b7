//! The worker under slow providers, and its memory.
//!
//! `slow`: a worker process of ai-video's queue runtime — the bridge, apalis,
//! tokio and the HTTP client the providers use — holds 1,000 jobs in flight, each
//! calling a provider that answers after 2 s. Throughput is compared with what 1,000
//! slots and a 2 s provider allow (500 jobs/s), and the process's peak RSS measured.
//! `idle`: the RSS of the real `ai-video-worker` binary, connected and waiting.

use std::time::{Duration, Instant};

use anyhow::Context;
use apalis::layers::WorkerBuilderExt;
use apalis_core::error::{BoxDynError, WorkerError};
use apalis_core::task::data::Data;
use apalis_core::worker::builder::WorkerBuilder;
use serde_json::{Value, json};

use crate::Bench;
use crate::queue::{completed, fill, queue};
use crate::report::{Report, Row, num};

const LATENCY: Duration = Duration::from_secs(2);
const IN_FLIGHT: usize = 1000;

/// A kilobyte-sized answer after 2 s, like a provider's task status.
async fn provider() -> anyhow::Result<u16> {
    let app = axum::Router::new().route(
        "/v1/tasks/{id}",
        axum::routing::get(|| async {
            tokio::time::sleep(LATENCY).await;
            axum::Json(json!({"status": "SUCCEEDED", "output": ["https://example.invalid/x.mp4"], "padding": "x".repeat(900)}))
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(port)
}

/// RSS and peak RSS of a process, in MiB, from /proc.
pub(crate) fn memory(pid: u32) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .map(|kb| kb / 1024.0)
            .unwrap_or(f64::NAN)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// `ai-video-bench slow-worker PORT REDIS_PORT CONCURRENCY`: the child process.
pub async fn worker_process(args: &[String]) -> anyhow::Result<()> {
    let port: u16 = args
        .first()
        .and_then(|a| a.parse().ok())
        .context("provider port")?;
    let redis_port: u16 = args
        .get(1)
        .and_then(|a| a.parse().ok())
        .context("redis port")?;
    let concurrency: usize = args
        .get(2)
        .and_then(|a| a.parse().ok())
        .context("concurrency")?;
    let bench = Bench {
        redis_port,
        database_url: None,
        n: 0,
        repeat: 1,
    };
    let client = ai_video_worker::providers::http::client(
        ai_video_worker::providers::DEFAULT_REQUEST_TIMEOUT,
    );
    let url = format!("http://127.0.0.1:{port}/v1/tasks/1");
    let (backend, _handle) =
        ai_video_worker::bridge::start::<Value>(&ai_video_worker::bridge::BridgeConfig {
            redis: ai_video_shared::config::RedisConfig {
                url: ai_video_shared::config::Secret::new(bench.redis_url()),
            },
            queue: ai_video_shared::config::QueueConfig {
                name: "slow".into(),
                prefix: "bull".into(),
            },
            concurrency,
            lock_duration: Duration::from_secs(30),
            stalled_interval: Duration::from_secs(15),
            max_stalled_count: 2,
            name: "slow".into(),
        })
        .await?;
    async fn call(_: Value, target: Data<(reqwest::Client, String)>) -> Result<u8, BoxDynError> {
        let (client, url) = &*target;
        let task: Value = client.get(url).send().await?.json().await?;
        Ok(u8::from(task["status"] == "SUCCEEDED"))
    }
    WorkerBuilder::new("slow")
        .backend(backend)
        .data((client, url))
        .concurrency(concurrency)
        .build(call)
        .run_until(async {
            let _ = tokio::signal::ctrl_c().await;
            Ok::<(), WorkerError>(())
        })
        .await?;
    Ok(())
}

pub async fn run(bench: &Bench, report: &mut Report) -> anyhow::Result<()> {
    bench.flush().await?;
    let port = provider().await?;
    let jobs = 5 * IN_FLIGHT;
    let q = queue(bench, "slow").await?;
    fill(&q, jobs, false).await?;
    let mut child = tokio::process::Command::new(std::env::current_exe()?)
        .args([
            "slow-worker",
            &port.to_string(),
            &bench.redis_port.to_string(),
            &IN_FLIGHT.to_string(),
        ])
        .kill_on_drop(true)
        .spawn()?;
    let pid = child.id().context("child pid")?;
    let started = Instant::now();
    let mut peak: f64 = 0.0;
    loop {
        if q.get_completed_count().await? as usize >= jobs {
            break;
        }
        peak = peak.max(memory(pid).1);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let seconds = started.elapsed().as_secs_f64();
    peak = peak.max(memory(pid).1);
    let _ = child.kill().await;
    let rate = jobs as f64 / seconds;
    let ideal = IN_FLIGHT as f64 / LATENCY.as_secs_f64();
    report.add(Row {
        benchmark: "worker under a slow provider: throughput".into(),
        setup: format!("{jobs} jobs, {IN_FLIGHT} in flight, provider answers in 2 s"),
        ai_video: format!("{} jobs/s", num(rate)),
        peer: format!("ideal {} jobs/s", num(ideal)),
        ratio: format!("{}% of ideal", num(100.0 * rate / ideal)),
        target: "≥ 90% of ideal".into(),
    });
    report.add(Row {
        benchmark: "worker under a slow provider: peak RSS".into(),
        setup: format!("{IN_FLIGHT} jobs in flight"),
        ai_video: format!("{} MiB", num(peak)),
        peer: "—".into(),
        ratio: "—".into(),
        target: "≤ 100 MB".into(),
    });
    let _ = completed(&q, jobs).await;
    bench.flush().await?;
    Ok(())
}

/// RSS of the real worker binary, connected (Redis, SQLite, local storage) and idle.
pub async fn idle(bench: &Bench, report: &mut Report) -> anyhow::Result<()> {
    let exe = std::env::current_exe()?;
    let worker = exe.with_file_name("ai-video-worker");
    let dir =
        std::env::temp_dir().join(format!("ai-video-bench-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir)?;
    let probe = std::net::TcpListener::bind("127.0.0.1:0")?;
    let metrics = probe.local_addr()?.port();
    drop(probe);
    let mut child = tokio::process::Command::new(&worker)
        .env(
            "DATABASE_URL",
            format!("sqlite://{}/w.db?mode=rwc", dir.display()),
        )
        .env("REDIS_URL", bench.redis_url())
        .env("STORAGE_DIR", dir.join("media"))
        .env("WORK_DIR", dir.join("work"))
        .env("METRICS_ADDR", format!("127.0.0.1:{metrics}"))
        .env("RUST_LOG", "warn")
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("start {}", worker.display()))?;
    let client = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{metrics}/readyz");
    for _ in 0..100 {
        if client
            .get(&url)
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (rss, _) = memory(child.id().context("pid")?);
    let _ = child.kill().await;
    let _ = std::fs::remove_dir_all(&dir);
    report.add(Row {
        benchmark: "worker RSS, idle".into(),
        setup: "ai-video-worker connected to Redis and SQLite, WORKER_CONCURRENCY 64".into(),
        ai_video: format!("{} MiB", num(rss)),
        peer: "—".into(),
        ratio: "—".into(),
        target: "≤ 15 MB".into(),
    });
    Ok(())
}
