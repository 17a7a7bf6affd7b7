//! What a worker writes while it runs a job: the start of a run, and its outcome,
//! each in one transaction with the story's transition and the scene's media.
//!
//! A run only starts on a job row that is still active ([`super::runs::begin`]), so a
//! cancelled or finished job never runs again, and a job finished by a worker that
//! died before telling Redis is not redone. Outcomes are written only while the row
//! is `running` under the run that writes them: a cancel that lands mid-run wins, and
//! a run that lost its job to a re-delivery writes nothing.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
};
use serde_json::{Value, json};
use uuid::Uuid;

use super::runs::owned_by;
use super::transitions::{self, StoryChange, TransitionBy, WORKER_ACTOR};
use super::{StoreError, StoreResult, begin_for, events};
use crate::db::Money;
use crate::db::entities::{job, scene, story};
use crate::domain::{
    Actor, JobKind, JobParameters, JobStatus, Provider, RenderQuality, SceneStatus, StoryStatus,
};
use crate::domain::{ErrorCode, EventType};

const ACTIVE: [JobStatus; 3] = [JobStatus::Queued, JobStatus::Running, JobStatus::Retrying];

/// The seed's worker response: `{success, result: {preview_url, metadata,
/// generation_time}, error}`.
pub fn response(
    preview_url: Option<&str>,
    metadata: Value,
    generation_time: f64,
    error: Option<&str>,
) -> Value {
    json!({
        "success": error.is_none(),
        "result": {
            "preview_url": preview_url,
            "metadata": metadata,
            "generation_time": generation_time,
        },
        "error": error,
    })
}

/// Flips a running job to succeeded; `false` when it was cancelled meanwhile. A
/// `cost` of `None` keeps what the job's steps added up.
async fn mark_succeeded<C: ConnectionTrait>(
    db: &C,
    job: &job::Model,
    result: &Value,
    provider: Option<Provider>,
    cost: Option<Money>,
) -> StoreResult<bool> {
    let now = Utc::now();
    let mut update = job::Entity::update_many();
    if let Some(cost) = cost {
        update = update.col_expr(job::Column::Cost, Expr::value(cost));
    }
    let updated = update
        .col_expr(job::Column::Status, Expr::value(JobStatus::Succeeded))
        .col_expr(job::Column::Result, Expr::value(result.clone()))
        .col_expr(job::Column::Provider, Expr::value(provider))
        .col_expr(job::Column::LastError, Expr::value(Option::<String>::None))
        .col_expr(job::Column::Progress, Expr::value(1.0))
        .col_expr(job::Column::FinishedAt, Expr::value(now))
        .col_expr(job::Column::UpdatedAt, Expr::value(now))
        .filter(owned_by(job))
        .exec(db)
        .await?;
    Ok(updated.rows_affected == 1)
}

/// Outcome of writing a success.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    Done,
    /// The job was cancelled while it ran; nothing was written.
    Cancelled,
}

fn worker_by<'a>(reason: &'a str, job_id: Uuid) -> TransitionBy<'a> {
    TransitionBy {
        actor: Actor::Worker,
        name: WORKER_ACTOR,
        reason,
        job_id: Some(job_id),
    }
}

/// Planning finished: the scenes (when planning made them) are inserted, the
/// estimate stored, and the story moves planning → planned.
pub async fn finish_plan(
    db: &DatabaseConnection,
    job: &job::Model,
    (new_scenes, bible): (Vec<scene::ActiveModel>, Option<Value>),
    estimate: crate::domain::CostEstimate,
    result: Value,
) -> StoreResult<Written> {
    let txn = begin_for(db, &job.owner_id).await?;
    if !mark_succeeded(&txn, job, &result, None, None).await? {
        return Ok(Written::Cancelled);
    }
    if !new_scenes.is_empty() {
        scene::Entity::insert_many(new_scenes).exec(&txn).await?;
    }
    if let Some(bible) = bible {
        story::Entity::update_many()
            .col_expr(story::Column::Bible, Expr::value(bible))
            .filter(story::Column::Id.eq(job.story_id))
            .exec(&txn)
            .await?;
    }
    let current = load_story(&txn, job.story_id).await?;
    let change = StoryChange {
        estimated_cost: Some(Some(Money::new(estimate.total))),
        cost_estimate: Some(Some(serde_json::to_value(estimate).unwrap_or(Value::Null))),
        ..Default::default()
    };
    let reason = "planning finished";
    transitions::apply_transition(
        &txn,
        &current,
        StoryStatus::Planned,
        worker_by(reason, job.id),
        change,
    )
    .await?;
    txn.commit().await?;
    Ok(Written::Done)
}

/// What one scene run produced.
#[derive(Debug, Clone)]
pub struct SceneOutput {
    pub image_key: String,
    pub clip_key: String,
    pub provider: Provider,
    pub generation_time_ms: i64,
    pub cost: Decimal,
}

/// A scene's keyframe and clip are stored: the scene is completed, with what its
/// steps cost (already added to the job's and the story's as each was bought).
pub async fn finish_scene(
    db: &DatabaseConnection,
    job: &job::Model,
    out: &SceneOutput,
    result: Value,
) -> StoreResult<Written> {
    let scene_id = job.scene_id.ok_or(StoreError::NotFound("scene"))?;
    let txn = begin_for(db, &job.owner_id).await?;
    let cost = Money::new(out.cost);
    if !mark_succeeded(&txn, job, &result, Some(out.provider), None).await? {
        return Ok(Written::Cancelled);
    }
    let now = Utc::now();
    scene::Entity::update_many()
        .col_expr(scene::Column::Status, Expr::value(SceneStatus::Completed))
        .col_expr(scene::Column::ImageKey, Expr::value(out.image_key.clone()))
        .col_expr(scene::Column::ClipKey, Expr::value(out.clip_key.clone()))
        .col_expr(scene::Column::Provider, Expr::value(out.provider))
        .col_expr(
            scene::Column::GenerationTimeMs,
            Expr::value(out.generation_time_ms),
        )
        .col_expr(scene::Column::Cost, Expr::value(cost))
        .col_expr(scene::Column::Error, Expr::value(Option::<String>::None))
        .col_expr(scene::Column::UpdatedAt, Expr::value(now))
        .filter(scene::Column::Id.eq(scene_id))
        .exec(&txn)
        .await?;
    let position = scene::Entity::find_by_id(scene_id)
        .one(&txn)
        .await?
        .map(|s| s.position);
    events::record(
        &txn,
        &job.owner_id,
        Some(job.story_id),
        EventType::SceneGenerated,
        json!({
            "story_id": job.story_id,
            "scene_id": scene_id,
            "job_id": job.id,
            "position": position,
            "provider": out.provider,
        }),
    )
    .await?;
    txn.commit().await?;
    Ok(Written::Done)
}

/// A scene started generating.
pub async fn scene_started(db: &DatabaseConnection, scene_id: Uuid) -> StoreResult<()> {
    scene::Entity::update_many()
        .col_expr(scene::Column::Status, Expr::value(SceneStatus::Generating))
        .col_expr(scene::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(scene::Column::Id.eq(scene_id))
        .exec(db)
        .await?;
    Ok(())
}

/// The preview or the final video is stored. A preview leaves the story in
/// `previewing` with its preview ready; a final render completes it.
pub async fn finish_assembly(
    db: &DatabaseConnection,
    job: &job::Model,
    key: &str,
    result: Value,
) -> StoreResult<Written> {
    let txn = begin_for(db, &job.owner_id).await?;
    if !mark_succeeded(&txn, job, &result, None, None).await? {
        return Ok(Written::Cancelled);
    }
    let current = load_story(&txn, job.story_id).await?;
    match job.kind {
        JobKind::RenderFinal => {
            let change = StoryChange {
                final_key: Some(Some(key.to_owned())),
                ..Default::default()
            };
            let reason = "final video rendered";
            transitions::apply_transition(
                &txn,
                &current,
                StoryStatus::Completed,
                worker_by(reason, job.id),
                change,
            )
            .await?;
        }
        _ => {
            let updated = story::Entity::update_many()
                .col_expr(story::Column::PreviewKey, Expr::value(key))
                .col_expr(story::Column::Version, Expr::value(current.version + 1))
                .col_expr(story::Column::UpdatedAt, Expr::value(Utc::now()))
                .filter(story::Column::Id.eq(current.id))
                .filter(story::Column::Version.eq(current.version))
                .filter(story::Column::Status.eq(StoryStatus::Previewing))
                .exec(&txn)
                .await?;
            if updated.rows_affected != 1 {
                return Err(StoreError::conflict(
                    ErrorCode::VersionConflict,
                    format!(
                        "the story left previewing (it is {}) before the preview was stored",
                        current.status
                    ),
                ));
            }
        }
    }
    txn.commit().await?;
    Ok(Written::Done)
}

async fn load_story<C: ConnectionTrait>(db: &C, id: Uuid) -> StoreResult<story::Model> {
    story::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or(StoreError::NotFound("story"))
}

/// A run failed. `last` is whether no attempt is left (or the error is permanent):
/// then the job fails for good, a preview or render it belongs to fails with it (its
/// other scene jobs are cancelled), and the story moves to `failed` with the error.
/// Otherwise the job waits for its retry.
pub async fn record_failure(
    db: &DatabaseConnection,
    job: &job::Model,
    error: &str,
    last: bool,
) -> StoreResult<()> {
    write_failure(db, job, error, last, owned_by(job)).await
}

/// A job that can no longer finish (its BullMQ job failed for good or vanished
/// without a trace the reconciler can re-push) fails for good with `error`, whatever
/// active state its row is in, with the same consequences as a last failed run.
pub async fn fail_for_good(
    db: &DatabaseConnection,
    job: &job::Model,
    error: &str,
) -> StoreResult<()> {
    let active = Condition::all()
        .add(job::Column::Id.eq(job.id))
        .add(job::Column::Status.is_in(ACTIVE));
    write_failure(db, job, error, true, active).await
}

async fn write_failure(
    db: &DatabaseConnection,
    job: &job::Model,
    error: &str,
    last: bool,
    rows: Condition,
) -> StoreResult<()> {
    let txn = begin_for(db, &job.owner_id).await?;
    let now = Utc::now();
    let status = if last {
        JobStatus::Failed
    } else {
        JobStatus::Retrying
    };
    let mut update = job::Entity::update_many()
        .col_expr(job::Column::Status, Expr::value(status))
        .col_expr(job::Column::LastError, Expr::value(error))
        .col_expr(job::Column::RunId, Expr::value(Option::<Uuid>::None))
        .col_expr(
            job::Column::HeartbeatAt,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .col_expr(job::Column::UpdatedAt, Expr::value(now));
    if last {
        update = update
            .col_expr(job::Column::FinishedAt, Expr::value(now))
            .col_expr(
                job::Column::Result,
                Expr::value(response(None, json!({}), 0.0, Some(error))),
            );
    }
    let updated = update.filter(rows).exec(&txn).await?;
    if updated.rows_affected == 0 {
        // Cancelled or taken over meanwhile: the cancel already said what happens next.
        return Ok(());
    }
    if last {
        events::record(
            &txn,
            &job.owner_id,
            Some(job.story_id),
            EventType::JobFailed,
            json!({
                "story_id": job.story_id,
                "job_id": job.id,
                "kind": job.kind,
                "scene_id": job.scene_id,
                "error": error,
            }),
        )
        .await?;
        // A flow's scene jobs stop with it.
        job::Entity::update_many()
            .col_expr(job::Column::Status, Expr::value(JobStatus::Cancelled))
            .col_expr(
                job::Column::LastError,
                Expr::value(format!("stopped: {error}")),
            )
            .col_expr(job::Column::FinishedAt, Expr::value(now))
            .col_expr(job::Column::UpdatedAt, Expr::value(now))
            .filter(job::Column::ParentId.eq(job.id))
            .filter(job::Column::Status.is_in(ACTIVE))
            .exec(&txn)
            .await?;
    }
    if let Some(scene_id) = job.scene_id {
        let (scene_status, scene_error) = if last {
            (SceneStatus::Failed, Some(error.to_owned()))
        } else {
            (SceneStatus::Pending, None)
        };
        scene::Entity::update_many()
            .col_expr(scene::Column::Status, Expr::value(scene_status))
            .col_expr(scene::Column::Error, Expr::value(scene_error))
            .col_expr(scene::Column::UpdatedAt, Expr::value(now))
            .filter(scene::Column::Id.eq(scene_id))
            .exec(&txn)
            .await?;
    }
    if !last {
        txn.commit().await?;
        return Ok(());
    }
    let mut story_error = error.to_owned();
    if let Some(parent) = job.parent_id {
        let scene_note = match job.scene_id {
            Some(id) => scene::Entity::find_by_id(id)
                .one(&txn)
                .await?
                .map(|s| format!("scene {} failed: {error}", s.position))
                .unwrap_or_else(|| error.to_owned()),
            None => error.to_owned(),
        };
        job::Entity::update_many()
            .col_expr(job::Column::Status, Expr::value(JobStatus::Failed))
            .col_expr(job::Column::LastError, Expr::value(scene_note.clone()))
            .col_expr(job::Column::FinishedAt, Expr::value(now))
            .col_expr(job::Column::UpdatedAt, Expr::value(now))
            .filter(job::Column::Id.eq(parent))
            .filter(job::Column::Status.is_in(ACTIVE))
            .exec(&txn)
            .await?;
        job::Entity::update_many()
            .col_expr(job::Column::Status, Expr::value(JobStatus::Cancelled))
            .col_expr(
                job::Column::LastError,
                Expr::value(format!("stopped: {scene_note}")),
            )
            .col_expr(job::Column::FinishedAt, Expr::value(now))
            .col_expr(job::Column::UpdatedAt, Expr::value(now))
            .filter(job::Column::ParentId.eq(parent))
            .filter(job::Column::Status.is_in(ACTIVE))
            .exec(&txn)
            .await?;
        story_error = scene_note;
    }
    let current = load_story(&txn, job.story_id).await?;
    let phase = match job.kind {
        JobKind::PlanStory => Some(StoryStatus::Planning),
        JobKind::GeneratePreview => Some(StoryStatus::Previewing),
        JobKind::RenderFinal => Some(StoryStatus::Rendering),
        JobKind::GenerateScene if job.parent_id.is_none() => None,
        JobKind::GenerateScene => {
            match JobParameters::parse(&job.parameters).map(|p| p.quality()) {
                Ok(RenderQuality::Final) => Some(StoryStatus::Rendering),
                _ => Some(StoryStatus::Previewing),
            }
        }
    };
    // A scene regenerated on its own fails alone; work that carries the story
    // fails the story.
    if phase == Some(current.status) {
        let change = StoryChange {
            last_error: Some(Some(story_error.clone())),
            ..Default::default()
        };
        transitions::apply_transition(
            &txn,
            &current,
            StoryStatus::Failed,
            worker_by(&story_error, job.id),
            change,
        )
        .await?;
    }
    txn.commit().await?;
    Ok(())
}

/// A run was put back without using an attempt (a provider asked to wait): the
/// job is queued again and the run does not count.
pub async fn requeue(db: &DatabaseConnection, job: &job::Model, reason: &str) -> StoreResult<()> {
    job::Entity::update_many()
        .col_expr(job::Column::Status, Expr::value(JobStatus::Queued))
        .col_expr(
            job::Column::Attempt,
            Expr::value(Ord::max(job.attempt - 1, 0)),
        )
        .col_expr(job::Column::LastError, Expr::value(reason))
        .col_expr(job::Column::RunId, Expr::value(Option::<Uuid>::None))
        .col_expr(
            job::Column::HeartbeatAt,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .col_expr(job::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(owned_by(job))
        .exec(db)
        .await?;
    Ok(())
}
