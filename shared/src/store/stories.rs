//! Stories: create, read, edit, and ask to move through the state machine (the
//! moves themselves are the transition engine's, in `transitions`).

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, Func, LikeExpr};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    QueryOrder, Set,
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
    /// Stories of this owner only.
    pub owner: Option<String>,
    /// Stories whose title contains this text, ignoring case.
    pub title: Option<String>,
    /// Created at or after.
    pub created_from: Option<DateTime<Utc>>,
    /// Created before.
    pub created_before: Option<DateTime<Utc>>,
    pub order: StoryOrder,
}

/// The order of a story list.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum StoryOrder {
    #[default]
    Newest,
    Oldest,
    Title,
    Status,
    /// Most spent first.
    Cost,
}

impl StoryOrder {
    pub const ALL: [(Self, &'static str); 5] = [
        (Self::Newest, "newest"),
        (Self::Oldest, "oldest"),
        (Self::Title, "title"),
        (Self::Status, "status"),
        (Self::Cost, "cost"),
    ];

    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(o, _)| *o == self)
            .map_or("newest", |(_, n)| n)
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.iter().find(|(_, n)| *n == name).map(|(o, _)| *o)
    }
}

/// `%` and `_` in `text` match themselves in a LIKE pattern escaped with `\`.
pub(crate) fn like_pattern(text: &str) -> String {
    let mut pattern = String::with_capacity(text.len() + 2);
    pattern.push('%');
    for c in text.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
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
    if let Some(owner) = filter.owner {
        query = query.filter(story::Column::OwnerId.eq(owner));
    }
    if let Some(title) = filter.title.as_deref().filter(|t| !t.is_empty()) {
        query = query.filter(
            Expr::expr(Func::lower(Expr::col(story::Column::Title)))
                .like(LikeExpr::new(like_pattern(title)).escape('\\')),
        );
    }
    if let Some(from) = filter.created_from {
        query = query.filter(story::Column::CreatedAt.gte(from));
    }
    if let Some(before) = filter.created_before {
        query = query.filter(story::Column::CreatedAt.lt(before));
    }
    query = match filter.order {
        StoryOrder::Newest => query.order_by_desc(story::Column::CreatedAt),
        StoryOrder::Oldest => query.order_by_asc(story::Column::CreatedAt),
        StoryOrder::Title => query.order_by_asc(story::Column::Title),
        StoryOrder::Status => query
            .order_by_asc(story::Column::Status)
            .order_by_desc(story::Column::CreatedAt),
        StoryOrder::Cost => query
            .order_by_desc(story::Column::ActualCost)
            .order_by_desc(story::Column::CreatedAt),
    };
    super::fetch_page(db, query.order_by_desc(story::Column::Id), page).await
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
