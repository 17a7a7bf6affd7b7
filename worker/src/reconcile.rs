//! The reconciler: brings Redis back in line with the database, which is the truth.
//!
//! At start-up and then every `WORKER_RECONCILE_INTERVAL_SECS` (15 s), it takes the
//! unfinished top-level jobs that are not waiting in the outbox and asks Redis
//! whether it still holds each (one pipelined `EXISTS` per round). A job Redis lost
//! (a restart without persistence, a `FLUSHALL`, an eviction) is queued again through
//! the outbox with its stable id — a preview or render with its unfinished scene
//! jobs only — and one Redis failed for good (it stalled out, or its failure could
//! not be written) is failed on its row with Redis's reason, so no story stays stuck. Every worker runs it; two doing the same
//! round write the same outbox rows, which the relay pushes once. Each round also
//! purges expired idempotency keys, prunes events older than their retention and
//! settles finished jobs into the statistics.

use std::time::Duration;

use ai_video_shared::config::{QueueConfig, RedisConfig};
use ai_video_shared::outbox::RelayHandle;
use ai_video_shared::queue::job_key;
use ai_video_shared::store::{reconcile, worker_writes};
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
    events_retention: Duration,
    relay: RelayHandle,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut conn = None;
    loop {
        if *shutdown.borrow() {
            return;
        }
        if let Err(e) = ai_video_shared::store::idempotency::purge_expired(&db).await {
            tracing::debug!(error = %e, "could not purge expired idempotency keys");
        }
        if let Err(e) = ai_video_shared::store::events::prune(&db, events_retention).await {
            tracing::debug!(error = %e, "could not prune old events");
        }
        if let Err(e) = ai_video_shared::store::rollup::settle(&db).await {
            tracing::debug!(error = %e, "could not settle finished jobs into the statistics");
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
    let failed_key = format!("{}:{}:failed", queue.prefix, queue.name);
    let mut pipe = redis::pipe();
    for job in &jobs {
        pipe.exists(job_key(queue, &job.queue_id))
            .zscore(&failed_key, &job.queue_id)
            .hget(job_key(queue, &job.queue_id), "failedReason");
    }
    let answers: Vec<(bool, Option<f64>, Option<String>)> = pipe.query_async(c).await?;
    let mut lost = Vec::new();
    for (job, (held, failed_at, reason)) in jobs.iter().zip(answers) {
        if !held {
            tracing::info!(job.id = %job.id, "job lost from Redis; queued again");
            lost.push(job.id);
        } else if failed_at.is_some() {
            // Failed for good in the queue (it stalled out, or its failure could
            // not be written): the row learns it, and so does the story.
            let reason = reason.unwrap_or_else(|| "failed in the queue".into());
            tracing::warn!(job.id = %job.id, %reason, "job failed for good in the queue; failing its row");
            worker_writes::fail_for_good(db, job, &format!("the queue failed the job: {reason}"))
                .await?;
        }
    }
    reconcile::requeue(db, &lost).await?;
    Ok(lost.len())
}
