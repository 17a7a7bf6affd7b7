//! Writing jobs: the Job row and, for what must reach Redis, its outbox row, inside
//! the caller's transaction. The relay in [`crate::outbox`] does the rest.

use chrono::Utc;
use sea_orm::{ActiveModelTrait, ConnectionTrait, DbErr, EntityTrait, Set};
use uuid::Uuid;

use crate::db::entities::{job, outbox};
use crate::domain::{JobKind, JobStatus, Priority, RetryPolicy};
use crate::envelope::queue_job_id;

/// A job to write.
#[derive(Debug, Clone)]
pub struct NewJob {
    pub story_id: Uuid,
    pub scene_id: Option<Uuid>,
    pub owner_id: String,
    pub kind: JobKind,
    pub priority: Priority,
    pub parameters: serde_json::Value,
    pub retry_of: Option<Uuid>,
    pub retry: RetryPolicy,
}

/// What a request that asks for work may choose.
#[derive(Debug, Clone, Copy, Default)]
pub struct WorkOptions {
    /// Default: the kind's priority.
    pub priority: Option<Priority>,
    pub retry: RetryPolicy,
    /// The deployment's default budget and quotas, checked before a preview or
    /// render is queued; `None` where no user asks (the worker's own re-queues).
    pub quotas: Option<crate::domain::QuotaLimits>,
}

impl NewJob {
    pub fn new(
        story_id: Uuid,
        owner_id: &str,
        kind: JobKind,
        priority: Priority,
        retry: RetryPolicy,
    ) -> Self {
        Self {
            story_id,
            scene_id: None,
            owner_id: owner_id.to_owned(),
            kind,
            priority,
            parameters: serde_json::json!({}),
            retry_of: None,
            retry,
        }
    }
}

async fn insert_job<C: ConnectionTrait>(
    db: &C,
    new: NewJob,
    parent_id: Option<Uuid>,
) -> Result<job::Model, DbErr> {
    let id = Uuid::now_v7();
    let queue_id = queue_job_id(new.story_id, id);
    insert_row(db, new, parent_id, id, queue_id).await
}

async fn insert_row<C: ConnectionTrait>(
    db: &C,
    new: NewJob,
    parent_id: Option<Uuid>,
    id: Uuid,
    queue_id: String,
) -> Result<job::Model, DbErr> {
    let now = Utc::now();
    job::ActiveModel {
        id: Set(id),
        story_id: Set(new.story_id),
        scene_id: Set(new.scene_id),
        parent_id: Set(parent_id),
        retry_of: Set(new.retry_of),
        owner_id: Set(new.owner_id),
        kind: Set(new.kind),
        status: Set(JobStatus::Queued),
        priority: Set(new.priority.get() as i32),
        attempt: Set(0),
        max_attempts: Set(new.retry.attempts.max(1) as i32),
        backoff_ms: Set(new.retry.backoff_ms as i64),
        parameters: Set(new.parameters),
        last_error: Set(None),
        result: Set(None),
        provider: Set(None),
        cost: Set(None),
        queue_id: Set(queue_id),
        queued_at: Set(now),
        started_at: Set(None),
        finished_at: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        progress: Set(None),
        run_id: Set(None),
        heartbeat_at: Set(None),
    }
    .insert(db)
    .await
}

async fn insert_outbox<C: ConnectionTrait>(db: &C, job_id: Uuid) -> Result<(), DbErr> {
    let row = outbox::ActiveModel {
        job_id: Set(job_id),
        created_at: Set(Utc::now()),
    };
    outbox::Entity::insert(row)
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// Writes the row of a job that another BullMQ producer already put in Redis, under
/// that job's id; nothing goes to the outbox.
pub async fn record_delivered_job<C: ConnectionTrait>(
    db: &C,
    new: NewJob,
    id: Uuid,
    queue_id: &str,
) -> Result<job::Model, DbErr> {
    insert_row(db, new, None, id, queue_id.to_owned()).await
}

/// Writes one job and asks the relay to push it.
pub async fn enqueue_job<C: ConnectionTrait>(db: &C, new: NewJob) -> Result<job::Model, DbErr> {
    let job = insert_job(db, new, None).await?;
    insert_outbox(db, job.id).await?;
    Ok(job)
}

/// Writes a parent job and its children, and asks the relay to push them as one
/// BullMQ flow: the children run first, in parallel; the parent runs once, when the
/// last child has succeeded.
pub async fn enqueue_flow<C: ConnectionTrait>(
    db: &C,
    parent: NewJob,
    children: Vec<NewJob>,
) -> Result<(job::Model, Vec<job::Model>), DbErr> {
    let parent = insert_job(db, parent, None).await?;
    let mut rows = Vec::with_capacity(children.len());
    for child in children {
        rows.push(insert_job(db, child, Some(parent.id)).await?);
    }
    insert_outbox(db, parent.id).await?;
    Ok((parent, rows))
}
