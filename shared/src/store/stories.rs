//! Stories: create, read, edit, and move through the state machine.

use chrono::Utc;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};
use uuid::Uuid;

use super::{Page, PageRequest, StoreError, StoreResult, Viewer, begin_write, jobs};
use crate::db::Money;
use crate::db::entities::{job, scene, story, transition};
use crate::domain::{
    Actor, AspectRatio, JobKind, Provider, ProviderRole, RenderQuality, StoryDuration, StoryStatus,
    check_transition,
};
use crate::store::{NewJob, WorkOptions, enqueue_flow, enqueue_job};

/// The actor name written to the transition log for worker transitions.
pub const WORKER_ACTOR: &str = "worker";

/// A story as the owner submits it, already validated at the edge.
#[derive(Debug, Clone)]
pub struct NewStory {
    pub title: String,
    pub synopsis: String,
    pub style: String,
    pub duration: StoryDuration,
    pub aspect_ratio: AspectRatio,
    pub image_provider: Provider,
    pub video_provider: Provider,
}

/// Fields to change; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct StoryPatch {
    pub title: Option<String>,
    pub synopsis: Option<String>,
    pub style: Option<String>,
    pub duration: Option<StoryDuration>,
    pub aspect_ratio: Option<AspectRatio>,
    pub image_provider: Option<Provider>,
    pub video_provider: Option<Provider>,
    /// When set, the update applies only if the story still has this version.
    pub expected_version: Option<i32>,
}

impl StoryPatch {
    /// Whether the patch touches anything that planning depends on.
    fn changes_plan_inputs(&self) -> bool {
        self.synopsis.is_some()
            || self.style.is_some()
            || self.duration.is_some()
            || self.aspect_ratio.is_some()
            || self.image_provider.is_some()
            || self.video_provider.is_some()
    }
}

/// Checks that each provider can serve the role it is chosen for.
pub fn check_providers(image: Provider, video: Provider) -> StoreResult<()> {
    image
        .for_role(ProviderRole::Image)
        .map_err(|e| StoreError::invalid("image_provider", e.0))?;
    video
        .for_role(ProviderRole::Video)
        .map_err(|e| StoreError::invalid("video_provider", e.0))?;
    Ok(())
}

pub async fn create(
    db: &DatabaseConnection,
    viewer: &Viewer,
    new: NewStory,
) -> StoreResult<story::Model> {
    check_providers(new.image_provider, new.video_provider)?;
    let now = Utc::now();
    let model = story::ActiveModel {
        id: Set(Uuid::now_v7()),
        owner_id: Set(viewer.user_id.clone()),
        title: Set(new.title),
        synopsis: Set(new.synopsis),
        style: Set(new.style),
        duration_seconds: Set(new.duration.seconds() as i32),
        aspect_ratio: Set(new.aspect_ratio),
        status: Set(StoryStatus::Draft),
        image_provider: Set(new.image_provider),
        video_provider: Set(new.video_provider),
        estimated_cost: Set(None),
        cost_estimate: Set(None),
        actual_cost: Set(Money::ZERO),
        preview_key: Set(None),
        final_key: Set(None),
        last_error: Set(None),
        version: Set(1),
        created_at: Set(now),
        updated_at: Set(now),
    };
    Ok(model.insert(db).await?)
}

/// The story, if the viewer may see it.
pub async fn get<C: ConnectionTrait>(
    db: &C,
    viewer: &Viewer,
    id: Uuid,
) -> StoreResult<story::Model> {
    match story::Entity::find_by_id(id).one(db).await? {
        Some(s) if viewer.can_see(&s.owner_id) => Ok(s),
        _ => Err(StoreError::NotFound("story")),
    }
}

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

/// List filters.
#[derive(Debug, Clone, Default)]
pub struct StoryFilter {
    pub status: Option<StoryStatus>,
}

pub async fn list(
    db: &DatabaseConnection,
    viewer: &Viewer,
    filter: StoryFilter,
    page: PageRequest,
) -> StoreResult<Page<story::Model>> {
    let mut query = story::Entity::find();
    if !viewer.is_admin {
        query = query.filter(story::Column::OwnerId.eq(viewer.user_id.as_str()));
    }
    if let Some(status) = filter.status {
        query = query.filter(story::Column::Status.eq(status));
    }
    let paginator = query
        .order_by_desc(story::Column::CreatedAt)
        .order_by_desc(story::Column::Id)
        .paginate(db, page.page_size);
    let count = paginator.num_items().await?;
    let items = paginator.fetch_page(page.page - 1).await?;
    Ok(Page { items, count })
}

pub async fn update(
    db: &DatabaseConnection,
    viewer: &Viewer,
    id: Uuid,
    patch: StoryPatch,
) -> StoreResult<story::Model> {
    let txn = begin_write(db).await?;
    let current = get_for_update(&txn, viewer, id).await?;
    if let Some(expected) = patch.expected_version
        && expected != current.version
    {
        return Err(StoreError::conflict(
            "version_conflict",
            format!(
                "the story changed since version {expected}; it is at version {}",
                current.version
            ),
        ));
    }
    if patch.changes_plan_inputs() && !current.status.is_editable() {
        return Err(StoreError::wrong_status(
            current.status,
            &[StoryStatus::Draft],
            "changing anything but the title",
        ));
    }
    check_providers(
        patch.image_provider.unwrap_or(current.image_provider),
        patch.video_provider.unwrap_or(current.video_provider),
    )?;
    let version = current.version;
    let mut model: story::ActiveModel = current.into();
    if let Some(v) = patch.title {
        model.title = Set(v);
    }
    if let Some(v) = patch.synopsis {
        model.synopsis = Set(v);
    }
    if let Some(v) = patch.style {
        model.style = Set(v);
    }
    if let Some(v) = patch.duration {
        model.duration_seconds = Set(v.seconds() as i32);
    }
    if let Some(v) = patch.aspect_ratio {
        model.aspect_ratio = Set(v);
    }
    if let Some(v) = patch.image_provider {
        model.image_provider = Set(v);
    }
    if let Some(v) = patch.video_provider {
        model.video_provider = Set(v);
    }
    model.version = Set(version + 1);
    model.updated_at = Set(Utc::now());
    let updated = model.update(&txn).await?;
    txn.commit().await?;
    Ok(updated)
}

/// Columns a transition may set besides the status.
#[derive(Debug, Clone, Default)]
pub struct StoryChange {
    pub last_error: Option<Option<String>>,
    pub preview_key: Option<Option<String>>,
    pub final_key: Option<Option<String>>,
    pub estimated_cost: Option<Money>,
    pub cost_estimate: Option<serde_json::Value>,
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
    check_transition(current.status, to, by.actor)?;
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
                "version_conflict",
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
    Ok(updated)
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

/// An owner asks to move a story. Moves that start work queue it in the same
/// transaction; cancelling planning cancels its job.
pub async fn transition(
    db: &DatabaseConnection,
    viewer: &Viewer,
    id: Uuid,
    to: StoryStatus,
    reason: Option<String>,
    work: WorkOptions,
) -> StoreResult<TransitionOutcome> {
    let txn = begin_write(db).await?;
    let current = get_for_update(&txn, viewer, id).await?;
    check_transition(current.status, to, Actor::Owner)?;
    let reason = reason.unwrap_or_else(|| format!("requested by {}", viewer.user_id));
    let mut change = StoryChange::default();
    if to == StoryStatus::Draft {
        change.last_error = Some(None);
    }
    if to == StoryStatus::Rendering && current.preview_key.is_none() {
        return Err(StoreError::conflict(
            "preview_not_ready",
            "the preview is not ready yet; render_final is possible once it is",
        ));
    }
    let mut cancelled = Vec::new();
    let job = match (current.status, to) {
        (StoryStatus::Planning, StoryStatus::Draft) => {
            cancelled =
                jobs::cancel_story_jobs(&txn, current.id, "planning cancelled by the owner")
                    .await?;
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
            Some(enqueue_job(&txn, new).await?)
        }
        (_, StoryStatus::Previewing) => {
            Some(enqueue_assembly(&txn, &current, JobKind::GeneratePreview, work).await?)
        }
        (_, StoryStatus::Rendering) => {
            Some(enqueue_assembly(&txn, &current, JobKind::RenderFinal, work).await?)
        }
        _ => None,
    };
    let by = TransitionBy {
        actor: Actor::Owner,
        name: &viewer.user_id,
        reason: &reason,
        job_id: job.as_ref().map(|j| j.id),
    };
    let story = apply_transition(&txn, &current, to, by, change).await?;
    txn.commit().await?;
    Ok(TransitionOutcome {
        story,
        job,
        cancelled,
    })
}

/// Queues an assembly job (preview or final) as the parent of one scene job per
/// scene, at the matching quality.
pub(crate) async fn enqueue_assembly<C: ConnectionTrait>(
    db: &C,
    story: &story::Model,
    kind: JobKind,
    work: WorkOptions,
) -> StoreResult<job::Model> {
    let quality = match kind {
        JobKind::RenderFinal => RenderQuality::Final,
        _ => RenderQuality::Preview,
    };
    let scenes = scene::Entity::find()
        .filter(scene::Column::StoryId.eq(story.id))
        .order_by_asc(scene::Column::Position)
        .all(db)
        .await?;
    if scenes.is_empty() {
        return Err(StoreError::conflict(
            "no_scenes",
            "the story has no scenes; plan it first",
        ));
    }
    let priority = work.priority.unwrap_or(kind.default_priority());
    let parameters = serde_json::json!({ "quality": quality.as_str() });
    let mut parent = NewJob::new(story.id, &story.owner_id, kind, priority, work.retry);
    parent.parameters = parameters.clone();
    let children = scenes
        .iter()
        .map(|s| NewJob {
            scene_id: Some(s.id),
            parameters: parameters.clone(),
            ..NewJob::new(
                story.id,
                &story.owner_id,
                JobKind::GenerateScene,
                priority,
                work.retry,
            )
        })
        .collect();
    let (parent, _) = enqueue_flow(db, parent, children).await?;
    Ok(parent)
}

/// The story's transition log, oldest first.
pub async fn transitions(
    db: &DatabaseConnection,
    viewer: &Viewer,
    id: Uuid,
    page: PageRequest,
) -> StoreResult<Page<transition::Model>> {
    get(db, viewer, id).await?;
    let query = transition::Entity::find()
        .filter(transition::Column::StoryId.eq(id))
        .order_by_asc(transition::Column::CreatedAt)
        .order_by_asc(transition::Column::Id);
    super::fetch_page(db, query, page).await
}
