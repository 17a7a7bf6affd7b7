//! The ai-video worker: apalis workers over the BullMQ-protocol Redis queue.
//!
//! [`bridge`] connects bullmq-official's worker (which speaks the protocol) to an
//! apalis worker (which runs the handlers with tracing and bounded concurrency, and
//! drains on shutdown); [`jobs`] holds the four kinds of work, each run with its
//! panics caught and recorded as a failed attempt; [`providers`] the image and video
//! providers; [`media`] ffmpeg.

pub mod bridge;
mod cancel;
pub mod config;
mod health;
pub mod jobs;
pub mod media;
pub mod metrics;
pub mod outbound;
pub mod providers;
mod reconcile;
pub mod webhooks;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use ai_video_shared::announce::Announcer;
use ai_video_shared::envelope::QueuedData;
use ai_video_shared::outbox::Relay;
use ai_video_shared::{db, storage};
use anyhow::Context;
use apalis::layers::WorkerBuilderExt;
use apalis::layers::tracing::{DefaultOnFailure, TraceLayer};
use apalis_core::error::WorkerError;
use apalis_core::worker::builder::WorkerBuilder;
use tokio::sync::watch;
use tracing::Level;

use crate::config::WorkerConfig;
use crate::jobs::WorkerState;
use crate::providers::{Inbox, Limiter, Providers};

/// How long handing the running jobs back to the queue may take at the end of the
/// shutdown grace.
const HAND_BACK: Duration = Duration::from_secs(2);

/// Runs a worker process until `shutdown` resolves, then stops taking jobs,
/// finishes the ones it holds within the grace period, and returns. Jobs still
/// running at the grace go back to the queue (their runs stop, their remote tasks
/// go on, to be adopted by the run that takes the job next).
pub async fn run(
    config: WorkerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    metrics::init(config.bridge.concurrency);
    let db = db::connect(&config.database)
        .await
        .context("cannot connect to the database (DATABASE_URL)")?;
    if config.auto_migrate {
        db::migrate(&db).await.context("cannot apply migrations")?;
    }
    let storage = storage::open(&config.storage)
        .await
        .context("cannot open the media storage")?;
    let work_root = jobs::WorkRoot::claim(&config.work_dir)
        .with_context(|| format!("cannot use WORK_DIR {}", config.work_dir.display()))?;
    let limiter = Limiter::connect(&config.bridge.redis, &config.bridge.queue)
        .await
        .context("cannot reach Redis (REDIS_URL) for the provider limits")?;
    let inbox = Inbox {
        conn: redis::aio::ConnectionManager::new(redis::Client::open(
            config.bridge.redis.url.expose(),
        )?)
        .await
        .context("cannot reach Redis (REDIS_URL)")?,
        queue: config.bridge.queue.clone(),
    };
    let state = Arc::new(WorkerState {
        db: db.clone(),
        storage,
        providers: Providers::new(
            &config.providers,
            config.ffmpeg.clone(),
            Some(limiter),
            Some(inbox),
        ),
        ffmpeg: config.ffmpeg.clone(),
        render: config.render,
        work_root,
        configs: Default::default(),
        runs: Default::default(),
        lock_duration: config.bridge.lock_duration,
    });

    let (stop_tx, stop_rx) = watch::channel(false);
    let relay = Relay::new(
        db.clone(),
        config.bridge.redis.clone(),
        config.bridge.queue.clone(),
    );
    let reconciler = tokio::spawn(reconcile::run(
        db.clone(),
        (config.bridge.redis.clone(), config.bridge.queue.clone()),
        config.reconcile_interval,
        config.events_retention,
        relay.handle(),
        stop_rx.clone(),
    ));
    let relay = tokio::spawn(relay.run(stop_rx.clone()));
    let announcer = tokio::spawn(
        Announcer::new(
            db.clone(),
            config.bridge.redis.clone(),
            &config.bridge.queue,
        )
        .run(stop_rx.clone()),
    );
    let sender = tokio::spawn(
        webhooks::Sender::new(
            db.clone(),
            config.providers.outbound.clone(),
            config.webhooks.clone(),
        )
        .run(stop_rx.clone()),
    );
    let mut probes_stop = stop_rx.clone();
    let probes = tokio::spawn(health::serve(
        config.metrics_addr,
        state.clone(),
        config.bridge.redis.clone(),
        config.bridge.queue.clone(),
        async move {
            let _ = probes_stop.wait_for(|s| *s).await;
        },
    ));

    let (backend, bridge) = bridge::start::<QueuedData>(&config.bridge)
        .await
        .context("cannot start the queue worker (REDIS_URL)")?;
    // The queue worker waits a little past the grace, so that the jobs handed back
    // at the grace reach the waiting list before it lets go of Redis.
    let backend = backend.with_grace(config.shutdown_grace + HAND_BACK);
    let listener = tokio::spawn(cancel::listen(
        config.bridge.redis.clone(),
        config.bridge.queue.clone(),
        bridge.clone(),
    ));
    tracing::info!(
        queue = %config.bridge.queue.name,
        concurrency = config.bridge.concurrency,
        "worker taking jobs"
    );
    let held = state.clone();
    let worker = WorkerBuilder::new(config.bridge.name.clone())
        .backend(backend)
        .data(state)
        // Each outcome is logged by the handler at its own level (a planned wait is
        // INFO, a failure WARN); apalis's own failure line would call every wait an
        // ERROR, so it is kept at DEBUG.
        .layer(TraceLayer::new().on_failure(DefaultOnFailure::new().level(Level::DEBUG)))
        .concurrency(config.bridge.concurrency)
        .build(jobs::handle);
    let (signalled, signal) = tokio::sync::oneshot::channel::<()>();
    let stopper = bridge.clone();
    let run = worker.run_until(async move {
        shutdown.await;
        tracing::info!("shutdown requested; finishing running jobs");
        bridge.pause();
        let _ = signalled.send(());
        Ok::<(), WorkerError>(())
    });
    let grace_over = async {
        if signal.await.is_err() {
            std::future::pending::<()>().await;
        }
        tokio::time::sleep(config.shutdown_grace).await;
    };
    // The worker future is kept (not dropped) when the grace runs out: its runs must
    // still be registered when they give their jobs back.
    tokio::pin!(run);
    let finished = tokio::select! {
        result = &mut run => Some(result),
        () = grace_over => None,
    };
    let result = match finished {
        Some(result) => result,
        None => {
            let left = held.runs.give_up_all(&held.db).await;
            stopper.abandon();
            tracing::warn!(
                jobs = left,
                "shutdown grace over; running jobs go back to the queue"
            );
            let handed_back = async {
                while stopper.active_count().await > 0 {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            };
            let _ = tokio::time::timeout(HAND_BACK, handed_back).await;
            Ok(())
        }
    };
    let _ = stop_tx.send(true);
    listener.abort();
    let _ = relay.await;
    let _ = announcer.await;
    let _ = sender.await;
    let _ = reconciler.await;
    if let Ok(Err(e)) = probes.await {
        tracing::warn!(error = %e, "probe server stopped with an error");
    }
    result.context("the worker stopped with an error")
}
