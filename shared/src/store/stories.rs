//! Stories: create, read, edit, and ask to move through the state machine (the
//! moves themselves are the transition engine's, in `transitions`).

use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder, Set,
};
use uuid::Uuid;

pub use super::transitions::TransitionOutcome;
use super::transitions::{TransitionBy, get_for_update, transition_in};
use super::{Page, PageRequest, StoreError, StoreResult, Viewer, begin_for, begin_write};
use crate::db::Money;
use crate::db::entities::{story, transition};
use crate::domain::{
    Actor, AspectRatio, ErrorCode, FilmOptions, Language, Provider, ProviderRole, StoryDuration,
    StoryStatus,
};
use crate::store::WorkOptions;

/// A story as the owner submits it, already validated at the edge.
#[derive(Debug, Clone)]
pub struct NewStory {
    pub title: String,
    pub synopsis: String,
    pub style: String,
    pub duration: StoryDuration,
    pub aspect_ratio: AspectRatio,
    pub language: Language,
    pub film: FilmOptions,
    /// `None`: the deployment's default.
    pub image_provider: Option<Provider>,
    /// `None`: the deployment's default.
    pub video_provider: Option<Provider>,
}

/// The providers of a story that names none (`DEFAULT_IMAGE_PROVIDER`,
/// `DEFAULT_VIDEO_PROVIDER`).
#[derive(Debug, Clone, Copy)]
pub struct DefaultProviders {
    pub image: Provider,
    pub video: Provider,
}

/// Fields to change; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct StoryPatch {
    pub title: Option<String>,
    pub synopsis: Option<String>,
    pub style: Option<String>,
    pub duration: Option<StoryDuration>,
    pub aspect_ratio: Option<AspectRatio>,
    pub language: Option<Language>,
    /// Replaces the story's finishing options as a whole.
    pub film: Option<FilmOptions>,
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
            || self.language.is_some()
            || self.film.is_some()
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
    defaults: DefaultProviders,
) -> StoreResult<story::Model> {
    let image_provider = new.image_provider.unwrap_or(defaults.image);
    let video_provider = new.video_provider.unwrap_or(defaults.video);
    check_providers(image_provider, video_provider)?;
    let now = Utc::now();
    let model = story::ActiveModel {
        id: Set(Uuid::now_v7()),
        owner_id: Set(viewer.user_id.clone()),
        title: Set(new.title),
        synopsis: Set(new.synopsis),
        style: Set(new.style),
        duration_seconds: Set(new.duration.seconds() as i32),
        aspect_ratio: Set(new.aspect_ratio),
        language: Set(new.language),
        film: Set(serde_json::to_value(new.film).ok()),
        bible: Set(None),
        music: Set(None),
        status: Set(StoryStatus::Draft),
        image_provider: Set(image_provider),
        video_provider: Set(video_provider),
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
            ErrorCode::VersionConflict,
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
    if let Some(v) = patch.film {
        model.film = Set(serde_json::to_value(v).ok());
    }
    if let Some(v) = patch.language {
        model.language = Set(v);
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
    let txn = begin_for(db, &viewer.user_id).await?;
    let current = get_for_update(&txn, viewer, id).await?;
    let reason = reason.unwrap_or_else(|| format!("requested by {}", viewer.user_id));
    let by = TransitionBy {
        actor: Actor::Owner,
        name: &viewer.user_id,
        reason: &reason,
        job_id: None,
    };
    let outcome = transition_in(&txn, &current, to, by, work).await?;
    txn.commit().await?;
    Ok(outcome)
}

/// One page of the story's transition log, oldest first.
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

/// Sets or removes the story's music bed, while it is a draft or planned (the
/// preview has not begun).
pub async fn set_music(
    db: &DatabaseConnection,
    viewer: &Viewer,
    id: Uuid,
    music: Option<crate::domain::MusicBed>,
) -> StoreResult<story::Model> {
    let txn = begin_write(db).await?;
    let current = get_for_update(&txn, viewer, id).await?;
    music_open(current.status)?;
    let version = current.version;
    let mut model: story::ActiveModel = current.into();
    model.music = Set(music.and_then(|m| serde_json::to_value(m).ok()));
    model.version = Set(version + 1);
    model.updated_at = Set(Utc::now());
    let updated = model.update(&txn).await?;
    txn.commit().await?;
    Ok(updated)
}

/// Whether the story exists for the viewer and may have its music changed now.
pub async fn check_music_open(
    db: &DatabaseConnection,
    viewer: &Viewer,
    id: Uuid,
) -> StoreResult<()> {
    music_open(get(db, viewer, id).await?.status)
}

/// The music changes only before the preview begins.
fn music_open(status: StoryStatus) -> StoreResult<()> {
    const OPEN: [StoryStatus; 2] = [StoryStatus::Draft, StoryStatus::Planned];
    if OPEN.contains(&status) {
        Ok(())
    } else {
        Err(StoreError::wrong_status(
            status,
            &OPEN,
            "changing the music",
        ))
    }
}
