//! Fleet-wide provider limits, kept in Redis so they hold across every worker.
//!
//! - Rate: each provider's `rate_limit_per_minute` and `rate_limit_per_hour` (from
//!   its config) bound the generation requests sent to it — creating an image, a
//!   task or a prediction; polls and downloads do not count. Both are sliding
//!   windows (sorted sets of request times, on Redis's clock), so no stretch of 60 s
//!   or 3,600 s ever holds more than the limit. The windows are taken half a second
//!   longer than their name, so that network latency on the way to the provider cannot
//!   squeeze one request too many into the provider's own window.
//! - Concurrency: Runway bounds running generations per model; a semaphore of
//!   leases (a sorted set of lease ids by expiry) keeps the fleet at or under
//!   `max_concurrency` from the provider's settings. A job refused a slot is put back
//!   until the first lease expires (at most 10 s) and joins the slot's waiters; a
//!   released slot promotes the oldest waiter at once, so it starts as soon as the
//!   slot is free rather than on a timer.
//!
//! A request held back by either is not an error: the caller gets the wait, and the
//! job goes back to the queue for that long without using an attempt.

use std::time::Duration;

use ai_video_shared::config::{QueueConfig, RedisConfig};
use ai_video_shared::domain::Provider;
use redis::Script;
use redis::aio::ConnectionManager;

const SLIDING: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local windows = { tonumber(ARGV[3]), tonumber(ARGV[4]) }
local limits = { tonumber(ARGV[1]), tonumber(ARGV[2]) }
local wait = 0
for i = 1, 2 do
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now - windows[i])
  if limits[i] > 0 and redis.call('ZCARD', KEYS[i]) >= limits[i] then
    local oldest = redis.call('ZRANGE', KEYS[i], 0, 0, 'WITHSCORES')
    wait = math.max(wait, tonumber(oldest[2]) + windows[i] - now, 1)
  end
end
if wait > 0 then return wait end
for i = 1, 2 do
  if limits[i] > 0 then
    redis.call('ZADD', KEYS[i], now, ARGV[5])
    redis.call('PEXPIRE', KEYS[i], windows[i])
  end
end
return 0
"#;

const LEASE: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZSCORE', KEYS[1], ARGV[3]) then
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[3])
  return 0
end
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then
  if ARGV[4] ~= '' then
    redis.call('ZADD', KEYS[2], 'NX', now, ARGV[4])
    redis.call('PEXPIRE', KEYS[2], 3600000)
  end
  local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return math.max(math.min(tonumber(first[2]) - now, tonumber(ARGV[5])), 500)
end
redis.call('ZREM', KEYS[2], ARGV[4])
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[3])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]))
return 0
"#;

/// The longest a job waits for a slot before it asks again, in case the release
/// that should have woken it came while it was still being put back.
const SLOT_RECHECK_MS: u64 = 10_000;

const RENEW: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local kept = redis.call('ZADD', KEYS[1], 'XX', 'CH', now + tonumber(ARGV[1]), ARGV[2])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[1]))
return kept
"#;

/// The jobs waiting for a slot of the semaphore at `key`, oldest first.
fn waiters_key(key: &str) -> String {
    format!("{key}:waiting")
}

/// Extra length of each window, absorbing latency between here and the provider.
const MARGIN_MS: u64 = 500;

/// The limits of one provider, from its config.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimits {
    pub per_minute: u32,
    pub per_hour: u32,
}

/// Shared limiter; cheap to clone.
#[derive(Clone)]
pub struct Limiter {
    conn: ConnectionManager,
    prefix: String,
    sliding: Script,
    lease: Script,
    renew: Script,
    /// The job queue, to wake waiting jobs.
    queue: Option<bullmq::Queue>,
}

/// A held concurrency slot; give it back with [`Limiter::release`].
#[derive(Debug, Clone)]
pub struct Lease {
    key: String,
    id: String,
}

impl Limiter {
    pub async fn connect(redis: &RedisConfig, queue: &QueueConfig) -> redis::RedisResult<Self> {
        let client = redis::Client::open(redis.url.expose())?;
        let bullmq_queue = match bullmq::Queue::with_options(
            &queue.name,
            bullmq::QueueOptions::new()
                .connection(redis.bullmq_options())
                .prefix(queue.prefix.clone()),
        )
        .await
        {
            Ok(q) => Some(q),
            Err(e) => {
                tracing::warn!(error = %e, "waiting jobs will not be woken early");
                None
            }
        };
        Ok(Self {
            queue: bullmq_queue,
            conn: ConnectionManager::new(client).await?,
            prefix: format!("{}:{}:limits", queue.prefix, queue.name),
            sliding: Script::new(SLIDING),
            lease: Script::new(LEASE),
            renew: Script::new(RENEW),
        })
    }

    /// Takes one request slot of `provider`, or says how long to wait for one.
    pub async fn take(
        &self,
        provider: Provider,
        limits: RateLimits,
    ) -> redis::RedisResult<Option<Duration>> {
        let mut conn = self.conn.clone();
        let wait: u64 = self
            .sliding
            .key(format!("{}:{provider}:minute", self.prefix))
            .key(format!("{}:{provider}:hour", self.prefix))
            .arg(limits.per_minute)
            .arg(limits.per_hour)
            .arg(60_000 + MARGIN_MS)
            .arg(3_600_000 + MARGIN_MS)
            .arg(uuid::Uuid::new_v4().to_string())
            .invoke_async(&mut conn)
            .await?;
        Ok((wait > 0).then(|| Duration::from_millis(wait)))
    }

    /// Takes one of `max` concurrent slots named `name` for at most `hold`, or says
    /// how long to wait before asking again. `holder` names the work the slot is
    /// for: a holder that has a slot already (its earlier run died) takes it over.
    /// A refused `waiter` (a BullMQ job id) is promoted when a slot is released.
    pub async fn lease(
        &self,
        name: &str,
        max: u32,
        hold: Duration,
        (holder, waiter): (&str, Option<&str>),
    ) -> redis::RedisResult<Result<Lease, Duration>> {
        let key = format!("{}:{name}:running", self.prefix);
        let id = holder.to_string();
        let mut conn = self.conn.clone();
        let wait: u64 = self
            .lease
            .key(&key)
            .key(waiters_key(&key))
            .arg(max)
            .arg(hold.as_millis() as u64)
            .arg(&id)
            .arg(waiter.unwrap_or_default())
            .arg(SLOT_RECHECK_MS)
            .invoke_async(&mut conn)
            .await?;
        Ok(if wait == 0 {
            Ok(Lease { key, id })
        } else {
            Err(Duration::from_millis(wait))
        })
    }

    /// Holds a slot for another `hold` from now, while the work it guards still
    /// runs; a slot whose holder died expires `hold` after its last renewal.
    pub async fn renew(&self, lease: &Lease, hold: Duration) {
        let mut conn = self.conn.clone();
        let result: redis::RedisResult<i64> = self
            .renew
            .key(&lease.key)
            .arg(hold.as_millis() as u64)
            .arg(&lease.id)
            .invoke_async(&mut conn)
            .await;
        if let Err(e) = result {
            tracing::warn!(error = %e, "could not renew a provider slot");
        }
    }

    /// Gives a slot back, and wakes the job that has waited longest for one.
    pub async fn release(&self, lease: &Lease) {
        let mut conn = self.conn.clone();
        let result: redis::RedisResult<i64> = redis::cmd("ZREM")
            .arg(&lease.key)
            .arg(&lease.id)
            .query_async(&mut conn)
            .await;
        if let Err(e) = result {
            tracing::warn!(error = %e, "could not release a provider slot; it expires on its own");
            return;
        }
        let Some(queue) = &self.queue else {
            return;
        };
        // The oldest waiter still delayed is woken; one that is not (it started,
        // or is still being put back) is passed over and finds the slot itself.
        for _ in 0..5 {
            let next: redis::RedisResult<Vec<String>> = redis::cmd("ZPOPMIN")
                .arg(waiters_key(&lease.key))
                .query_async(&mut conn)
                .await;
            let Some(waiter) = next.ok().and_then(|v| v.into_iter().next()) else {
                return;
            };
            if let Ok(Some(job)) = queue.get_job(&waiter).await
                && job.promote().await.is_ok()
            {
                tracing::debug!(queue.id = %waiter, "a released slot woke a waiting job");
                return;
            }
        }
    }
}
