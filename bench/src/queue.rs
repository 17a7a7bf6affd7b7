//! The queue itself: drain throughput, enqueue → start latency and drain rate under a
//! deep backlog — ai-video's worker (apalis over the bullmq-official bridge, with
//! priorities, attempts, leases and a persisted ack per job) next to BullMQ (Node).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ai_video_shared::config::{QueueConfig, RedisConfig, Secret};
use ai_video_worker::bridge::{self, BridgeConfig};
use apalis::layers::WorkerBuilderExt;
use apalis_core::error::{BoxDynError, WorkerError};
use apalis_core::task::data::Data;
use apalis_core::worker::builder::WorkerBuilder;
use bullmq::types::BackoffStrategy;
use bullmq::{BulkJob, JobOptions, Queue, QueueOptions};
use rand::Rng;
use serde_json::{Value, json};
use tokio::sync::oneshot;

use crate::report::{Report, Row, num};
use crate::{Bench, cpu, peer};

/// Wall clock in milliseconds, as both sides stamp jobs.
fn wall_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64() * 1000.0)
        .unwrap_or_default()
}

/// What the no-op handler saw.
#[derive(Clone, Default)]
pub struct Probe {
    first_start: Arc<AtomicU64>,
    waits: Arc<Mutex<Vec<f64>>>,
}

impl Probe {
    fn first_start_ms(&self) -> f64 {
        self.first_start.load(Ordering::Relaxed) as f64 / 1000.0
    }
}

async fn noop(data: Value, probe: Data<Probe>) -> Result<u8, BoxDynError> {
    let now = wall_ms();
    let _ = probe.first_start.compare_exchange(
        0,
        (now * 1000.0) as u64,
        Ordering::Relaxed,
        Ordering::Relaxed,
    );
    if let Some(t) = data["t"].as_f64()
        && let Ok(mut waits) = probe.waits.lock()
    {
        waits.push(now - t);
    }
    Ok(1)
}

pub async fn queue(bench: &Bench, name: &str) -> anyhow::Result<Queue> {
    Ok(Queue::with_options(
        name,
        QueueOptions::new()
            .connection(bullmq::options::RedisConnectionOptions::new().url(bench.redis_url())),
    )
    .await?)
}

/// Adds `n` no-op jobs with the options every ai-video job has; returns jobs/s.
pub async fn fill(queue: &Queue, n: usize, priorities: bool) -> anyhow::Result<f64> {
    let started = Instant::now();
    let mut rng = rand::rng();
    for chunk in (0..n).collect::<Vec<_>>().chunks(1000) {
        let jobs = chunk
            .iter()
            .map(|i| {
                let opts = JobOptions {
                    priority: priorities.then(|| rng.random_range(1..=10)),
                    attempts: Some(3),
                    backoff: Some(BackoffStrategy::Exponential(2000)),
                    ..JobOptions::default()
                };
                BulkJob::with_options("noop", json!({"i": i, "t": wall_ms()}), opts)
            })
            .collect();
        queue.add_bulk(jobs).await?;
    }
    Ok(n as f64 / started.elapsed().as_secs_f64())
}

/// ai-video's worker on `name`, running until stopped.
pub struct Ours {
    pub probe: Probe,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<(), WorkerError>>,
}

impl Ours {
    pub async fn start(bench: &Bench, name: &str, concurrency: usize) -> anyhow::Result<Self> {
        let config = BridgeConfig {
            redis: RedisConfig {
                url: Secret::new(bench.redis_url()),
            },
            queue: QueueConfig {
                name: name.into(),
                prefix: "bull".into(),
            },
            concurrency,
            lock_duration: Duration::from_secs(10),
            stalled_interval: Duration::from_secs(5),
            max_stalled_count: 2,
            name: "bench".into(),
        };
        let (backend, _) = bridge::start::<Value>(&config).await?;
        let probe = Probe::default();
        let worker = WorkerBuilder::new("bench")
            .backend(backend)
            .data(probe.clone())
            .concurrency(concurrency)
            .build(noop);
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(worker.run_until(async move {
            let _ = stopped.await;
            Ok::<(), WorkerError>(())
        }));
        Ok(Self {
            probe,
            stop: Some(stop),
            task,
        })
    }

    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = self.task.await;
    }
}

/// Waits until `n` jobs are completed (acks persisted in Redis); the wall time then.
pub async fn completed(queue: &Queue, n: usize) -> anyhow::Result<f64> {
    loop {
        if queue.get_completed_count().await? as usize >= n {
            return Ok(wall_ms());
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// A drain's rate and the CPU Redis spent on it.
#[derive(Debug, Clone, Copy)]
struct Drained {
    jobs_per_s: f64,
    /// Redis CPU per job, in microseconds.
    redis_us: f64,
    /// Redis CPU ÷ drain time: 100% is one core saturated.
    redis_busy: f64,
}

impl Drained {
    fn new(n: usize, jobs_per_s: f64, used: Vec<(&'static str, f64)>) -> Self {
        let redis = used.first().map_or(0.0, |(_, s)| *s);
        Self {
            jobs_per_s,
            redis_us: redis * 1e6 / n as f64,
            redis_busy: redis / (n as f64 / jobs_per_s) * 100.0,
        }
    }
}

fn redis_meter(pid: u32) -> cpu::Meter {
    cpu::Meter::start(vec![("Redis", cpu::Tree::One(pid))])
}

async fn ours_drain(
    bench: &Bench,
    n: usize,
    concurrency: usize,
    priorities: bool,
) -> anyhow::Result<Drained> {
    bench.flush().await?;
    let q = queue(bench, "drain").await?;
    fill(&q, n, priorities).await?;
    let meter = redis_meter(bench.redis_pid().await?);
    let ours = Ours::start(bench, "drain", concurrency).await?;
    let done = completed(&q, n).await?;
    let (used, _) = meter.stop();
    let rate = n as f64 / ((done - ours.probe.first_start_ms()) / 1000.0);
    ours.stop().await;
    Ok(Drained::new(n, rate, used))
}

async fn peer_drain(
    bench: &Bench,
    n: usize,
    concurrency: usize,
    priorities: bool,
) -> anyhow::Result<Drained> {
    bench.flush().await?;
    let n_text = n.to_string();
    let mut fill = vec!["fill", "--queue", "drain", "--n", &n_text];
    if priorities {
        fill.push("--priorities");
    }
    peer::run(bench.redis_port, &fill).await?;
    let meter = redis_meter(bench.redis_pid().await?);
    let c = concurrency.to_string();
    let out = peer::run(
        bench.redis_port,
        &[
            "drain",
            "--queue",
            "drain",
            "--n",
            &n_text,
            "--concurrency",
            &c,
        ],
    )
    .await?;
    let (used, _) = meter.stop();
    let rate = out["jobs_per_s"].as_f64().unwrap_or(f64::NAN);
    Ok(Drained::new(n, rate, used))
}

/// Drain a prefilled queue of no-op jobs, with and without priorities.
pub async fn drain(bench: &Bench, report: &mut Report) -> anyhow::Result<()> {
    for priorities in [true, false] {
        for concurrency in [1, 10, 100] {
            let mut ours = Vec::new();
            let mut theirs = Vec::new();
            for _ in 0..bench.repeat {
                ours.push(ours_drain(bench, bench.n, concurrency, priorities).await?);
                theirs.push(peer_drain(bench, bench.n, concurrency, priorities).await?);
            }
            let (ours, theirs) = (median_run(ours), median_run(theirs));
            report.add(Row {
                benchmark: "queue drain, no-op jobs".into(),
                setup: format!(
                    "{} jobs, concurrency {concurrency}, {}; Redis CPU per job {} µs (busy {}%) vs BullMQ {} µs (busy {}%)",
                    bench.n,
                    if priorities {
                        "random priorities 1–10"
                    } else {
                        "no priorities"
                    },
                    num(ours.redis_us),
                    num(ours.redis_busy),
                    num(theirs.redis_us),
                    num(theirs.redis_busy),
                ),
                ai_video: format!("{} jobs/s", num(ours.jobs_per_s)),
                peer: format!("{} jobs/s", num(theirs.jobs_per_s)),
                ratio: format!("{}×", num(ours.jobs_per_s / theirs.jobs_per_s)),
                target: if priorities {
                    "≥ 2× (at concurrency 100)".into()
                } else {
                    "≥ 1×".into()
                },
            });
        }
    }
    Ok(())
}

/// Enqueue → start latency on an idle worker at 200 jobs/s offered.
pub async fn latency(bench: &Bench, report: &mut Report) -> anyhow::Result<()> {
    let n = 2000;
    bench.flush().await?;
    let q = queue(bench, "latency").await?;
    let ours = Ours::start(bench, "latency", 10).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let start = Instant::now();
    for i in 0..n {
        let due = start + Duration::from_millis(5 * i as u64);
        tokio::time::sleep_until(due.into()).await;
        q.add("noop", json!({"i": i, "t": wall_ms()})).await?;
    }
    completed(&q, n).await?;
    let waits = ours
        .probe
        .waits
        .lock()
        .map(|w| w.clone())
        .unwrap_or_default();
    ours.stop().await;
    let pct = |p: f64| {
        let mut w = waits.clone();
        w.sort_by(|a, b| a.total_cmp(b));
        w.get(((w.len() - 1) as f64 * p).round() as usize)
            .copied()
            .unwrap_or(f64::NAN)
    };
    bench.flush().await?;
    let n_text = n.to_string();
    let peer_worker = peer::Running::start(
        bench.redis_port,
        &[
            "work",
            "--queue",
            "latency",
            "--n",
            &n_text,
            "--concurrency",
            "10",
        ],
    )
    .await?;
    peer::run(
        bench.redis_port,
        &[
            "pace",
            "--queue",
            "latency",
            "--n",
            &n_text,
            "--interval-ms",
            "5",
        ],
    )
    .await?;
    let theirs = peer_worker.result().await?;
    for (label, p, key, target) in [
        ("p50", 0.50, "latency_p50_ms", "≤ 1 ms"),
        ("p99", 0.99, "latency_p99_ms", "≤ 3 ms"),
    ] {
        let ours = pct(p);
        let theirs = theirs[key].as_f64().unwrap_or(f64::NAN);
        report.add(Row {
            benchmark: format!("enqueue → start latency, {label}"),
            setup: format!("{n} jobs at 200 jobs/s offered, idle worker"),
            ai_video: format!("{} ms", num(ours)),
            peer: format!("{} ms", num(theirs)),
            ratio: format!("{}×", num(ours / theirs)),
            target: target.into(),
        });
    }
    Ok(())
}

/// Drain rate of 20,000 jobs with 10k, 100k and 1M queued (topped up to the size
/// before each run), ai-video next to BullMQ.
pub async fn backlog(bench: &Bench, report: &mut Report) -> anyhow::Result<()> {
    let measured = 20_000;
    let mut base: Option<(f64, f64)> = None;
    for size in [10_000usize, 100_000, 1_000_000] {
        let take = measured.min(size);
        let mut ours = Vec::new();
        bench.flush().await?;
        let q = queue(bench, "backlog").await?;
        for _ in 0..bench.repeat {
            let queued = q.count().await? as usize;
            fill(&q, size.saturating_sub(queued), true).await?;
            let before = q.get_completed_count().await? as usize;
            let worker = Ours::start(bench, "backlog", 100).await?;
            let done = completed(&q, before + take).await?;
            ours.push(take as f64 / ((done - worker.probe.first_start_ms()) / 1000.0));
            worker.stop().await;
        }
        let mut theirs = Vec::new();
        bench.flush().await?;
        for _ in 0..bench.repeat {
            let missing = size.saturating_sub(q.count().await? as usize).to_string();
            if missing != "0" {
                let fill = [
                    "fill",
                    "--queue",
                    "backlog",
                    "--n",
                    &missing,
                    "--priorities",
                ];
                peer::run(bench.redis_port, &fill).await?;
            }
            let take_text = take.to_string();
            let drain = [
                "drain",
                "--queue",
                "backlog",
                "--n",
                &take_text,
                "--concurrency",
                "100",
            ];
            let out = peer::run(bench.redis_port, &drain).await?;
            theirs.push(out["jobs_per_s"].as_f64().unwrap_or(f64::NAN));
        }
        let (ours, theirs) = (median_rate(ours), median_rate(theirs));
        let (base_ours, base_theirs) = *base.get_or_insert((ours, theirs));
        report.add(Row {
            benchmark: "drain under a backlog".into(),
            setup: format!(
                "{size} jobs queued (random priorities), {take} drained, concurrency 100; BullMQ at {}× its 10k rate",
                num(theirs / base_theirs)
            ),
            ai_video: format!("{} jobs/s", num(ours)),
            peer: format!("{} jobs/s", num(theirs)),
            ratio: format!("{}× the 10k rate", num(ours / base_ours)),
            target: "within 20% of the 10k rate".into(),
        });
    }
    bench.flush().await?;
    Ok(())
}

fn median_rate(mut rates: Vec<f64>) -> f64 {
    rates.sort_by(|a, b| a.total_cmp(b));
    rates.get(rates.len() / 2).copied().unwrap_or(f64::NAN)
}

/// The run with the median rate.
fn median_run(mut runs: Vec<Drained>) -> Drained {
    runs.sort_by(|a, b| a.jobs_per_s.total_cmp(&b.jobs_per_s));
    runs[runs.len() / 2]
}
