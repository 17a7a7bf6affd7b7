//! The four kinds of work, and what every run shares: the Job row's lifecycle,
//! cancellation checkpoints, a private work directory, and the mapping of errors to
//! "retry" or "fail for good".
//!
//! A run starts only if its Job row is still active ([`worker_writes::begin`]); each kind
//! writes its outcome, the story's transition and its media keys in one transaction.
//! A failed run records the error on the row first and then tells BullMQ, so the
//! row always knows at least as much as Redis.

mod assemble;
mod calls;
mod delivery;
mod music;
mod ownership;
mod plan;
mod scene;
mod script;
mod tasks;
mod voice;
mod workdir;

pub use ownership::Runs;
pub use workdir::{WorkDir, WorkRoot};

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use ai_video_shared::db::entities::{job, provider_config};
use ai_video_shared::domain::{JobKind, JobStatus, Provider, RenderQuality};
use ai_video_shared::envelope::QueuedData;
use ai_video_shared::storage::Storage;
use ai_video_shared::store::{StoreError, runs, worker_writes};
use apalis_core::error::{AbortError, BoxDynError, RetryAfterError};
use apalis_core::task::data::Data;
use futures::FutureExt;
use sea_orm::{DatabaseConnection, EntityTrait};
use serde_json::Value;
use tracing::Instrument;

use crate::bridge::Delivery;
use crate::media::{Ffmpeg, MediaError};
use crate::metrics::{self, Ending};
use crate::providers::{ProviderError, Providers};

/// Frame sizes and rate of generated media.
#[derive(Debug, Clone, Copy)]
pub struct RenderSettings {
    /// Longer side of preview media, in pixels.
    pub preview_long_side: u32,
    /// Longer side of final media, in pixels.
    pub final_long_side: u32,
    pub fps: u32,
}

impl RenderSettings {
    pub fn long_side(&self, quality: RenderQuality) -> u32 {
        match quality {
            RenderQuality::Preview => self.preview_long_side,
            RenderQuality::Final => self.final_long_side,
        }
    }
}

/// What every job can reach.
pub struct WorkerState {
    pub db: DatabaseConnection,
    pub storage: Storage,
    pub providers: Providers,
    pub ffmpeg: Ffmpeg,
    pub render: RenderSettings,
    /// Where runs keep their temporary files.
    pub work_root: WorkRoot,
    /// Provider configurations, re-read at most once a second.
    pub configs: ConfigCache,
    /// The runs this process holds.
    pub runs: Arc<Runs>,
    /// The queue's lock duration: a run beats three times per lock, and a run
    /// silent for a whole lock is taken over by the job's next delivery.
    pub lock_duration: Duration,
}

/// Provider configurations as read at most a second ago: every scene job needs two,
/// and an admin's change reaches the fleet within a second.
#[derive(Default)]
pub struct ConfigCache {
    entries:
        tokio::sync::Mutex<std::collections::HashMap<Provider, (Instant, provider_config::Model)>>,
}

impl ConfigCache {
    const FRESH: Duration = Duration::from_secs(1);

    pub async fn get(
        &self,
        db: &DatabaseConnection,
        provider: Provider,
    ) -> Result<Option<provider_config::Model>, sea_orm::DbErr> {
        if let Some((read, config)) = self.entries.lock().await.get(&provider)
            && read.elapsed() < Self::FRESH
        {
            return Ok(Some(config.clone()));
        }
        let config = provider_config::Entity::find_by_id(provider)
            .one(db)
            .await?;
        if let Some(config) = &config {
            self.entries
                .lock()
                .await
                .insert(provider, (Instant::now(), config.clone()));
        }
        Ok(config)
    }
}

/// Why a run did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// The job was cancelled while it ran.
    #[error("cancelled")]
    Cancelled,
    /// Trying again cannot help.
    #[error("{0}")]
    Permanent(String),
    /// Another attempt may succeed.
    #[error("{0}")]
    Retryable(String),
    /// Come back after this long, without using an attempt.
    #[error("{0}")]
    Later(String, Duration),
}

/// How long a run that cannot reach the database waits before its job is tried
/// again (without using an attempt).
pub const DATABASE_WAIT: Duration = Duration::from_secs(5);

impl From<StoreError> for JobError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Db(e) => e.into(),
            other => JobError::Permanent(other.to_string()),
        }
    }
}

impl From<MediaError> for JobError {
    fn from(err: MediaError) -> Self {
        JobError::Retryable(err.to_string())
    }
}

impl From<ai_video_shared::storage::StorageError> for JobError {
    fn from(err: ai_video_shared::storage::StorageError) -> Self {
        JobError::Retryable(format!("storage: {err}"))
    }
}

impl From<ProviderError> for JobError {
    fn from(err: ProviderError) -> Self {
        match err {
            ProviderError::Permanent(m) => JobError::Permanent(m),
            ProviderError::RateLimited { message, wait } => JobError::Later(message, wait),
            ProviderError::Retryable(m) | ProviderError::Expired(m) => JobError::Retryable(m),
            ProviderError::Cancelled => JobError::Cancelled,
        }
    }
}

impl From<sea_orm::DbErr> for JobError {
    fn from(err: sea_orm::DbErr) -> Self {
        if runs::is_unavailable(&err) {
            JobError::Later(format!("database unavailable: {err}"), DATABASE_WAIT)
        } else {
            JobError::Retryable(format!("database: {err}"))
        }
    }
}

/// Reports progress from 0 to 1.
pub type Progress = Arc<dyn Fn(f32) + Send + Sync>;

/// One run of one job.
pub struct JobCtx {
    pub state: Arc<WorkerState>,
    pub delivery: Delivery,
    pub row: job::Model,
    pub work: WorkDir,
    /// This run's hold on the job; its token fires when the run lost the job.
    held: ownership::Held,
    started: Instant,
    /// The provider the run used, for metrics (set by kinds that call one).
    pub provider: OnceLock<Provider>,
    /// What the run cost in dollars, for metrics.
    pub cost: OnceLock<f64>,
}

impl JobCtx {
    /// 1-based number of this run.
    pub fn attempt(&self) -> u32 {
        self.delivery.attempts_made() + 1
    }

    pub fn elapsed_secs(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    /// Stops the run if the job was cancelled: here, through the queue, or in the
    /// database by a request served elsewhere.
    pub async fn checkpoint(&self) -> Result<(), JobError> {
        if self.delivery.cancel.is_cancelled()
            || self.held.lost.is_cancelled()
            || !runs::still_owned(&self.state.db, &self.row).await?
        {
            return Err(JobError::Cancelled);
        }
        Ok(())
    }

    /// Runs one step, abandoning it (and killing any child process) as soon as the
    /// job is cancelled through the queue or this run lost the job (a remote task it
    /// started is then left running, for the run that took over to adopt).
    pub async fn step<T, E: Into<JobError>>(
        &self,
        fut: impl Future<Output = Result<T, E>>,
    ) -> Result<T, JobError> {
        tokio::select! {
            result = fut => result.map_err(Into::into),
            _ = self.delivery.cancel.cancelled() => Err(JobError::Cancelled),
            _ = self.held.lost.cancelled() => Err(JobError::Cancelled),
        }
    }

    /// A function that records the job's progress (0 to 1): the latest value is
    /// written to the Job row and reported on the BullMQ job (in percent), at most
    /// a few times a second.
    pub fn progress_reporter(&self) -> Progress {
        let (tx, mut rx) = tokio::sync::watch::channel(0.0f32);
        let db = self.state.db.clone();
        let job = self.row.clone();
        let delivery = self.delivery.clone();
        tokio::spawn(async move {
            let mut reported = None;
            while rx.changed().await.is_ok() {
                let p = *rx.borrow_and_update();
                if let Err(e) = runs::set_progress(&db, &job, f64::from(p)).await {
                    tracing::debug!(error = %e, "could not record progress");
                }
                let percent = (p * 100.0).round() as u32;
                if reported != Some(percent) {
                    delivery.report_progress(percent).await;
                    reported = Some(percent);
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        });
        Arc::new(move |p: f32| {
            let _ = tx.send(p.clamp(0.0, 1.0));
        })
    }

    /// Adds a step to the job's log in Redis (what BullMQ tools show).
    pub async fn log(&self, line: &str) {
        self.delivery.log(line).await;
    }

    /// A provider's config: its switch and settings.
    pub async fn provider_config(
        &self,
        provider: Provider,
    ) -> Result<provider_config::Model, JobError> {
        let config = self
            .state
            .configs
            .get(&self.state.db, provider)
            .await?
            .ok_or_else(|| {
                JobError::Permanent(format!("no configuration for the {provider} provider"))
            })?;
        if !config.is_active {
            return Err(JobError::Permanent(format!(
                "the {provider} provider is switched off"
            )));
        }
        Ok(config)
    }
}

/// Why a run stopped as "cancelled" when its job was not cancelled.
enum Elsewhere {
    /// Another run of the job (a re-delivery that overlapped this one) finished it:
    /// this delivery succeeded too, with the recorded result.
    Finished(Value),
    /// Another run owns the job now, or this run gave it up at shutdown.
    Owned,
}

async fn elsewhere(ctx: &JobCtx) -> Option<Elsewhere> {
    let lost = ctx.held.lost.is_cancelled();
    let row = job::Entity::find_by_id(ctx.row.id).one(&ctx.state.db).await;
    match row {
        Ok(Some(row)) if row.status == JobStatus::Succeeded => {
            Some(Elsewhere::Finished(row.result.unwrap_or_default()))
        }
        Ok(Some(row)) if row.status.is_active() && (lost || row.run_id != ctx.row.run_id) => {
            Some(Elsewhere::Owned)
        }
        Err(_) if lost => Some(Elsewhere::Owned),
        _ => None,
    }
}

/// The apalis handler: runs one delivered job and tells BullMQ what to do next.
pub async fn handle(
    data: QueuedData,
    delivery: Data<Delivery>,
    state: Data<Arc<WorkerState>>,
) -> Result<Value, BoxDynError> {
    let delivery = (*delivery).clone();
    let state = (*state).clone();
    let span = tracing::info_span!(
        "job",
        job.id = tracing::field::Empty,
        story.id = %data.story_id,
        kind = tracing::field::Empty,
        queue.id = %delivery.job.id(),
        attempt = delivery.attempts_made() + 1,
    );
    run(state, delivery, data).instrument(span).await
}

async fn run(
    state: Arc<WorkerState>,
    delivery: Delivery,
    data: QueuedData,
) -> Result<Value, BoxDynError> {
    let row = match delivery::start(&state, &delivery, &data).await {
        Ok(delivery::Start::Run(row)) => *row,
        Ok(delivery::Start::Wait(reason, wait)) => {
            tracing::info!(%reason, "job put back");
            delivery.log(&format!("put back: {reason}")).await;
            return Err(RetryAfterError::new(reason, wait).into());
        }
        Ok(delivery::Start::Answer(value)) => {
            tracing::info!("job answered without running");
            return Ok(value);
        }
        Ok(delivery::Start::Refuse(reason)) => {
            tracing::warn!(%reason, "job refused");
            delivery.log(&format!("refused: {reason}")).await;
            return Err(AbortError::new(reason).into());
        }
        Ok(delivery::Start::Handed(reason)) => {
            tracing::info!(%reason, "job handed to another");
            return Err(AbortError::new(reason).into());
        }
        Err(JobError::Later(reason, wait)) => {
            tracing::warn!(%reason, "job could not start; put back without using an attempt");
            return Err(RetryAfterError::new(reason, wait).into());
        }
        Err(err) => {
            tracing::warn!(error = %err, "job could not start");
            return Err(err.to_string().into());
        }
    };
    let held = state.runs.hold(&state.db, &row, state.lock_duration / 3);
    let span = tracing::Span::current();
    span.record("job.id", tracing::field::display(row.id));
    span.record("kind", tracing::field::display(row.kind));
    let work = WorkDir::new(
        &state.work_root.path,
        &format!("{}-{}", row.id, uuid::Uuid::new_v4().simple()),
    );
    let ctx = JobCtx {
        state,
        delivery,
        row,
        work,
        held,
        started: Instant::now(),
        provider: OnceLock::new(),
        cost: OnceLock::new(),
    };
    metrics::job_started(ctx.row.kind, ctx.delivery.queue_wait());
    tracing::info!(
        wait_ms = ctx.delivery.queue_wait().as_millis() as u64,
        "job started"
    );
    ctx.log(&format!(
        "run {} of {} started: {} of job {}",
        ctx.attempt(),
        ctx.delivery.max_attempts(),
        ctx.row.kind,
        ctx.row.id
    ))
    .await;
    let work = async {
        match ctx.row.kind {
            JobKind::PlanStory => plan::run(&ctx).await,
            JobKind::GenerateScene => scene::run(&ctx).await,
            JobKind::GeneratePreview | JobKind::RenderFinal => assemble::run(&ctx).await,
        }
    };
    // A panic is a failed attempt like any other, recorded on the row.
    let outcome = AssertUnwindSafe(work)
        .catch_unwind()
        .await
        .unwrap_or_else(|panic| {
            let message = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            Err(JobError::Retryable(format!(
                "the worker panicked: {message}"
            )))
        });
    let ended = |ending| {
        let cost = ctx.cost.get().copied().unwrap_or(0.0);
        metrics::job_ended(
            ctx.row.kind,
            ctx.provider.get().copied(),
            ending,
            ctx.started.elapsed(),
            cost,
        );
    };
    // "Cancelled" because another run of the job finished it is a success; because
    // another run owns it now, this delivery is only put back (the queue already
    // handed the job to that run, so the answer changes nothing).
    let outcome = match outcome {
        Err(JobError::Cancelled) => match elsewhere(&ctx).await {
            Some(Elsewhere::Finished(result)) => {
                tracing::info!("job finished by another run of it; answering its result");
                ctx.log("finished by another run of this job; answering its recorded result")
                    .await;
                return Ok(result);
            }
            Some(Elsewhere::Owned) => {
                tracing::info!("another run owns the job now; this run stopped");
                let wait = ctx.state.lock_duration / 2;
                return Err(RetryAfterError::new("another run of this job owns it", wait).into());
            }
            None => Err(JobError::Cancelled),
        },
        other => other,
    };
    match outcome {
        Ok(value) => {
            ended(Ending::Succeeded);
            tracing::info!(
                elapsed_ms = ctx.started.elapsed().as_millis() as u64,
                "job succeeded"
            );
            ctx.delivery.report_progress(100).await;
            ctx.log(&format!("succeeded in {:.1} s", ctx.elapsed_secs()))
                .await;
            Ok(value)
        }
        Err(JobError::Cancelled) => {
            ended(Ending::Cancelled);
            tracing::info!("job cancelled while running");
            ctx.log("cancelled while running").await;
            Err(AbortError::new("cancelled").into())
        }
        Err(JobError::Later(message, wait)) => {
            ended(Ending::Delayed);
            tracing::info!(%message, wait_ms = wait.as_millis() as u64, "job put back without using an attempt");
            ctx.log(&format!(
                "put back for {} ms without using an attempt: {message}",
                wait.as_millis()
            ))
            .await;
            if let Err(e) = worker_writes::requeue(&ctx.state.db, &ctx.row, &message).await {
                // The row stays with this run; the next delivery takes it over once
                // this run's heartbeat is stale.
                tracing::warn!(error = %e, "could not record the put-back");
            }
            Err(RetryAfterError::new(message, wait).into())
        }
        Err(err) => {
            let permanent = matches!(err, JobError::Permanent(_));
            let last = permanent || ctx.delivery.is_last_attempt();
            let message = err.to_string();
            ended(if last {
                Ending::Failed
            } else {
                Ending::Retried
            });
            tracing::warn!(error = %message, last, "job failed");
            ctx.log(&format!(
                "failed{}: {message}",
                if last {
                    " for good"
                } else {
                    "; it will be retried"
                }
            ))
            .await;
            match worker_writes::record_failure(&ctx.state.db, &ctx.row, &message, last).await {
                Ok(()) => {}
                // The database is away: the queue must not know more than the row,
                // so the job is put back and its run happens again.
                Err(StoreError::Db(e)) if runs::is_unavailable(&e) => {
                    tracing::warn!(error = %e, "could not record the failure; the job is put back");
                    return Err(RetryAfterError::new(
                        format!("database unavailable; {message}"),
                        DATABASE_WAIT,
                    )
                    .into());
                }
                Err(e) => tracing::error!(error = %e, "could not record the failure"),
            }
            if last {
                Err(AbortError::new(message).into())
            } else {
                Err(message.into())
            }
        }
    }
}
