//! What a delivered BullMQ job means to the database, whoever put it on the queue.
//!
//! The database is the truth, so every delivery is matched to its Job row first:
//!
//! | the row | the delivery |
//! | --- | --- |
//! | active (queued, running, retrying) | runs ([`super::worker_writes::begin`]) |
//! | succeeded | answers the recorded result again; nothing is bought twice |
//! | failed | is a retry asked through a BullMQ tool: the same as `POST jobs/{id}/retry/` |
//! | cancelled | is refused, with the cancel's reason |
//! | missing | comes from another producer: [`adopt`] records it as the API would |
//!
//! A job from another producer (the documented envelope with a `job_id` the
//! database does not know, or the seed's shape without one) is checked as the
//! API checks a request of the story's owner: the story must exist and the move it
//! asks for must be legal. Planning and single scenes get a Job row under the
//! delivered job's id and run in that delivery; a preview or render is a flow of one
//! scene job per scene, so the delivery queues that flow through the outbox, as
//! `generate_preview`/`render_final` do, and answers with its assembly job.

use sea_orm::{ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter};
use uuid::Uuid;

use super::transitions::{self, TransitionBy};
use super::{StoreError, StoreResult, begin_write, jobs, scenes};
use crate::db::entities::{job, scene, story};
use crate::domain::{Actor, JobKind, JobParameters, Priority, RetryPolicy, StoryStatus};
use crate::envelope::QueuedData;
use crate::store::{NewJob, Viewer, WorkOptions, enqueue::record_delivered_job};

/// The row a delivered job runs: by `job_id` when its data names one, else by its
/// BullMQ id.
pub async fn row_for<C: ConnectionTrait>(
    db: &C,
    job_id: Option<Uuid>,
    queue_id: &str,
) -> StoreResult<Option<job::Model>> {
    let query = match job_id {
        Some(id) => job::Entity::find_by_id(id),
        None => job::Entity::find().filter(job::Column::QueueId.eq(queue_id)),
    };
    Ok(query.one(db).await?)
}

/// Whether a row belongs to the delivered job: same story and kind. `None` when it
/// does, else why not.
pub fn mismatch(row: &job::Model, data: &QueuedData, kind: JobKind) -> Option<String> {
    if row.story_id != data.story_id || row.kind != kind {
        return Some(format!(
            "job {} is a {} of story {}, but the queued data says {} of story {}",
            row.id, row.kind, row.story_id, kind, data.story_id
        ));
    }
    None
}

/// How the delivered job asks to be run (its BullMQ options).
#[derive(Debug, Clone, Copy)]
pub struct Delivered<'a> {
    pub queue_id: &'a str,
    pub priority: Priority,
    pub retry: RetryPolicy,
}

/// What adopting a job from another producer did.
#[derive(Debug, Clone)]
pub enum Adopted {
    /// Its row is written; this delivery runs it.
    Run(job::Model),
    /// It asked for a preview or render: the flow is queued, with this assembly job.
    Queued(job::Model),
}

/// Records a job that another producer queued, as the API records a request of the
/// story's owner, or refuses it with the reason.
pub async fn adopt(
    db: &DatabaseConnection,
    data: &QueuedData,
    kind: JobKind,
    delivered: Delivered<'_>,
) -> StoreResult<Adopted> {
    let txn = begin_write(db).await?;
    let story = story::Entity::find_by_id(data.story_id)
        .one(&txn)
        .await?
        .ok_or_else(|| {
            StoreError::invalid("data.story_id", format!("no story {}", data.story_id))
        })?;
    super::events::lock_owner(&txn, &story.owner_id).await?;
    let owner = Viewer {
        user_id: story.owner_id.clone(),
        is_admin: false,
    };
    let mut story = transitions::get_for_update(&txn, &owner, story.id).await?;
    let reason = format!("queued through BullMQ as job {}", delivered.queue_id);
    let owner_id = story.owner_id.clone();
    let by = |job_id| TransitionBy {
        actor: Actor::Owner,
        name: &owner_id,
        reason: &reason,
        job_id,
    };
    let parameters = JobParameters::parse(&data.parameters())
        .map_err(|e| StoreError::invalid("data.parameters", e.0))?;
    let new = |scene_id| NewJob {
        scene_id,
        parameters: parameters.to_json(),
        ..NewJob::new(
            data.story_id,
            &owner_id,
            kind,
            delivered.priority,
            delivered.retry,
        )
    };
    let id = data.job_id.unwrap_or_else(Uuid::now_v7);
    let adopted = match kind {
        JobKind::PlanStory => {
            if story.status == StoryStatus::Failed {
                let by = by(None);
                story = transitions::apply_transition(
                    &txn,
                    &story,
                    StoryStatus::Draft,
                    by,
                    Default::default(),
                )
                .await?;
            }
            transitions::check_owner_move(&story, StoryStatus::Planning)?;
            let row = record_delivered_job(&txn, new(None), id, delivered.queue_id).await?;
            transitions::apply_transition(
                &txn,
                &story,
                StoryStatus::Planning,
                by(Some(row.id)),
                Default::default(),
            )
            .await?;
            Adopted::Run(row)
        }
        JobKind::GenerateScene => {
            let scene_id = data.scene_id.ok_or_else(|| {
                StoreError::invalid("data.scene_id", "generate_scene needs the scene's id")
            })?;
            scene::Entity::find_by_id(scene_id)
                .filter(scene::Column::StoryId.eq(story.id))
                .one(&txn)
                .await?
                .ok_or_else(|| {
                    StoreError::invalid(
                        "data.scene_id",
                        format!("story {} has no scene {scene_id}", story.id),
                    )
                })?;
            scenes::check_can_generate(&txn, &story, scene_id).await?;
            let row =
                record_delivered_job(&txn, new(Some(scene_id)), id, delivered.queue_id).await?;
            Adopted::Run(row)
        }
        JobKind::GeneratePreview | JobKind::RenderFinal => {
            // A job from another producer was accepted by that producer; no user
            // asks here, so budgets and quotas are not checked.
            let work = WorkOptions {
                priority: Some(delivered.priority),
                retry: delivered.retry,
                quotas: None,
            };
            let to = match kind {
                JobKind::RenderFinal => StoryStatus::Rendering,
                _ => StoryStatus::Previewing,
            };
            let outcome = transitions::transition_in(&txn, &story, to, by(None), work).await?;
            Adopted::Queued(outcome.job.ok_or(StoreError::NotFound("job"))?)
        }
    };
    txn.commit().await?;
    Ok(adopted)
}

/// A retry asked through a BullMQ tool (its job was failed, and is delivered
/// again): the same as the owner's `POST jobs/{id}/retry/`, with the row's own
/// attempts and backoff. Answers the job that runs the work again.
pub async fn retry_failed(db: &DatabaseConnection, row: &job::Model) -> StoreResult<job::Model> {
    let owner = Viewer {
        user_id: row.owner_id.clone(),
        is_admin: false,
    };
    let policy = RetryPolicy {
        attempts: row.max_attempts.max(1) as u32,
        backoff_ms: row.backoff_ms.max(0) as u64,
    };
    jobs::retry(db, &owner, row.id, policy, None).await
}
