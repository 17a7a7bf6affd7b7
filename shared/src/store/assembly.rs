//! Previews and renders as flows: an assembly job that waits for one scene job per
//! scene, and the retry of one that failed, which keeps what already succeeded.

use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};
use uuid::Uuid;

use super::{StoreError, StoreResult};
use crate::db::entities::{job, scene, story};
use crate::domain::ErrorCode;
use crate::domain::{JobKind, JobParameters, JobStatus, RenderQuality};
use crate::store::{NewJob, WorkOptions, enqueue_flow};

/// The story's most recent preview or render (by `kind`), if it failed or was
/// cancelled: the attempt a retry continues.
pub(crate) async fn last_assembly<C: ConnectionTrait>(
    db: &C,
    story_id: Uuid,
    kind: JobKind,
) -> StoreResult<Option<job::Model>> {
    let last = job::Entity::find()
        .filter(job::Column::StoryId.eq(story_id))
        .filter(job::Column::Kind.eq(kind))
        .order_by_desc(job::Column::CreatedAt)
        .order_by_desc(job::Column::Id)
        .one(db)
        .await?;
    Ok(last.filter(|j| matches!(j.status, JobStatus::Failed | JobStatus::Cancelled)))
}

/// Queues an assembly job (preview or final) as the parent of one scene job per
/// scene at the matching quality.
///
/// `again` is the failed or cancelled assembly this one retries: a scene whose job
/// succeeded in it (or that it had kept itself) is kept, with its stored clip, and
/// gets no new scene job; the others are generated again, each new job recording
/// the one it retries. The kept scenes are listed in the parent's parameters
/// (`kept_scenes`).
pub(crate) async fn enqueue_assembly<C: ConnectionTrait>(
    db: &C,
    story: &story::Model,
    kind: JobKind,
    work: WorkOptions,
    again: Option<&job::Model>,
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
            ErrorCode::NoScenes,
            "the story has no scenes; plan it first",
        ));
    }
    let earlier = match again {
        Some(old) => Earlier::of(db, old).await?,
        None => Earlier::default(),
    };
    let ask = super::quotas::ask(story, kind);
    if let Some(defaults) = work.quotas {
        super::quotas::check(db, story, ask, defaults).await?;
    }
    let (estimate, video_seconds) = (Some(ask.amount), Some(ask.seconds));
    let priority = work.priority.unwrap_or(kind.default_priority());
    let parameters = JobParameters {
        quality: Some(quality),
        ..Default::default()
    }
    .to_json();
    let mut parent = NewJob::new(story.id, &story.owner_id, kind, priority, work.retry);
    parent.retry_of = again.map(|old| old.id);
    let mut kept = Vec::new();
    let mut children = Vec::new();
    for s in &scenes {
        match earlier.scene(s.id) {
            SceneBefore::Kept => kept.push(s.id),
            SceneBefore::Redo(retry_of) => children.push(NewJob {
                scene_id: Some(s.id),
                parameters: parameters.clone(),
                retry_of,
                ..NewJob::new(
                    story.id,
                    &story.owner_id,
                    JobKind::GenerateScene,
                    priority,
                    work.retry,
                )
            }),
        }
    }
    parent.parameters = JobParameters {
        quality: Some(quality),
        kept_scenes: kept,
        estimate,
        video_seconds,
    }
    .to_json();
    let (parent, _) = enqueue_flow(db, parent, children).await?;
    Ok(parent)
}

/// What an earlier, unfinished assembly did for each scene.
#[derive(Default)]
struct Earlier {
    children: Vec<job::Model>,
    kept: Vec<Uuid>,
}

enum SceneBefore {
    /// Its clip is stored and stays.
    Kept,
    /// It is generated again; the job it retries, if there was one.
    Redo(Option<Uuid>),
}

impl Earlier {
    async fn of<C: ConnectionTrait>(db: &C, old: &job::Model) -> StoreResult<Self> {
        let children = job::Entity::find()
            .filter(job::Column::ParentId.eq(old.id))
            .order_by_desc(job::Column::CreatedAt)
            .all(db)
            .await?;
        let kept = JobParameters::parse(&old.parameters)
            .map(|p| p.kept_scenes)
            .unwrap_or_default();
        Ok(Self { children, kept })
    }

    fn scene(&self, scene: Uuid) -> SceneBefore {
        match self.children.iter().find(|c| c.scene_id == Some(scene)) {
            Some(c) if c.status == JobStatus::Succeeded => SceneBefore::Kept,
            Some(c) => SceneBefore::Redo(Some(c.id)),
            None if self.kept.contains(&scene) => SceneBefore::Kept,
            None => SceneBefore::Redo(None),
        }
    }
}
