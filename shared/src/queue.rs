//! The Redis side of the queue: BullMQ jobs and flows built from Job rows.
//!
//! Every Job row maps to one BullMQ job whose id is [`queue_job_id`], whose name is
//! the kind's seed name and whose options carry the row's priority, attempts and
//! exponential backoff. Completed jobs stay in Redis for a day (and at most 10,000),
//! failed ones for a week, so BullMQ tools can show recent history.

use bullmq::types::{BackoffStrategy, KeepJobs, RemoveOnFinish};
use bullmq::{FlowJob, FlowProducer, JobOptions, Queue, QueueOptions};

use crate::config::{QueueConfig, RedisConfig};
use crate::db::entities::job;
use crate::domain::Priority;
use crate::envelope::{Backoff, JobData, JobEnvelope, JobOpts};

/// Log lines kept per job in Redis.
const KEEP_LOGS: u32 = 50;

/// BullMQ's `KeepJobs.age` is in seconds.
const DAY_SECS: u64 = 24 * 60 * 60;

/// The envelope of a Job row.
pub fn envelope(job: &job::Model) -> JobEnvelope {
    JobEnvelope {
        id: job.queue_id.clone(),
        name: job.kind.queue_name().to_owned(),
        data: JobData {
            story_id: job.story_id,
            scene_id: job.scene_id,
            job_id: job.id,
            action: job.kind,
            parameters: job.parameters.clone(),
        },
        opts: JobOpts {
            priority: Priority::new(i64::from(job.priority)).unwrap_or(Priority::DEFAULT),
            attempts: job.max_attempts.max(1) as u32,
            backoff: Backoff::Exponential {
                delay: job.backoff_ms.max(0) as u64,
            },
        },
    }
}

/// BullMQ options for an envelope.
pub fn job_options(env: &JobEnvelope) -> JobOptions {
    let backoff = match env.opts.backoff {
        Backoff::Exponential { delay } => BackoffStrategy::Exponential(delay),
        Backoff::Fixed { delay } => BackoffStrategy::Fixed(delay),
    };
    JobOptions {
        priority: Some(env.opts.priority.get()),
        attempts: Some(env.opts.attempts),
        backoff: Some(backoff),
        job_id: Some(env.id.clone()),
        // The worker logs each step on the job; BullMQ tools show the last ones.
        keep_logs: Some(KEEP_LOGS),
        remove_on_complete: Some(RemoveOnFinish::Options(KeepJobs {
            age: Some(DAY_SECS),
            count: Some(10_000),
            limit: None,
        })),
        remove_on_fail: Some(RemoveOnFinish::Options(KeepJobs {
            age: Some(7 * DAY_SECS),
            count: Some(50_000),
            limit: None,
        })),
        ..JobOptions::default()
    }
}

/// A connection to the queue, for producing jobs.
#[derive(Clone)]
pub struct QueueClient {
    queue: Queue,
    flows: FlowProducer,
}

impl QueueClient {
    pub async fn connect(redis: &RedisConfig, config: &QueueConfig) -> Result<Self, bullmq::Error> {
        let conn =
            bullmq::redis_connection::RedisConnection::new_managed_only(&redis.bullmq_options())
                .await?;
        let queue = Queue::with_connection(
            &config.name,
            conn.clone(),
            QueueOptions::new().prefix(config.prefix.clone()),
        )
        .await?;
        let flows = FlowProducer::with_connection(conn, Some(config.prefix.clone()))?;
        Ok(Self { queue, flows })
    }

    pub fn queue(&self) -> &Queue {
        &self.queue
    }

    /// Adds one job. Adding an id that exists already changes nothing.
    pub async fn add(&self, env: &JobEnvelope) -> Result<(), bullmq::Error> {
        self.queue
            .add(&env.name, &env.data)
            .options(job_options(env))
            .await?;
        Ok(())
    }

    /// Adds a parent and its children atomically; the parent waits for all of them.
    /// A child that fails for good fails the parent, so a preview or render never
    /// assembles from a missing scene.
    pub async fn add_flow(
        &self,
        parent: &JobEnvelope,
        children: &[JobEnvelope],
    ) -> Result<(), bullmq::Error> {
        let queue_name = self.queue.name().to_owned();
        let mut flow =
            FlowJob::new(&parent.name, &queue_name, &parent.data)?.options(job_options(parent));
        for child in children {
            let mut opts = job_options(child);
            opts.fail_parent_on_failure = Some(true);
            flow =
                flow.add_child(FlowJob::new(&child.name, &queue_name, &child.data)?.options(opts));
        }
        self.flows.add(flow).await?;
        Ok(())
    }

    /// Answers whether Redis is reachable.
    pub async fn ping(&self) -> Result<(), bullmq::Error> {
        self.queue.connection().ping().await
    }
}

/// `bull:<queue>:<id>`-style key of a job hash, for tools and tests.
pub fn job_key(config: &QueueConfig, id: &str) -> String {
    format!("{}:{}:{}", config.prefix, config.name, id)
}

/// Ids of the data passed to BullMQ, for reading a job back.
pub fn parse_data(value: &serde_json::Value) -> Option<JobData> {
    serde_json::from_value(value.clone()).ok()
}

/// The Redis channel on which the API announces cancelled jobs (their BullMQ ids),
/// so the worker running one can stop it at once.
pub fn cancel_channel(config: &QueueConfig) -> String {
    format!("{}:{}:cancel", config.prefix, config.name)
}

/// The queue's depth by BullMQ state (`waiting`, `prioritized`, `delayed`, `active`,
/// `waiting-children`), read in one round trip from the keys BullMQ keeps.
pub async fn depth<C: redis::aio::ConnectionLike>(
    conn: &mut C,
    config: &QueueConfig,
) -> redis::RedisResult<Vec<(&'static str, u64)>> {
    const STATES: [(&str, &str, bool); 5] = [
        ("waiting", "wait", true),
        ("prioritized", "prioritized", false),
        ("delayed", "delayed", false),
        ("active", "active", true),
        ("waiting-children", "waiting-children", false),
    ];
    let mut pipe = redis::pipe();
    for (_, key, list) in STATES {
        let key = format!("{}:{}:{key}", config.prefix, config.name);
        if list {
            pipe.llen(key);
        } else {
            pipe.zcard(key);
        }
    }
    let counts: Vec<u64> = pipe.query_async(conn).await?;
    Ok(STATES.iter().map(|s| s.0).zip(counts).collect())
}
