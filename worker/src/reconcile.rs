//! The reconciler: brings Redis back in line with the database, which is the truth.
//!
//! At start-up and then every `WORKER_RECONCILE_INTERVAL_SECS` (15 s), it takes the
//! unfinished top-level jobs that are not waiting in the outbox and asks Redis
//! whether it still holds each (one pipelined `EXISTS` per round). A job Redis lost
//! (a restart without persistence, a `FLUSHALL`, an eviction) is queued again through
//! the outbox with its stable id — a preview or render with its unfinished scene
//! jobs only — so no story stays stuck. Every worker runs it; two doing the same
//! round write the same outbox rows, which the relay pushes once.

use std::time::Duration;

use ai_video_shared::config::{QueueConfig, RedisConfig};
use ai_video_shared::outbox::RelayHandle;
use ai_video_shared::queue::job_key;
use ai_video_shared::store::reconcile;
use sea_orm::DatabaseConnection;
use tokio::sync::watch;

/// Jobs looked at per round.
const BATCH: u64 = 500;
/// A job touched more recently than this is left for the next round: it may be
/// on its way to Redis right now.
const SETTLED: Duration = Duration::from_secs(5);

/// Runs until `shutdown` turns true.
pub async fn run(
    db: DatabaseConnection,
    (redis, queue): (RedisConfig, QueueConfig),
    interval: Duration,
    relay: RelayHandle,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut conn = None;
    loop {
        if *shutdown.borrow() {
            return;
        }
        match round(&db, &redis, &queue, &mut conn).await {
            Ok(0) => {}
            Ok(n) => {
                tracing::warn!(requeued = n, "jobs Redis no longer had are queued again");
                relay.wake();
            }
            Err(e) => {
                conn = None;
                tracing::debug!(error = %e, "reconciling with Redis failed; trying again later");
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = shutdown.changed() => {}
        }
    }
}

/// One pass; answers how many jobs it queued again.
async fn round(
    db: &DatabaseConnection,
    redis: &RedisConfig,
    queue: &QueueConfig,
    conn: &mut Option<redis::aio::MultiplexedConnection>,
) -> anyhow::Result<usize> {
    let jobs = reconcile::candidates(db, SETTLED, BATCH).await?;
    if jobs.is_empty() {
        return Ok(0);
    }
    let c = match conn {
        Some(c) => c,
        None => conn.insert(
            redis::Client::open(redis.url.expose())?
                .get_multiplexed_async_connection()
                .await?,
        ),
    };
    let mut pipe = redis::pipe();
    for job in &jobs {
        pipe.exists(job_key(queue, &job.queue_id));
    }
    let held: Vec<bool> = pipe.query_async(c).await?;
    let lost: Vec<uuid::Uuid> = jobs
        .iter()
        .zip(held)
        .filter(|(_, held)| !held)
        .map(|(job, _)| job.id)
        .collect();
    for id in &lost {
        tracing::info!(job.id = %id, "job lost from Redis; queued again");
    }
    reconcile::requeue(db, &lost).await?;
    Ok(lost.len())
}
