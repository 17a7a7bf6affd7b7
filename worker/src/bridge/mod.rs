//! apalis workers over a BullMQ-protocol queue: the bridge.
//!
//! bullmq-official's own `Worker::run` speaks the protocol: it fetches with a
//! blocking wait on the queue's marker (a pushed job starts within milliseconds),
//! takes jobs in strict priority order only when it has a free slot, renews their
//! locks, re-queues the jobs of dead workers (stalled checks), applies attempts and
//! exponential backoff while the job waits in Redis, and keeps completed and failed
//! jobs as their retention says. Its processor does no work itself: it hands each job
//! through a bounded channel to the apalis [`BullmqBackend`], and waits for the
//! answer that the backend's layer ([`AckLayer`]) sends once the apalis service has
//! run the job:
//!
//! | the service returns | BullMQ does |
//! | --- | --- |
//! | `Ok(value)` | completes the job with `value` as its return value |
//! | an error wrapping [`AbortError`] | fails the job for good, whatever attempts are left |
//! | an error wrapping [`RetryAfterError`] | moves it back to delayed for that long, without using an attempt |
//! | any other error | fails this attempt; retries with backoff while attempts remain |
//!
//! If nobody answers (the process shuts down with the job still in the channel),
//! the job goes back to waiting without using an attempt. Never add an apalis retry
//! layer on top: BullMQ owns attempts.
//!
//! [`AbortError`]: apalis_core::error::AbortError
//! [`RetryAfterError`]: apalis_core::error::RetryAfterError

mod ack;
mod backend;

pub use ack::{AckLayer, AckService};
pub use backend::BullmqBackend;

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ai_video_shared::config::{QueueConfig, RedisConfig};
use bullmq::worker::CancellationToken;
use bullmq::{Job, Worker, WorkerOptions};
use tokio::sync::{mpsc, oneshot};

/// How the bridge takes jobs.
#[derive(Debug, Clone)]
pub struct BridgeConfig {
    pub redis: RedisConfig,
    pub queue: QueueConfig,
    /// Jobs this process holds at once (`WORKER_CONCURRENCY`).
    pub concurrency: usize,
    /// How long a job's lock lives without renewal; a dead worker's job is picked
    /// up again roughly this long (plus one stalled-check interval) after it died.
    pub lock_duration: Duration,
    /// How often the queue is checked for jobs whose lock expired.
    pub stalled_interval: Duration,
    /// Times a job may stall (its worker dying) before it fails for good.
    pub max_stalled_count: u32,
    /// Shown in BullMQ tools as the worker name.
    pub name: String,
}

/// The longest a job's log line or progress report may hold up its run.
const TOOL_CALL: Duration = Duration::from_secs(2);

/// What a processor hands over, and how it is answered.
type Reply = Result<serde_json::Value, bullmq::Error>;

/// One job handed from BullMQ to apalis, available to handlers as `Data<Delivery>`.
#[derive(Clone)]
pub struct Delivery {
    pub job: Job,
    /// Cancelled when the job is cancelled while it runs here.
    pub cancel: CancellationToken,
    reply: Arc<Mutex<Option<oneshot::Sender<Reply>>>>,
}

impl Delivery {
    /// Runs finished before this one (BullMQ's `attemptsMade`).
    pub fn attempts_made(&self) -> u32 {
        self.job.attempts_made()
    }

    /// Total runs the job may have.
    pub fn max_attempts(&self) -> u32 {
        self.job.opts().attempts.unwrap_or(1).max(1)
    }

    /// Whether a failure of this run is the job's last.
    pub fn is_last_attempt(&self) -> bool {
        self.attempts_made() + 1 >= self.max_attempts()
    }

    /// Milliseconds the job waited between being queued and this run starting.
    pub fn queue_wait(&self) -> Duration {
        let now = now_ms();
        Duration::from_millis(now.saturating_sub(self.job.timestamp()))
    }

    /// Adds a line to the job's log in Redis, which BullMQ tools show beside the
    /// job (`getJobLogs`, bull-board). Best effort: a log line never fails a job.
    pub async fn log(&self, line: &str) {
        match tokio::time::timeout(TOOL_CALL, self.job.log(line)).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::debug!(error = %e, "could not add to the job's log"),
            Err(_) => tracing::debug!("adding to the job's log timed out"),
        }
    }

    /// Reports the job's progress in percent on the BullMQ job (`updateProgress`,
    /// with its `progress` event). Best effort, like [`Delivery::log`].
    pub async fn report_progress(&self, percent: u32) {
        let mut job = self.job.clone();
        let progress = bullmq::types::JobProgress::Number(f64::from(percent.min(100)));
        match tokio::time::timeout(TOOL_CALL, job.update_progress(progress)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::debug!(error = %e, "could not report progress to the queue"),
            Err(_) => tracing::debug!("reporting progress to the queue timed out"),
        }
    }

    /// Sends the answer to BullMQ; the first answer wins.
    fn answer(&self, reply: Reply) {
        if let Some(tx) = self.reply.lock().ok().and_then(|mut r| r.take()) {
            let _ = tx.send(reply);
        }
    }
}

pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
}

/// Controls the running bridge from outside apalis.
#[derive(Clone)]
pub struct BridgeHandle {
    worker: Arc<Worker>,
    abandon: CancellationToken,
}

impl BridgeHandle {
    /// Cancels a job if it runs in this process; answers whether it did.
    pub async fn cancel_job(&self, queue_id: &str) -> bool {
        self.worker.cancel_job(queue_id).await
    }

    /// Stops taking jobs (the ones running go on); used when shutdown starts, so
    /// that a finishing job does not fetch the next one in the same call.
    pub fn pause(&self) {
        self.worker.pause();
    }

    /// Hands every job this process holds back to the queue's waiting list at once
    /// (without using an attempt), whatever its run is doing: the end of the
    /// shutdown grace.
    pub fn abandon(&self) {
        self.abandon.cancel();
    }

    /// Jobs this process holds right now.
    pub async fn active_count(&self) -> usize {
        self.worker.active_count().await
    }
}

/// Starts a BullMQ worker whose jobs flow into the returned apalis backend.
pub async fn start<Args>(
    config: &BridgeConfig,
) -> Result<(BullmqBackend<Args>, BridgeHandle), bullmq::Error> {
    let concurrency = config.concurrency.max(1);
    let (tx, rx) = mpsc::channel::<Delivery>(concurrency);
    let abandon = CancellationToken::new();
    let abandoned = abandon.clone();
    let processor = move |job: Job, cancel: CancellationToken| {
        let tx = tx.clone();
        let abandoned = abandoned.clone();
        async move {
            let (reply_tx, reply_rx) = oneshot::channel();
            let delivery = Delivery {
                job,
                cancel,
                reply: Arc::new(Mutex::new(Some(reply_tx))),
            };
            // The backend is gone (shutting down): hand the job back untouched.
            let back_to_wait = bullmq::Error::RateLimited { delay_ms: 0 };
            if tx.send(delivery).await.is_err() {
                return Err(back_to_wait);
            }
            tokio::select! {
                reply = reply_rx => reply.unwrap_or(Err(back_to_wait)),
                _ = abandoned.cancelled() => Err(back_to_wait),
            }
        }
    };
    let lock_ms = config.lock_duration.as_millis().max(1) as u64;
    let opts = WorkerOptions {
        connection: config.redis.bullmq_options(),
        prefix: config.queue.prefix.clone(),
        name: Some(config.name.clone()),
        concurrency,
        lock_duration: lock_ms,
        stalled_interval: config.stalled_interval.as_millis().max(1) as u64,
        max_stalled_count: config.max_stalled_count,
        autorun: false,
        // The idle blocking wait returns at least once a second, so a stop request
        // is noticed within a second (a push still wakes it at once).
        drain_delay: 1,
        // After a Redis error (an outage, a restart) the worker tries again within
        // a second, so an idle worker resumes about a second after Redis returns.
        run_retry_delay: 1000,
        ..WorkerOptions::default()
    };
    let worker = Arc::new(Worker::with_options(&config.queue.name, processor, opts).await?);
    // The worker reports every job on an unbounded channel; read it so it never grows.
    let events = worker.clone();
    tokio::spawn(async move {
        while let Some(event) = events.next_event().await {
            match event {
                bullmq::worker::WorkerEvent::Error(e) => tracing::warn!(error = %e, "queue error"),
                bullmq::worker::WorkerEvent::Stalled { job_id } => {
                    tracing::warn!(queue.id = %job_id, "job stalled; it is queued again")
                }
                bullmq::worker::WorkerEvent::Closed => break,
                _ => {}
            }
        }
    });
    worker.run().await?;
    let handle = BridgeHandle {
        worker: worker.clone(),
        abandon,
    };
    Ok((BullmqBackend::new(rx, worker), handle))
}
