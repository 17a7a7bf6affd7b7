//! The bridge on its own: an apalis worker fed by bullmq-official's worker, with a
//! test handler, against a real Redis. What must hold: strict priority, attempts
//! with exponential backoff waiting in Redis, abort without retry, delay without
//! using an attempt, push-driven wake-up, cancellation reaching the handler, and a
//! graceful stop that leaves waiting jobs waiting.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ai_video_shared::config::{QueueConfig, RedisConfig, Secret};
use ai_video_tests::env_var;
use ai_video_worker::bridge::{self, BridgeConfig, BridgeHandle, Delivery};
use apalis::layers::WorkerBuilderExt;
use apalis_core::error::{AbortError, BoxDynError, RetryAfterError, WorkerError};
use apalis_core::task::data::Data;
use apalis_core::worker::builder::WorkerBuilder;
use bullmq::types::BackoffStrategy;
use bullmq::{JobOptions, Queue, QueueOptions};
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Probe {
    n: u32,
    /// `ok`, `fail`, `abort`, `later-then-ok`, `slow`, `wait-for-cancel`.
    act: String,
}

/// What the handler saw: job number, run start time, attempts made before.
#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<(u32, Instant, u32)>>>);

impl Log {
    fn record(&self, n: u32, attempts_made: u32) {
        self.0
            .lock()
            .unwrap()
            .push((n, Instant::now(), attempts_made));
    }

    fn runs(&self) -> Vec<(u32, Instant, u32)> {
        self.0.lock().unwrap().clone()
    }

    fn order(&self) -> Vec<u32> {
        self.runs().iter().map(|r| r.0).collect()
    }
}

async fn handler(
    probe: Probe,
    delivery: Data<Delivery>,
    log: Data<Log>,
) -> Result<String, BoxDynError> {
    log.record(probe.n, delivery.attempts_made());
    match probe.act.as_str() {
        "fail" => Err("always fails".into()),
        "abort" => Err(AbortError::new("not worth retrying").into()),
        "later-then-ok"
            if delivery.attempts_made() == 0
                && log.runs().iter().filter(|r| r.0 == probe.n).count() == 1 =>
        {
            Err(RetryAfterError::new("come back later", Duration::from_millis(300)).into())
        }
        "slow" => {
            tokio::time::sleep(Duration::from_millis(400)).await;
            Ok("slow done".into())
        }
        "wait-for-cancel" => {
            tokio::select! {
                _ = delivery.cancel.cancelled() => Err(AbortError::new("cancelled").into()),
                _ = tokio::time::sleep(Duration::from_secs(10)) => Ok("never cancelled".into()),
            }
        }
        _ => Ok(format!("done {}", probe.n)),
    }
}

struct Harness {
    queue: Queue,
    config: BridgeConfig,
    log: Log,
}

struct Running {
    handle: BridgeHandle,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<(), WorkerError>>,
}

impl Running {
    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.task.await.unwrap().unwrap();
    }
}

impl Harness {
    async fn new(concurrency: usize) -> Self {
        let redis = RedisConfig {
            url: Secret::new(env_var("TEST_REDIS_URL")),
        };
        let queue_config = QueueConfig {
            name: "bridge".into(),
            prefix: format!("b{}", uuid::Uuid::new_v4().simple()),
        };
        let queue = Queue::with_options(
            &queue_config.name,
            QueueOptions::new()
                .connection(redis.bullmq_options())
                .prefix(queue_config.prefix.clone()),
        )
        .await
        .unwrap();
        Self {
            queue,
            config: BridgeConfig {
                redis,
                queue: queue_config,
                concurrency,
                lock_duration: Duration::from_secs(2),
                stalled_interval: Duration::from_secs(1),
                max_stalled_count: 1,
                name: "bridge-test".into(),
            },
            log: Log::default(),
        }
    }

    async fn push(
        &self,
        n: u32,
        act: &str,
        priority: u32,
        attempts: u32,
        backoff_ms: u64,
    ) -> String {
        let opts = JobOptions {
            priority: Some(priority),
            attempts: Some(attempts),
            backoff: Some(BackoffStrategy::Exponential(backoff_ms)),
            job_id: Some(format!("probe-{n}")),
            ..JobOptions::default()
        };
        let job = self
            .queue
            .add("probe", Probe { n, act: act.into() })
            .options(opts)
            .await
            .unwrap();
        job.id().to_string()
    }

    async fn start(&self) -> Running {
        let (backend, handle) = bridge::start::<Probe>(&self.config).await.unwrap();
        let worker = WorkerBuilder::new("bridge-test")
            .backend(backend)
            .data(self.log.clone())
            .concurrency(self.config.concurrency)
            .build(handler);
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(worker.run_until(async move {
            let _ = stopped.await;
            Ok::<(), WorkerError>(())
        }));
        Running {
            handle,
            stop: Some(stop),
            task,
        }
    }

    async fn state(&self, id: &str) -> String {
        format!("{:?}", self.queue.get_job_state(id).await.unwrap()).to_lowercase()
    }

    async fn wait_state(&self, id: &str, state: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while self.state(id).await != state {
            assert!(
                Instant::now() < deadline,
                "job {id} is {}, not {state}",
                self.state(id).await
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn attempts_made(&self, id: &str) -> u32 {
        self.queue
            .get_job(id)
            .await
            .unwrap()
            .unwrap()
            .attempts_made()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_highest_priority_waiting_job_runs_first_then_fifo() {
    let h = Harness::new(1).await;
    for n in 0..10 {
        h.push(n, "ok", 10, 1, 10).await;
    }
    h.push(100, "ok", 1, 1, 10).await;
    let running = h.start().await;
    h.wait_state("probe-9", "completed", Duration::from_secs(10))
        .await;
    assert_eq!(h.log.order(), [100, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_slot_busy_a_later_high_priority_job_runs_next() {
    let h = Harness::new(1).await;
    let running = h.start().await;
    h.push(0, "slow", 5, 1, 10).await;
    h.wait_state("probe-0", "active", Duration::from_secs(5))
        .await;
    for n in 1..=5 {
        h.push(n, "ok", 10, 1, 10).await;
    }
    h.push(99, "ok", 1, 1, 10).await;
    h.wait_state("probe-5", "completed", Duration::from_secs(10))
        .await;
    assert_eq!(h.log.order(), [0, 99, 1, 2, 3, 4, 5]);
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_job_runs_attempts_times_with_growing_gaps_then_fails_for_good() {
    let h = Harness::new(2).await;
    let running = h.start().await;
    let id = h.push(1, "fail", 5, 3, 300).await;
    h.wait_state(&id, "failed", Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let runs = h.log.runs();
    assert_eq!(runs.len(), 3, "exactly three runs, never a fourth");
    assert_eq!(runs.iter().map(|r| r.2).collect::<Vec<_>>(), [0, 1, 2]);
    let gap1 = runs[1].1 - runs[0].1;
    let gap2 = runs[2].1 - runs[1].1;
    assert!(
        gap1 >= Duration::from_millis(300) && gap1 < Duration::from_millis(900),
        "{gap1:?}"
    );
    assert!(
        gap2 >= Duration::from_millis(600) && gap2 < Duration::from_millis(1400),
        "{gap2:?}"
    );
    assert_eq!(h.attempts_made(&id).await, 3);
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_aborted_job_fails_at_once() {
    let h = Harness::new(1).await;
    let running = h.start().await;
    let id = h.push(1, "abort", 5, 3, 10).await;
    h.wait_state(&id, "failed", Duration::from_secs(5)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(h.log.runs().len(), 1);
    let job = h.queue.get_job(&id).await.unwrap().unwrap();
    assert!(
        job.failed_reason().contains("not worth retrying"),
        "{}",
        job.failed_reason()
    );
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delayed_job_comes_back_without_using_an_attempt() {
    let h = Harness::new(1).await;
    let running = h.start().await;
    let id = h.push(1, "later-then-ok", 5, 1, 10).await;
    h.wait_state(&id, "completed", Duration::from_secs(5)).await;
    let runs = h.log.runs();
    assert_eq!(runs.len(), 2, "ran again although attempts = 1");
    assert!(runs[1].1 - runs[0].1 >= Duration::from_millis(300));
    assert_eq!(runs[1].2, 0, "the delay used no attempt");
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_worker_starts_a_pushed_job_within_milliseconds() {
    let h = Harness::new(1).await;
    let running = h.start().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut waits = Vec::new();
    for n in 0..10 {
        let pushed = Instant::now();
        let id = h.push(n, "ok", 5, 1, 10).await;
        h.wait_state(&id, "completed", Duration::from_secs(5)).await;
        let started = h.log.runs().iter().find(|r| r.0 == n).unwrap().1;
        waits.push(started - pushed);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    waits.sort();
    let median = waits[waits.len() / 2];
    // A polling consumer would wait hundreds of milliseconds; a blocking wait on the
    // marker wakes at once (well under a millisecond on an idle release build).
    assert!(median < Duration::from_millis(100), "{waits:?}");
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_a_running_job_reaches_its_handler() {
    let h = Harness::new(1).await;
    let running = h.start().await;
    let id = h.push(1, "wait-for-cancel", 5, 3, 10).await;
    h.wait_state(&id, "active", Duration::from_secs(5)).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let asked = Instant::now();
    assert!(running.handle.cancel_job(&id).await, "the job runs here");
    h.wait_state(&id, "failed", Duration::from_secs(5)).await;
    assert!(asked.elapsed() < Duration::from_secs(2));
    assert_eq!(h.log.runs().len(), 1, "a cancelled job is not retried");
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_graceful_stop_finishes_the_running_job_and_leaves_the_rest_waiting() {
    let h = Harness::new(1).await;
    let running = h.start().await;
    let first = h.push(0, "slow", 5, 3, 10).await;
    h.wait_state(&first, "active", Duration::from_secs(5)).await;
    // Its handler runs (a delivery still in the bridge's channel goes back to waiting).
    let deadline = Instant::now() + Duration::from_secs(5);
    while h.log.runs().is_empty() {
        assert!(
            Instant::now() < deadline,
            "the first job never reached its handler"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let rest: Vec<String> =
        futures::future::join_all((1..=3).map(|n| h.push(n, "ok", 5, 3, 10))).await;
    running.stop().await;
    assert_eq!(
        h.state(&first).await,
        "completed",
        "the running job finished"
    );
    for id in &rest {
        let state = h.state(id).await;
        assert!(
            state == "prioritized" || state == "waiting",
            "{id} is {state}"
        );
        assert_eq!(h.attempts_made(id).await, 0);
    }
    // A new worker takes them.
    let again = h.start().await;
    for id in &rest {
        h.wait_state(id, "completed", Duration::from_secs(5)).await;
    }
    again.stop().await;
}
