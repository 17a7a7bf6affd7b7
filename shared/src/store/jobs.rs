//! Jobs: listing, cancel, retry and statistics.

use chrono::Utc;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder,
};
use uuid::Uuid;

use super::assembly;
use super::transitions::{self, ACTIVE, TransitionBy, cancel_where};
use super::{Page, PageRequest, StoreError, StoreResult, Viewer, begin_for};
use crate::db::entities::{job, story};
use crate::domain::ErrorCode;
use crate::domain::{Actor, JobKind, JobStatus, Priority, Provider, RetryPolicy, StoryStatus};
use crate::store::{NewJob, WorkOptions, enqueue_job};

/// List filters.
#[derive(Debug, Clone, Default)]
pub struct JobFilter {
    pub kind: Option<JobKind>,
    pub status: Option<JobStatus>,
    pub story: Option<Uuid>,
    pub provider: Option<Provider>,
}

pub async fn list(
    db: &DatabaseConnection,
    viewer: &Viewer,
    filter: JobFilter,
    page: PageRequest,
) -> StoreResult<Page<job::Model>> {
    let mut query = job::Entity::find();
    if !viewer.is_admin {
        query = query.filter(job::Column::OwnerId.eq(viewer.user_id.as_str()));
    }
    if let Some(kind) = filter.kind {
        query = query.filter(job::Column::Kind.eq(kind));
    }
    if let Some(status) = filter.status {
        query = query.filter(job::Column::Status.eq(status));
    }
    if let Some(story) = filter.story {
        query = query.filter(job::Column::StoryId.eq(story));
    }
    if let Some(provider) = filter.provider {
        query = query.filter(job::Column::Provider.eq(provider));
    }
    let query = query
        .order_by_desc(job::Column::CreatedAt)
        .order_by_desc(job::Column::Id);
    super::fetch_page(db, query, page).await
}

/// The job, if the viewer may see it (IsJobOwner).
pub async fn get<C: ConnectionTrait>(db: &C, viewer: &Viewer, id: Uuid) -> StoreResult<job::Model> {
    match job::Entity::find_by_id(id).one(db).await? {
        Some(j) if viewer.can_see(&j.owner_id) => Ok(j),
        _ => Err(StoreError::NotFound("job")),
    }
}

/// A cancelled job, and the BullMQ ids of every job the cancel stopped.
#[derive(Debug, Clone)]
pub struct Cancelled {
    pub job: job::Model,
    pub queue_ids: Vec<String>,
}

/// Cancels a job, with the rest of its flow: a preview or render is one unit, and
/// its assembly can never run once one of its scene jobs is gone. Cancelling the
/// planning job returns the story to draft.
pub async fn cancel(db: &DatabaseConnection, viewer: &Viewer, id: Uuid) -> StoreResult<Cancelled> {
    let txn = begin_for(db, &viewer.user_id).await?;
    let target = get(&txn, viewer, id).await?;
    if !target.status.is_active() {
        return Err(StoreError::conflict(
            ErrorCode::JobNotActive,
            format!(
                "the job is {}; only queued, running or retrying jobs can be cancelled",
                target.status
            ),
        ));
    }
    let root = target.parent_id.unwrap_or(target.id);
    let reason = format!("cancelled by {}", viewer.user_id);
    let flow = sea_orm::Condition::any()
        .add(job::Column::Id.eq(root))
        .add(job::Column::ParentId.eq(root));
    let queue_ids = cancel_where(&txn, flow, &reason).await?;
    if target.kind == JobKind::PlanStory {
        let story = transitions::get_for_update(&txn, viewer, target.story_id).await?;
        if story.status == StoryStatus::Planning {
            let by = TransitionBy {
                actor: Actor::Owner,
                name: &viewer.user_id,
                reason: &reason,
                job_id: Some(target.id),
            };
            transitions::apply_transition(&txn, &story, StoryStatus::Draft, by, Default::default())
                .await?;
        }
    }
    let job = get(&txn, viewer, id).await?;
    txn.commit().await?;
    Ok(Cancelled { job, queue_ids })
}

/// Runs a failed or cancelled job again, as a new job that records which one it
/// retries, and moves the story back into the phase the job belongs to along the
/// state machine's edges (a failed story: planning via draft, previewing or
/// rendering).
///
/// A preview or render is retried as a whole flow, whichever of its jobs is named:
/// the scenes that succeeded keep their clips, the others get new scene jobs, and
/// the assembly runs again once they are done. Naming a scene job answers that
/// scene's new job; naming the assembly answers the new assembly.
pub async fn retry(
    db: &DatabaseConnection,
    viewer: &Viewer,
    id: Uuid,
    retry: RetryPolicy,
    quotas: Option<crate::domain::QuotaLimits>,
) -> StoreResult<job::Model> {
    let txn = begin_for(db, &viewer.user_id).await?;
    let asked = get(&txn, viewer, id).await?;
    // The story is locked first, so two retries of the same job queue one run.
    let mut story = transitions::get_for_update(&txn, viewer, asked.story_id).await?;
    let asked = get(&txn, viewer, id).await?;
    if !matches!(asked.status, JobStatus::Failed | JobStatus::Cancelled) {
        return Err(StoreError::conflict(
            ErrorCode::JobNotRetryable,
            format!(
                "the job is {}; only failed or cancelled jobs can be retried",
                asked.status
            ),
        ));
    }
    let old = match asked.parent_id {
        Some(parent) => get(&txn, viewer, parent).await?,
        None => asked.clone(),
    };
    let active = job::Entity::find()
        .filter(job::Column::StoryId.eq(old.story_id))
        .filter(job::Column::Kind.eq(old.kind))
        .filter(job::Column::ParentId.is_null())
        .filter(job::Column::Status.is_in(ACTIVE))
        .filter(match old.scene_id {
            Some(scene) => job::Column::SceneId.eq(scene),
            None => job::Column::SceneId.is_null(),
        })
        .count(&txn)
        .await?;
    if active > 0 {
        return Err(StoreError::conflict(
            ErrorCode::JobInProgress,
            "the same work is already queued or running for this story",
        ));
    }
    if !matches!(old.status, JobStatus::Failed | JobStatus::Cancelled) {
        return Err(StoreError::conflict(
            ErrorCode::JobNotRetryable,
            format!(
                "the {} this scene job belongs to is {}; only an unfinished one can be retried",
                old.kind, old.status
            ),
        ));
    }
    let priority = Priority::new(i64::from(old.priority)).unwrap_or(Priority::DEFAULT);
    let reason = format!("retry of job {} by {}", asked.id, viewer.user_id);
    let by = |job_id| TransitionBy {
        actor: Actor::Owner,
        name: &viewer.user_id,
        reason: &reason,
        job_id,
    };
    let phase = match old.kind {
        JobKind::PlanStory => StoryStatus::Planning,
        JobKind::GeneratePreview => StoryStatus::Previewing,
        JobKind::RenderFinal => StoryStatus::Rendering,
        JobKind::GenerateScene => StoryStatus::Planned,
    };
    if old.kind == JobKind::PlanStory && story.status == StoryStatus::Failed {
        story = transitions::apply_transition(
            &txn,
            &story,
            StoryStatus::Draft,
            by(None),
            Default::default(),
        )
        .await?;
    }
    let moves_story = story.status != phase;
    if moves_story {
        transitions::check_owner_move(&story, phase)?;
    }
    let job = match old.kind {
        JobKind::PlanStory | JobKind::GenerateScene => {
            let new = NewJob {
                scene_id: old.scene_id,
                parameters: old.parameters.clone(),
                retry_of: Some(old.id),
                ..NewJob::new(story.id, &story.owner_id, old.kind, priority, retry)
            };
            enqueue_job(&txn, new).await?
        }
        JobKind::GeneratePreview | JobKind::RenderFinal => {
            let work = WorkOptions {
                priority: Some(priority),
                retry,
                quotas,
            };
            assembly::enqueue_assembly(&txn, &story, old.kind, work, Some(&old)).await?
        }
    };
    if moves_story {
        transitions::apply_transition(&txn, &story, phase, by(Some(job.id)), Default::default())
            .await?;
    }
    let answer = match asked.scene_id.filter(|_| asked.parent_id.is_some()) {
        Some(scene) => job::Entity::find()
            .filter(job::Column::ParentId.eq(job.id))
            .filter(job::Column::SceneId.eq(scene))
            .one(&txn)
            .await?
            .unwrap_or(job),
        None => job,
    };
    txn.commit().await?;
    Ok(answer)
}

/// An unfinished job whose row nothing touched for this long is stuck: every step
/// of a run (and every wait) writes to it well within this, the longest provider
/// deadline (15 min) included.
pub const STUCK_AFTER: std::time::Duration = std::time::Duration::from_secs(30 * 60);

pub(super) fn stuck_after() -> chrono::Duration {
    chrono::Duration::from_std(STUCK_AFTER).unwrap_or_default()
}

/// How many unfinished jobs are stuck, across every owner.
pub async fn stuck(db: &DatabaseConnection) -> StoreResult<u64> {
    Ok(job::Entity::find()
        .filter(job::Column::Status.is_in(ACTIVE))
        .filter(job::Column::UpdatedAt.lt(Utc::now() - stuck_after()))
        .count(db)
        .await?)
}

/// The story a job belongs to (used by handlers that answer with both).
pub async fn story_of<C: ConnectionTrait>(db: &C, job: &job::Model) -> StoreResult<story::Model> {
    story::Entity::find_by_id(job.story_id)
        .one(db)
        .await?
        .ok_or(StoreError::NotFound("story"))
}
