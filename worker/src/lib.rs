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
pub mod providers;
mod reconcile;

use std::future::Future;
use std::sync::Arc;

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

/// Runs a worker process until `shutdown` resolves, then stops taking jobs,
/// finishes the ones it holds within the grace period, and returns.
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
    });

    let (stop_tx, stop_rx) = watch::channel(false);
    let relay = Relay::new(
        db.clone(),
        config.bridge.redis.clone(),
        config.bridge.queue.clone(),
    );
    let reconciler = tokio::spawn(reconcile::run(
        db,
        (config.bridge.redis.clone(), config.bridge.queue.clone()),
        config.reconcile_interval,
        relay.handle(),
        stop_rx.clone(),
    ));
    let relay = tokio::spawn(relay.run(stop_rx.clone()));
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
    let backend = backend.with_grace(config.shutdown_grace);
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
    let worker = WorkerBuilder::new(config.bridge.name.clone())
        .backend(backend)
        .data(state)
        // Each outcome is logged by the handler at its own level (a planned wait is
        // INFO, a failure WARN); apalis's own failure line would call every wait an
        // ERROR, so it is kept at DEBUG.
        .layer(TraceLayer::new().on_failure(DefaultOnFailure::new().level(Level::DEBUG)))
        .concurrency(config.bridge.concurrency)
        .build(jobs::handle);
    let result = worker
        .run_until(async move {
            shutdown.await;
            tracing::info!("shutdown requested; finishing running jobs");
            bridge.pause();
            Ok::<(), WorkerError>(())
        })
        .await;
    let _ = stop_tx.send(true);
    listener.abort();
    let _ = relay.await;
    let _ = reconciler.await;
    if let Ok(Err(e)) = probes.await {
        tracing::warn!(error = %e, "probe server stopped with an error");
    }
    result.context("the worker stopped with an error")
}
