//! The first step of every delivery: find the delivered job's row and decide what
//! the delivery does (the table is in `ai_video_shared::store::deliveries`).
//! Whatever it decides is also written to the job's log in Redis, so that a BullMQ
//! tool shows why a job ran, answered at once, or was refused.

use std::time::Duration;

use ai_video_shared::db::entities::job;
use ai_video_shared::domain::{JobKind, JobStatus, Priority, RetryPolicy};
use ai_video_shared::envelope::QueuedData;
use ai_video_shared::store::StoreError;
use ai_video_shared::store::deliveries::{self, Adopted, Delivered};
use ai_video_shared::store::runs::{self, Begin};
use bullmq::types::BackoffStrategy;
use sea_orm::EntityTrait;
use serde_json::{Value, json};
use uuid::Uuid;

use super::{JobError, WorkerState};
use crate::bridge::Delivery;

/// What a delivery does.
pub enum Start {
    /// Runs the work of this row, which is marked running under a new run.
    Run(Box<job::Model>),
    /// Another live run owns the job: the delivery is put back for this long,
    /// without using an attempt.
    Wait(String, Duration),
    /// Answers BullMQ with this value at once; nothing runs.
    Answer(Value),
    /// Fails the BullMQ job for good with this reason; nothing runs.
    Refuse(String),
    /// Another job runs the work: the BullMQ job ends as failed with this reason,
    /// for a flow's assembly job, which BullMQ never completes once a child failed.
    Handed(String),
}

pub async fn start(
    state: &WorkerState,
    delivery: &Delivery,
    data: &QueuedData,
) -> Result<Start, JobError> {
    let db = &state.db;
    let kind = match data.kind(delivery.job.name()) {
        Ok(kind) => kind,
        Err(reason) => return Ok(Start::Refuse(reason)),
    };
    let queue_id = delivery.job.id();
    let Some(mut row) = deliveries::row_for(db, data.job_id, queue_id).await? else {
        return adopt(state, delivery, data, kind).await;
    };
    if let Some(reason) = deliveries::mismatch(&row, data, kind) {
        return Ok(Start::Refuse(reason));
    }
    if row.status.is_active() {
        match runs::begin(db, row.id, Uuid::new_v4(), state.lock_duration).await? {
            Begin::Started(running) => return Ok(Start::Run(running)),
            Begin::Busy => {
                return Ok(Start::Wait(
                    "another run of this job is alive; nothing runs beside it".into(),
                    state.lock_duration / 2,
                ));
            }
            Begin::Inactive => {}
        }
        // It finished or was cancelled since it was read.
        row = job::Entity::find_by_id(row.id)
            .one(db)
            .await?
            .ok_or_else(|| JobError::Retryable(format!("job {} vanished", row.id)))?;
    }
    Ok(match row.status {
        JobStatus::Succeeded => {
            delivery
                .log("already succeeded; answering with its recorded result, nothing is redone")
                .await;
            Start::Answer(row.result.clone().unwrap_or_else(|| json!({})))
        }
        JobStatus::Failed => match deliveries::retry_failed(db, &row).await {
            Ok(again) => {
                let line = format!(
                    "retry asked through the queue: retried as job {} (BullMQ id {}), which runs the work again",
                    again.id, again.queue_id
                );
                delivery.log(&line).await;
                match row.kind {
                    JobKind::GeneratePreview | JobKind::RenderFinal => Start::Handed(line),
                    _ => Start::Answer(answer("retried_as", &again)),
                }
            }
            Err(StoreError::Db(e)) => return Err(e.into()),
            Err(e) => Start::Refuse(format!("the failed job cannot be retried: {e}")),
        },
        JobStatus::Cancelled => Start::Refuse(format!(
            "the job was cancelled ({}); retry it with POST /api/ai-video/jobs/{}/retry/",
            row.last_error.as_deref().unwrap_or("cancelled"),
            row.id
        )),
        active => Start::Refuse(format!("the job is {active} but could not be started")),
    })
}

/// A job from another producer: recorded as the owner's request, or refused.
async fn adopt(
    state: &WorkerState,
    delivery: &Delivery,
    data: &QueuedData,
    kind: JobKind,
) -> Result<Start, JobError> {
    let opts = delivery.job.opts();
    let backoff_ms = match opts.backoff {
        Some(BackoffStrategy::Exponential(ms) | BackoffStrategy::Fixed(ms)) => ms,
        _ => JobKind::DEFAULT_BACKOFF_MS,
    };
    let delivered = Delivered {
        queue_id: delivery.job.id(),
        priority: match delivery.job.priority() {
            0 => kind.default_priority(),
            p => Priority::new(i64::from(p).min(10)).unwrap_or(Priority::LOWEST),
        },
        retry: RetryPolicy {
            attempts: delivery.max_attempts(),
            backoff_ms,
        },
    };
    match deliveries::adopt(&state.db, data, kind, delivered).await {
        Ok(Adopted::Run(row)) => {
            delivery
                .log(&format!(
                    "recorded as job {} (queued by another producer)",
                    row.id
                ))
                .await;
            match runs::begin(&state.db, row.id, Uuid::new_v4(), state.lock_duration).await? {
                Begin::Started(running) => Ok(Start::Run(running)),
                Begin::Busy | Begin::Inactive => Ok(Start::Refuse(
                    "the job was cancelled before it started".into(),
                )),
            }
        }
        Ok(Adopted::Queued(parent)) => {
            delivery
                .log(&format!(
                    "{kind} queued as a flow: its assembly job is {} (BullMQ id {})",
                    parent.id, parent.queue_id
                ))
                .await;
            Ok(Start::Answer(answer("queued_as", &parent)))
        }
        Err(StoreError::Db(e)) => Err(e.into()),
        Err(e) => Ok(Start::Refuse(format!("the job cannot be accepted: {e}"))),
    }
}

/// The seed's worker response for a delivery that handed its work to another job.
fn answer(relation: &str, job: &job::Model) -> Value {
    let mut result = json!({"preview_url": null, "metadata": {}, "generation_time": 0.0});
    result[relation] = json!({"job_id": job.id, "queue_id": job.queue_id});
    json!({"success": true, "result": result, "error": null})
}
