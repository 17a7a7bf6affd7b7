//! The transition engine: every status change of a story goes through here.
//!
//! A move is checked against the state machine for its actor and the story's facts,
//! applied only if nobody changed the story meanwhile, and logged as one transition
//! row in the caller's transaction, with the columns the new status drops. An owner's
//! move also queues the work it starts (planning, a preview or render flow) or
//! cancels the work it stops, in the same transaction. The modules above it
//! (`stories`, `jobs`, `deliveries`, `worker_writes`) call it; it calls only
//! `assembly` and `enqueue`.

use chrono::Utc;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect, Set};
use serde_json::json;
use uuid::Uuid;

use super::assembly::{enqueue_assembly, last_assembly};
use super::{StoreError, StoreResult, Viewer, events};
use crate::db::Money;
use crate::db::entities::{job, outbox, story, transition};
use crate::domain::{Actor, JobKind, JobStatus, StoryFacts, StoryStatus, check_transition};
use crate::domain::{ErrorCode, EventType};
use crate::store::{NewJob, WorkOptions, enqueue_job};

/// The actor name written to the transition log for worker transitions.
pub const WORKER_ACTOR: &str = "worker";

/// The story with its row locked until the transaction ends (Postgres; SQLite's
/// `BEGIN IMMEDIATE` already holds the write lock).
pub(crate) async fn get_for_update<C: ConnectionTrait>(
    db: &C,
    viewer: &Viewer,
    id: Uuid,
) -> StoreResult<story::Model> {
    match story::Entity::find_by_id(id)
        .lock_exclusive()
        .one(db)
        .await?
    {
        Some(s) if viewer.can_see(&s.owner_id) => Ok(s),
        _ => Err(StoreError::NotFound("story")),
    }
}

/// Columns a transition may set besides the status.
#[derive(Debug, Clone, Default)]
pub struct StoryChange {
    pub last_error: Option<Option<String>>,
    pub preview_key: Option<Option<String>>,
    pub final_key: Option<Option<String>>,
    pub estimated_cost: Option<Option<Money>>,
    pub cost_estimate: Option<Option<serde_json::Value>>,
}

impl StoryChange {
    /// This change, with `base` filling the columns it leaves alone.
    fn or(self, base: StoryChange) -> StoryChange {
        StoryChange {
            last_error: self.last_error.or(base.last_error),
            preview_key: self.preview_key.or(base.preview_key),
            final_key: self.final_key.or(base.final_key),
            estimated_cost: self.estimated_cost.or(base.estimated_cost),
            cost_estimate: self.cost_estimate.or(base.cost_estimate),
        }
    }
}

/// Who a transition is recorded as.
#[derive(Debug, Clone)]
pub struct TransitionBy<'a> {
    pub actor: Actor,
    /// The user id, or [`WORKER_ACTOR`].
    pub name: &'a str,
    pub reason: &'a str,
    pub job_id: Option<Uuid>,
}

/// Moves `current` to `to` if the table allows it for this actor and nobody changed
/// the story meanwhile, and writes the transition row. Runs inside the caller's
/// transaction.
pub async fn apply_transition<C: ConnectionTrait>(
    db: &C,
    current: &story::Model,
    to: StoryStatus,
    by: TransitionBy<'_>,
    change: StoryChange,
) -> StoreResult<story::Model> {
    check_transition(current.status, to, by.actor, current.facts())?;
    let change = change.or(entering(to));
    let now = Utc::now();
    let mut update = story::Entity::update_many()
        .col_expr(story::Column::Status, Expr::value(to))
        .col_expr(story::Column::Version, Expr::value(current.version + 1))
        .col_expr(story::Column::UpdatedAt, Expr::value(now));
    if let Some(v) = change.last_error {
        update = update.col_expr(story::Column::LastError, Expr::value(v));
    }
    if let Some(v) = change.preview_key {
        update = update.col_expr(story::Column::PreviewKey, Expr::value(v));
    }
    if let Some(v) = change.final_key {
        update = update.col_expr(story::Column::FinalKey, Expr::value(v));
    }
    if let Some(v) = change.estimated_cost {
        update = update.col_expr(story::Column::EstimatedCost, Expr::value(v));
    }
    if let Some(v) = change.cost_estimate {
        update = update.col_expr(story::Column::CostEstimate, Expr::value(v));
    }
    let updated = update
        .filter(story::Column::Id.eq(current.id))
        .filter(story::Column::Version.eq(current.version))
        .filter(story::Column::Status.eq(current.status))
        .exec_with_returning(db)
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| {
            StoreError::conflict(
                ErrorCode::VersionConflict,
                "the story changed while the transition was being applied; reload it and try again",
            )
        })?;
    let log = transition::ActiveModel {
        id: Set(Uuid::now_v7()),
        story_id: Set(current.id),
        from_status: Set(current.status),
        to_status: Set(to),
        actor: Set(by.name.to_owned()),
        reason: Set(by.reason.to_owned()),
        job_id: Set(by.job_id),
        created_at: Set(now),
    };
    transition::Entity::insert(log)
        .exec_without_returning(db)
        .await?;
    announce_transition(db, current, &updated, by.reason).await?;
    Ok(updated)
}

/// The events of a status change: `story.status_changed`, and `story.completed` or
/// `story.failed` when it ends there.
async fn announce_transition<C: ConnectionTrait>(
    db: &C,
    before: &story::Model,
    after: &story::Model,
    reason: &str,
) -> StoreResult<()> {
    let mut data = json!({
        "story_id": after.id,
        "title": after.title,
        "status": after.status,
        "previous_status": before.status,
        "reason": reason,
        "preview_ready": after.preview_key.is_some(),
        "final_ready": after.final_key.is_some(),
    });
    let owner = &after.owner_id;
    events::record(
        db,
        owner,
        Some(after.id),
        EventType::StoryStatusChanged,
        data.clone(),
    )
    .await?;
    let ending = match after.status {
        StoryStatus::Completed => EventType::StoryCompleted,
        StoryStatus::Failed => {
            data["error"] = json!(after.last_error);
            EventType::StoryFailed
        }
        _ => return Ok(()),
    };
    events::record(db, owner, Some(after.id), ending, data).await?;
    Ok(())
}

/// What an owner's transition did.
#[derive(Debug, Clone)]
pub struct TransitionOutcome {
    pub story: story::Model,
    /// The job it queued, if any (for previews and renders: the assembly job).
    pub job: Option<job::Model>,
    /// BullMQ ids of the jobs it cancelled.
    pub cancelled: Vec<String>,
}

/// An owner's move of `current` (locked by the caller), inside the caller's
/// transaction: queues the work the move starts and records the transition with
/// that job.
pub(crate) async fn transition_in<C: ConnectionTrait>(
    txn: &C,
    current: &story::Model,
    to: StoryStatus,
    by: TransitionBy<'_>,
    work: WorkOptions,
) -> StoreResult<TransitionOutcome> {
    check_owner_move(current, to)?;
    let mut cancelled = Vec::new();
    let job = match (current.status, to) {
        (StoryStatus::Planning, StoryStatus::Draft) => {
            cancelled =
                cancel_story_jobs(txn, current.id, "planning cancelled by the owner").await?;
            None
        }
        (_, StoryStatus::Planning) => {
            let kind = JobKind::PlanStory;
            let new = NewJob::new(
                current.id,
                &current.owner_id,
                kind,
                work.priority.unwrap_or(kind.default_priority()),
                work.retry,
            );
            Some(enqueue_job(txn, new).await?)
        }
        (from, StoryStatus::Previewing | StoryStatus::Rendering) => {
            let kind = match to {
                StoryStatus::Rendering => JobKind::RenderFinal,
                _ => JobKind::GeneratePreview,
            };
            // From failed, the last failed attempt is retried: what it finished is kept.
            let again = match from {
                StoryStatus::Failed => last_assembly(txn, current.id, kind).await?,
                _ => None,
            };
            Some(enqueue_assembly(txn, current, kind, work, again.as_ref()).await?)
        }
        _ => None,
    };
    let by = TransitionBy {
        job_id: job.as_ref().map(|j| j.id),
        ..by
    };
    let story = apply_transition(txn, current, to, by, StoryChange::default()).await?;
    Ok(TransitionOutcome {
        story,
        job,
        cancelled,
    })
}

/// Refuses a move the owner may not make; a render asked for before the preview is
/// ready is told so (`preview_not_ready`) rather than listed as illegal.
pub(crate) fn check_owner_move(current: &story::Model, to: StoryStatus) -> StoreResult<()> {
    let facts = current.facts();
    if let Err(err) = check_transition(current.status, to, Actor::Owner, facts) {
        let ready = StoryFacts {
            preview_ready: true,
            ..facts
        };
        if to == StoryStatus::Rendering
            && check_transition(current.status, to, Actor::Owner, ready).is_ok()
        {
            return Err(StoreError::conflict(
                ErrorCode::PreviewNotReady,
                "the preview is not ready yet; render_final is possible once it is",
            ));
        }
        return Err(err.into());
    }
    Ok(())
}

/// The columns a story drops when it enters `to` (every transition applies them):
/// returning to draft starts over (its error and old media go), and planning again
/// replaces the old estimate.
fn entering(to: StoryStatus) -> StoryChange {
    match to {
        StoryStatus::Draft => StoryChange {
            last_error: Some(None),
            preview_key: Some(None),
            final_key: Some(None),
            ..Default::default()
        },
        StoryStatus::Planning => StoryChange {
            estimated_cost: Some(None),
            cost_estimate: Some(None),
            ..Default::default()
        },
        _ => StoryChange::default(),
    }
}

pub(crate) const ACTIVE: [JobStatus; 3] =
    [JobStatus::Queued, JobStatus::Running, JobStatus::Retrying];

/// Marks jobs cancelled and withdraws the ones the relay has not pushed yet;
/// returns their BullMQ ids, for telling workers that may be running them.
pub(crate) async fn cancel_where<C: ConnectionTrait>(
    db: &C,
    condition: sea_orm::Condition,
    reason: &str,
) -> StoreResult<Vec<String>> {
    let rows: Vec<(Uuid, String)> = job::Entity::find()
        .select_only()
        .column(job::Column::Id)
        .column(job::Column::QueueId)
        .filter(condition)
        .filter(job::Column::Status.is_in(ACTIVE))
        .into_tuple()
        .all(db)
        .await?;
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let (ids, queue_ids): (Vec<Uuid>, Vec<String>) = rows.into_iter().unzip();
    let now = Utc::now();
    job::Entity::update_many()
        .col_expr(job::Column::Status, Expr::value(JobStatus::Cancelled))
        .col_expr(job::Column::LastError, Expr::value(reason))
        .col_expr(job::Column::FinishedAt, Expr::value(now))
        .col_expr(job::Column::UpdatedAt, Expr::value(now))
        .filter(job::Column::Id.is_in(ids.clone()))
        .filter(job::Column::Status.is_in(ACTIVE))
        .exec(db)
        .await?;
    outbox::Entity::delete_many()
        .filter(outbox::Column::JobId.is_in(ids))
        .exec(db)
        .await?;
    Ok(queue_ids)
}

/// Cancels every unfinished job of a story; returns their BullMQ ids.
pub async fn cancel_story_jobs<C: ConnectionTrait>(
    db: &C,
    story_id: Uuid,
    reason: &str,
) -> StoreResult<Vec<String>> {
    cancel_where(db, job::Column::StoryId.eq(story_id).into(), reason).await
}
