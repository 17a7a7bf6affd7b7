//! Scenes: bulk creation, listing, reordering and one-scene generation.
//!
//! Positions are 1-based and dense per story (`1..=n`), and unique by constraint.
//! Every change that touches positions runs in one transaction and leaves them dense.

use std::collections::{HashMap, HashSet};

use chrono::Utc;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};
use uuid::Uuid;

use super::{Page, PageRequest, StoreError, StoreResult, Viewer, begin_write, transitions};
use crate::db::entities::{job, scene, story};
use crate::db::{Money, is_unique_violation};
use crate::domain::{
    CameraMotion, ErrorCode, JobKind, JobParameters, JobStatus, RenderQuality, SceneDuration,
    SceneStatus, StoryDuration, StoryStatus,
};
use crate::store::{NewJob, WorkOptions, enqueue_job};

/// A scene as submitted, validated at the edge.
#[derive(Debug, Clone)]
pub struct NewScene {
    /// Where to put it; `None` appends.
    pub position: Option<u32>,
    pub duration: SceneDuration,
    pub prompt: NewPrompt,
    /// What the narrator says over it.
    pub narration: String,
}

/// A new scene's prompt; without a style of its own it takes the story's.
#[derive(Debug, Clone)]
pub struct NewPrompt {
    pub text: String,
    pub negative_prompt: String,
    pub style: Option<String>,
    pub camera_motion: CameraMotion,
    pub seed: u32,
}

/// The most scenes one story may hold.
pub const MAX_SCENES: usize = 600;

/// Inserts scenes into a draft story, all or none.
pub async fn bulk_create(
    db: &DatabaseConnection,
    viewer: &Viewer,
    story_id: Uuid,
    new: Vec<NewScene>,
) -> StoreResult<Vec<scene::Model>> {
    let txn = begin_write(db).await?;
    let story = transitions::get_for_update(&txn, viewer, story_id).await?;
    if !story.status.is_editable() {
        return Err(StoreError::wrong_status(
            story.status,
            &[StoryStatus::Draft],
            "adding scenes",
        ));
    }
    let existing = scene::Entity::find()
        .filter(scene::Column::StoryId.eq(story_id))
        .count(&txn)
        .await? as u32;
    let total = existing as usize + new.len();
    if total > MAX_SCENES {
        return Err(StoreError::field_conflict(
            ErrorCode::TooManyScenes,
            "scenes",
            format!("a story holds at most {MAX_SCENES} scenes; this would make {total}"),
        ));
    }
    let existing_seconds: i64 = scene::Entity::find()
        .select_only()
        .column(scene::Column::DurationSeconds)
        .filter(scene::Column::StoryId.eq(story_id))
        .into_tuple::<i32>()
        .all(&txn)
        .await?
        .into_iter()
        .map(i64::from)
        .sum();
    let seconds = existing_seconds
        + new
            .iter()
            .map(|s| i64::from(s.duration.seconds()))
            .sum::<i64>();
    if seconds > i64::from(StoryDuration::MAX) {
        return Err(StoreError::field_conflict(
            ErrorCode::TooMuchVideo,
            "scenes",
            format!(
                "a story's scenes add up to at most {} s of video; these would make {seconds} s",
                StoryDuration::MAX
            ),
        ));
    }
    let positions = assign_positions(existing, &new)?;
    let now = Utc::now();
    let mut rows = Vec::with_capacity(new.len());
    for (scene, position) in new.into_iter().zip(positions) {
        let model = scene::ActiveModel {
            id: Set(Uuid::now_v7()),
            story_id: Set(story_id),
            position: Set(position as i32),
            duration_seconds: Set(scene.duration.seconds() as i32),
            prompt_text: Set(scene.prompt.text),
            negative_prompt: Set(scene.prompt.negative_prompt),
            prompt_style: Set(scene.prompt.style.unwrap_or_else(|| story.style.clone())),
            camera_motion: Set(scene.prompt.camera_motion),
            seed: Set(i64::from(scene.prompt.seed)),
            narration: Set(scene.narration),
            status: Set(SceneStatus::Pending),
            image_key: Set(None),
            clip_key: Set(None),
            provider: Set(None),
            generation_time_ms: Set(None),
            cost: Set(Money::ZERO),
            error: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
        };
        let row = model.insert(&txn).await.map_err(|e| {
            if is_unique_violation(&e, "scenes_story_position_key") {
                StoreError::conflict(
                    ErrorCode::PositionTaken,
                    format!("position {position} is already taken in this story"),
                )
            } else {
                e.into()
            }
        })?;
        rows.push(row);
    }
    txn.commit().await?;
    Ok(rows)
}

/// Positions for new scenes after `existing` ones: explicit positions must be new
/// and distinct, and together with the appended ones they must continue `1..=n`.
/// Each refusal is a conflict (with the story's scenes, or between two scenes of
/// the request), which no schema of the body alone can foresee.
fn assign_positions(existing: u32, new: &[NewScene]) -> StoreResult<Vec<u32>> {
    let total = existing + new.len() as u32;
    let mut taken = HashSet::new();
    for (i, scene) in new.iter().enumerate() {
        if let Some(p) = scene.position {
            if p <= existing {
                return Err(StoreError::field_conflict(
                    ErrorCode::PositionTaken,
                    format!("scenes[{i}].position"),
                    format!("position {p} is already taken in this story"),
                ));
            }
            if p > total {
                return Err(StoreError::field_conflict(
                    ErrorCode::PositionOutOfRange,
                    format!("scenes[{i}].position"),
                    format!(
                        "positions must stay dense: expected a value from {} to {total}",
                        existing + 1
                    ),
                ));
            }
            if !taken.insert(p) {
                return Err(StoreError::field_conflict(
                    ErrorCode::PositionTaken,
                    format!("scenes[{i}].position"),
                    format!("position {p} appears more than once"),
                ));
            }
        }
    }
    let mut free = (existing + 1..=total).filter(|p| !taken.contains(p));
    Ok(new
        .iter()
        .map(|s| match s.position {
            Some(p) => p,
            None => free.next().unwrap_or(total),
        })
        .collect())
}

/// List filters.
#[derive(Debug, Clone, Default)]
pub struct SceneFilter {
    pub story: Option<Uuid>,
    pub status: Option<SceneStatus>,
}

pub async fn list(
    db: &DatabaseConnection,
    viewer: &Viewer,
    filter: SceneFilter,
    page: PageRequest,
) -> StoreResult<Page<scene::Model>> {
    let mut query = scene::Entity::find().inner_join(story::Entity);
    if !viewer.is_admin {
        query = query.filter(story::Column::OwnerId.eq(viewer.user_id.as_str()));
    }
    if let Some(story_id) = filter.story {
        query = query.filter(scene::Column::StoryId.eq(story_id));
    }
    if let Some(status) = filter.status {
        query = query.filter(scene::Column::Status.eq(status));
    }
    let query = query
        .order_by_asc(scene::Column::StoryId)
        .order_by_asc(scene::Column::Position);
    super::fetch_page(db, query, page).await
}

/// The scene and its story, if the viewer may see them.
pub async fn get<C: ConnectionTrait>(
    db: &C,
    viewer: &Viewer,
    id: Uuid,
) -> StoreResult<(scene::Model, story::Model)> {
    let found = scene::Entity::find_by_id(id)
        .find_also_related(story::Entity)
        .one(db)
        .await?;
    match found {
        Some((scene, Some(story))) if viewer.can_see(&story.owner_id) => Ok((scene, story)),
        _ => Err(StoreError::NotFound("scene")),
    }
}

/// Changes to a scene's prompt and narration; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct ScenePatch {
    pub text: Option<String>,
    pub negative_prompt: Option<String>,
    pub style: Option<String>,
    pub camera_motion: Option<CameraMotion>,
    pub seed: Option<u32>,
    pub narration: Option<String>,
}

/// Edits a scene of a story that is a draft or planned (before its preview).
pub async fn update(
    db: &DatabaseConnection,
    viewer: &Viewer,
    id: Uuid,
    patch: ScenePatch,
) -> StoreResult<scene::Model> {
    let txn = begin_write(db).await?;
    let (scene, story) = get(&txn, viewer, id).await?;
    let story = transitions::get_for_update(&txn, viewer, story.id).await?;
    let open = [StoryStatus::Draft, StoryStatus::Planned];
    if !open.contains(&story.status) {
        return Err(StoreError::wrong_status(
            story.status,
            &open,
            "editing a scene",
        ));
    }
    let mut model: scene::ActiveModel = scene.into();
    if let Some(v) = patch.text {
        model.prompt_text = Set(v);
    }
    if let Some(v) = patch.negative_prompt {
        model.negative_prompt = Set(v);
    }
    if let Some(v) = patch.style {
        model.prompt_style = Set(v);
    }
    if let Some(v) = patch.camera_motion {
        model.camera_motion = Set(v);
    }
    if let Some(v) = patch.seed {
        model.seed = Set(i64::from(v));
    }
    if let Some(v) = patch.narration {
        model.narration = Set(v);
    }
    model.updated_at = Set(Utc::now());
    let updated = model.update(&txn).await?;
    txn.commit().await?;
    Ok(updated)
}

/// The scenes of a story in order.
pub async fn of_story<C: ConnectionTrait>(
    db: &C,
    story_id: Uuid,
) -> StoreResult<Vec<scene::Model>> {
    Ok(scene::Entity::find()
        .filter(scene::Column::StoryId.eq(story_id))
        .order_by_asc(scene::Column::Position)
        .all(db)
        .await?)
}

/// A reorder request.
#[derive(Debug, Clone)]
pub enum Reorder {
    /// Move the scene to this position; the scenes in between shift by one.
    MoveTo(u32),
    /// Give each listed scene its position; the others keep their relative order in
    /// the positions left over.
    Assign(Vec<(Uuid, u32)>),
}

/// Reorders the scenes of the scene's story; returns them in their new order.
pub async fn reorder(
    db: &DatabaseConnection,
    viewer: &Viewer,
    scene_id: Uuid,
    request: Reorder,
) -> StoreResult<Vec<scene::Model>> {
    let txn = begin_write(db).await?;
    let (_, story) = get(&txn, viewer, scene_id).await?;
    let story = transitions::get_for_update(&txn, viewer, story.id).await?;
    let allowed = [StoryStatus::Draft, StoryStatus::Planned];
    if !allowed.contains(&story.status) {
        return Err(StoreError::wrong_status(
            story.status,
            &allowed,
            "reordering scenes",
        ));
    }
    let scenes = of_story(&txn, story.id).await?;
    let order = new_order(&scenes, scene_id, request)?;
    // Two passes keep the unique (story, position) index satisfied at every row:
    // first every moved scene goes to a negative slot, then to its place.
    let moved: Vec<(Uuid, i32)> = order
        .iter()
        .enumerate()
        .map(|(i, id)| (*id, i as i32 + 1))
        .filter(|(id, pos)| scenes.iter().any(|s| s.id == *id && s.position != *pos))
        .collect();
    for (id, pos) in &moved {
        set_position(&txn, *id, -pos).await?;
    }
    for (id, pos) in &moved {
        set_position(&txn, *id, *pos).await?;
    }
    let result = of_story(&txn, story.id).await?;
    txn.commit().await?;
    Ok(result)
}

async fn set_position<C: ConnectionTrait>(db: &C, id: Uuid, position: i32) -> StoreResult<()> {
    scene::Entity::update_many()
        .col_expr(scene::Column::Position, Expr::value(position))
        .col_expr(scene::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(scene::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// The scene ids in their new order. A request that does not fit the story's
/// scenes, or contradicts itself, is a conflict.
fn new_order(scenes: &[scene::Model], scene_id: Uuid, request: Reorder) -> StoreResult<Vec<Uuid>> {
    let n = scenes.len() as u32;
    let range_error = |field: String, p: u32| {
        StoreError::field_conflict(
            ErrorCode::PositionOutOfRange,
            field,
            format!("position {p} is outside 1..={n}"),
        )
    };
    let current: Vec<Uuid> = scenes.iter().map(|s| s.id).collect();
    match request {
        Reorder::MoveTo(p) => {
            if p < 1 || p > n {
                return Err(range_error("position".into(), p));
            }
            let mut order: Vec<Uuid> = current.into_iter().filter(|id| *id != scene_id).collect();
            order.insert(p as usize - 1, scene_id);
            Ok(order)
        }
        Reorder::Assign(pairs) => {
            let known: HashSet<Uuid> = current.iter().copied().collect();
            let mut slots: HashMap<u32, Uuid> = HashMap::new();
            let mut seen = HashSet::new();
            for (i, (id, p)) in pairs.iter().enumerate() {
                let field = format!("positions[{i}]");
                if !known.contains(id) {
                    return Err(StoreError::field_conflict(
                        ErrorCode::SceneNotInStory,
                        format!("{field}.scene_id"),
                        format!("scene {id} is not part of this story"),
                    ));
                }
                if !seen.insert(*id) {
                    return Err(StoreError::field_conflict(
                        ErrorCode::SceneRepeated,
                        format!("{field}.scene_id"),
                        format!("scene {id} appears more than once"),
                    ));
                }
                if *p < 1 || *p > n {
                    return Err(range_error(format!("{field}.position"), *p));
                }
                if slots.insert(*p, *id).is_some() {
                    return Err(StoreError::field_conflict(
                        ErrorCode::PositionTaken,
                        format!("{field}.position"),
                        format!("position {p} is given to more than one scene"),
                    ));
                }
            }
            let mut rest = current.into_iter().filter(|id| !seen.contains(id));
            Ok((1..=n)
                .filter_map(|p| slots.get(&p).copied().or_else(|| rest.next()))
                .collect())
        }
    }
}

/// Refuses generating one scene unless its story is planned and nothing generates
/// that scene already.
pub(crate) async fn check_can_generate<C: ConnectionTrait>(
    db: &C,
    story: &story::Model,
    scene_id: Uuid,
) -> StoreResult<()> {
    if story.status != StoryStatus::Planned {
        return Err(StoreError::wrong_status(
            story.status,
            &[StoryStatus::Planned],
            "generating a single scene",
        ));
    }
    let active = job::Entity::find()
        .filter(job::Column::SceneId.eq(scene_id))
        .filter(job::Column::Status.is_in([
            JobStatus::Queued,
            JobStatus::Running,
            JobStatus::Retrying,
        ]))
        .count(db)
        .await?;
    if active > 0 {
        return Err(StoreError::conflict(
            ErrorCode::JobInProgress,
            "this scene is already being generated",
        ));
    }
    Ok(())
}

/// Queues generation of one scene of a planned story.
pub async fn generate(
    db: &DatabaseConnection,
    viewer: &Viewer,
    scene_id: Uuid,
    quality: RenderQuality,
    work: WorkOptions,
) -> StoreResult<job::Model> {
    let txn = begin_write(db).await?;
    let (scene, story) = get(&txn, viewer, scene_id).await?;
    let story = transitions::get_for_update(&txn, viewer, story.id).await?;
    check_can_generate(&txn, &story, scene.id).await?;
    let seconds = scene.duration_seconds.max(0) as u32;
    let ask = super::quotas::ask_scene(&txn, &story, seconds, quality).await?;
    if let Some(defaults) = work.quotas {
        super::quotas::check(&txn, &story, ask, defaults).await?;
    }
    let kind = JobKind::GenerateScene;
    let parameters = JobParameters {
        quality: Some(quality),
        estimate: Some(ask.amount),
        video_seconds: Some(ask.seconds),
        ..Default::default()
    };
    let new = NewJob {
        scene_id: Some(scene.id),
        parameters: parameters.to_json(),
        ..NewJob::new(
            story.id,
            &story.owner_id,
            kind,
            work.priority.unwrap_or(kind.default_priority()),
            work.retry,
        )
    };
    let job = enqueue_job(&txn, new).await?;
    txn.commit().await?;
    Ok(job)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new(position: Option<u32>) -> NewScene {
        NewScene {
            position,
            duration: SceneDuration::new(5).unwrap(),
            prompt: NewPrompt {
                text: "x".into(),
                negative_prompt: String::new(),
                style: None,
                camera_motion: CameraMotion::Static,
                seed: 0,
            },
            narration: String::new(),
        }
    }

    #[test]
    fn appended_scenes_fill_the_gaps_left_by_explicit_ones() {
        let got = assign_positions(2, &[new(None), new(Some(3)), new(None)]).unwrap();
        assert_eq!(got, [4, 3, 5]);
    }

    #[test]
    fn explicit_positions_must_be_new_distinct_and_dense() {
        assert!(matches!(
            assign_positions(2, &[new(Some(2))]),
            Err(StoreError::FieldConflict {
                code: ErrorCode::PositionTaken,
                ..
            })
        ));
        match assign_positions(0, &[new(Some(1)), new(Some(1))]) {
            Err(StoreError::FieldConflict { field, .. }) => assert_eq!(field, "scenes[1].position"),
            other => panic!("{other:?}"),
        }
        match assign_positions(0, &[new(Some(5))]) {
            Err(StoreError::FieldConflict { field, .. }) => assert_eq!(field, "scenes[0].position"),
            other => panic!("{other:?}"),
        }
    }
}
