//! `stories/`: the story aggregate and its transitions (IsOwnerOrReadOnly,
//! IsStoryOwner, CanTransitionStory).

use ai_video_shared::db::entities::{story, transition};
use ai_video_shared::domain::{
    Actor, AspectRatio, CostEstimate, FilmOptions, Language, MusicBed, Provider, RenderQuality,
    StoryBible, StoryStatus, legal_targets,
};
use ai_video_shared::input::{StoryIn, StoryPatchIn, Transition, TransitionIn, WorkIn};
use ai_video_shared::storage;
use ai_video_shared::store::stories::{self, NewStory, StoryFilter, StoryPatch, TransitionOutcome};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::jobs::JobOut;
use super::problems;
use crate::AppState;
use crate::auth::Auth;
use crate::error::ApiResult;
use crate::extract::{ApiJson, ApiPath, ApiQuery, OptionalJson};
use crate::pagination::{PageParams, Paginated, RequestUrl};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_stories, create_story))
        .routes(routes!(get_story, patch_story))
        .routes(routes!(transition_story))
        .routes(routes!(list_story_transitions))
        .routes(routes!(generate_preview))
        .routes(routes!(render_final))
}

/// A story as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct StoryOut {
    pub id: Uuid,
    /// The owner's user id (the token's `sub` or `user_id`).
    pub owner: String,
    pub title: String,
    pub synopsis: String,
    pub style: String,
    pub duration_seconds: i32,
    pub aspect_ratio: AspectRatio,
    /// The language the narrator speaks.
    pub language: Language,
    /// Planner, narrator, captions and transitions.
    pub film: FilmOptions,
    /// The characters, setting and palette the LLM planner wrote for the scenes.
    pub bible: Option<StoryBible>,
    /// The music bed under the narration (`POST stories/{id}/music/`).
    pub music: Option<MusicBed>,
    pub status: StoryStatus,
    /// Where the owner may move the story from here.
    pub legal_transitions: Vec<StoryStatus>,
    pub image_provider: Provider,
    pub video_provider: Provider,
    /// Total of `cost_estimate`, once planning has run.
    #[schema(value_type = Option<String>, example = "2.6800")]
    pub estimated_cost: Option<Decimal>,
    pub cost_estimate: Option<CostEstimate>,
    /// What the jobs of this story really cost so far.
    #[schema(value_type = String, example = "0.0000")]
    pub actual_cost: Decimal,
    pub preview_url: Option<String>,
    pub final_url: Option<String>,
    /// The narration's captions of the preview, once it is ready.
    pub preview_captions: Option<CaptionsOut>,
    /// The narration's captions of the final video, once it is ready.
    pub final_captions: Option<CaptionsOut>,
    pub last_error: Option<String>,
    /// Increases with every change; send it back in a PATCH to refuse lost updates.
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Captions beside a video, one cue per narration sentence.
#[derive(Debug, Serialize, ToSchema)]
pub struct CaptionsOut {
    /// WebVTT (`<track>` in a browser).
    pub vtt: String,
    /// SubRip.
    pub srt: String,
}

impl CaptionsOut {
    fn of(state: &AppState, story: Uuid, quality: RenderQuality) -> Self {
        let link = |ext| state.media_url(&storage::keys::captions(story, quality, ext));
        Self {
            vtt: link("vtt"),
            srt: link("srt"),
        }
    }
}

impl StoryOut {
    pub fn from_model(m: story::Model, state: &AppState) -> Self {
        Self {
            preview_captions: m
                .preview_key
                .as_ref()
                .map(|_| CaptionsOut::of(state, m.id, RenderQuality::Preview)),
            final_captions: m
                .final_key
                .as_ref()
                .map(|_| CaptionsOut::of(state, m.id, RenderQuality::Final)),
            legal_transitions: legal_targets(m.status, Actor::Owner, m.facts()),
            preview_url: m.preview_key.as_deref().map(|k| state.media_url(k)),
            final_url: m.final_key.as_deref().map(|k| state.media_url(k)),
            cost_estimate: m.cost_estimate.and_then(|v| serde_json::from_value(v).ok()),
            id: m.id,
            owner: m.owner_id,
            title: m.title,
            synopsis: m.synopsis,
            style: m.style,
            duration_seconds: m.duration_seconds,
            aspect_ratio: m.aspect_ratio,
            language: m.language,
            film: FilmOptions::from_stored(m.film.as_ref()),
            bible: m.bible.and_then(|v| serde_json::from_value(v).ok()),
            music: MusicBed::from_stored(m.music.as_ref()),
            status: m.status,
            image_provider: m.image_provider,
            video_provider: m.video_provider,
            estimated_cost: m.estimated_cost.map(|c| c.0),
            actual_cost: m.actual_cost.0,
            last_error: m.last_error,
            version: m.version,
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}

/// `?status=` filter.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StoryQuery {
    pub status: Option<StoryStatus>,
}

/// List the viewer's stories (admins: everyone's), newest first.
#[utoipa::path(get, path = "/stories/", tag = "stories", params(StoryQuery, PageParams),
    responses((status = 200, body = Paginated<StoryOut>), problems::Auth, problems::Query,
        problems::Page))]
pub async fn list_stories(
    State(state): State<AppState>,
    Auth(viewer): Auth,
    url: RequestUrl,
    ApiQuery(q): ApiQuery<StoryQuery>,
    ApiQuery(page): ApiQuery<PageParams>,
) -> ApiResult<Json<Paginated<StoryOut>>> {
    let req = page.request()?;
    let filter = StoryFilter {
        status: q.status,
        ..StoryFilter::default()
    };
    let page = stories::list(&state.db, &viewer, filter, req).await?;
    Ok(Json(url.paginate(req, page, |m| {
        StoryOut::from_model(m, &state)
    })?))
}

/// Create a story in `draft`.
#[utoipa::path(post, path = "/stories/", tag = "stories", request_body = StoryIn,
    responses((status = 201, body = StoryOut, links(("AddScenes" = (
            operation_id = "bulk_create_scenes",
            request_body = json!({"story": "$response.body#/id"}),
            description = "Add scenes to the new story")))),
        problems::Auth, problems::Body))]
pub async fn create_story(
    State(state): State<AppState>,
    Auth(viewer): Auth,
    ApiJson(input): ApiJson<StoryIn>,
) -> ApiResult<(StatusCode, Json<StoryOut>)> {
    let new = NewStory::try_from(input)?;
    let story = stories::create(&state.db, &viewer, new, state.default_providers()).await?;
    tracing::info!(story.id = %story.id, "story created");
    Ok((
        StatusCode::CREATED,
        Json(StoryOut::from_model(story, &state)),
    ))
}

/// One story.
#[utoipa::path(get, path = "/stories/{id}/", tag = "stories", params(("id" = Uuid, Path)),
    responses((status = 200, body = StoryOut), problems::Auth, problems::Lookup))]
pub async fn get_story(
    State(state): State<AppState>,
    Auth(viewer): Auth,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<StoryOut>> {
    let story = stories::get(&state.db, &viewer, id).await?;
    Ok(Json(StoryOut::from_model(story, &state)))
}

/// Edit a story: any field while it is a draft, the title at any time.
#[utoipa::path(patch, path = "/stories/{id}/", tag = "stories", params(("id" = Uuid, Path)),
    request_body = StoryPatchIn,
    responses((status = 200, body = StoryOut), problems::Auth, problems::Lookup, problems::Body,
        problems::State))]
pub async fn patch_story(
    State(state): State<AppState>,
    Auth(viewer): Auth,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(input): ApiJson<StoryPatchIn>,
) -> ApiResult<Json<StoryOut>> {
    let patch = StoryPatch::try_from(input)?;
    let story = stories::update(&state.db, &viewer, id, patch).await?;
    Ok(Json(StoryOut::from_model(story, &state)))
}

/// The story after a transition, and the job it queued.
#[derive(Debug, Serialize, ToSchema)]
pub struct TransitionOut {
    pub story: StoryOut,
    pub job: Option<JobOut>,
}

async fn run_transition(
    state: &AppState,
    viewer: &ai_video_shared::store::Viewer,
    id: Uuid,
    Transition { to, work }: Transition,
) -> ApiResult<TransitionOut> {
    let options = state.work_options(work.priority);
    let TransitionOutcome {
        story,
        job,
        cancelled,
    } = stories::transition(&state.db, viewer, id, to, work.reason, options).await?;
    if job.is_some() {
        state.relay.wake();
    }
    state.announce_cancelled(cancelled);
    tracing::info!(story.id = %story.id, to = %to, "story transition");
    Ok(TransitionOut {
        story: StoryOut::from_model(story, state),
        job: job.map(|j| JobOut::new(j, state)),
    })
}

/// Move a story to another status. Illegal moves answer 409 with the legal targets;
/// moves that start work queue the job in the same transaction.
#[utoipa::path(post, path = "/stories/{id}/transition/", tag = "stories",
    params(("id" = Uuid, Path)), request_body = TransitionIn,
    responses((status = 200, body = TransitionOut, links(
            ("GetJob" = (operation_id = "get_job", parameters(("id" = "$response.body#/job/id")))),
            ("CancelJob" = (operation_id = "cancel_job",
                parameters(("id" = "$response.body#/job/id")))),
            ("RetryJob" = (operation_id = "retry_job",
                parameters(("id" = "$response.body#/job/id")))))),
        problems::Auth, problems::Lookup, problems::Body, problems::State, problems::Spend))]
pub async fn transition_story(
    State(state): State<AppState>,
    Auth(viewer): Auth,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(input): ApiJson<TransitionIn>,
) -> ApiResult<Json<TransitionOut>> {
    let out = run_transition(&state, &viewer, id, input.try_into()?).await?;
    Ok(Json(out))
}

/// Start the preview of a planned story: one scene job per scene, then the
/// low-resolution preview, assembled once the last scene is done.
#[utoipa::path(post, path = "/stories/{id}/generate_preview/", tag = "stories",
    params(("id" = Uuid, Path)), request_body(content = Option<WorkIn>),
    responses((status = 202, body = TransitionOut), problems::Auth, problems::Lookup,
        problems::Body, problems::State, problems::Spend))]
pub async fn generate_preview(
    State(state): State<AppState>,
    Auth(viewer): Auth,
    ApiPath(id): ApiPath<Uuid>,
    OptionalJson(input): OptionalJson<WorkIn>,
) -> ApiResult<(StatusCode, Json<TransitionOut>)> {
    let to = StoryStatus::Previewing;
    let transition = Transition {
        to,
        work: input.try_into()?,
    };
    let out = run_transition(&state, &viewer, id, transition).await?;
    Ok((StatusCode::ACCEPTED, Json(out)))
}

/// Render the final video of a previewed story, once its preview is ready.
#[utoipa::path(post, path = "/stories/{id}/render_final/", tag = "stories",
    params(("id" = Uuid, Path)), request_body(content = Option<WorkIn>),
    responses((status = 202, body = TransitionOut), problems::Auth, problems::Lookup,
        problems::Body, problems::State, problems::Spend))]
pub async fn render_final(
    State(state): State<AppState>,
    Auth(viewer): Auth,
    ApiPath(id): ApiPath<Uuid>,
    OptionalJson(input): OptionalJson<WorkIn>,
) -> ApiResult<(StatusCode, Json<TransitionOut>)> {
    let to = StoryStatus::Rendering;
    let transition = Transition {
        to,
        work: input.try_into()?,
    };
    let out = run_transition(&state, &viewer, id, transition).await?;
    Ok((StatusCode::ACCEPTED, Json(out)))
}

/// One entry of the transition log.
#[derive(Debug, Serialize, ToSchema)]
pub struct TransitionLogOut {
    pub id: Uuid,
    pub from_status: StoryStatus,
    pub to_status: StoryStatus,
    /// A user id, or `worker`.
    pub actor: String,
    pub reason: String,
    pub job: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}

impl From<transition::Model> for TransitionLogOut {
    fn from(t: transition::Model) -> Self {
        Self {
            id: t.id,
            from_status: t.from_status,
            to_status: t.to_status,
            actor: t.actor,
            reason: t.reason,
            job: t.job_id,
            created_at: t.created_at,
        }
    }
}

/// The story's transition log, oldest first.
#[utoipa::path(get, path = "/stories/{id}/transitions/", tag = "stories",
    params(("id" = Uuid, Path), PageParams),
    responses((status = 200, body = Paginated<TransitionLogOut>), problems::Auth, problems::Lookup,
        problems::Query, problems::Page))]
pub async fn list_story_transitions(
    State(state): State<AppState>,
    Auth(viewer): Auth,
    ApiPath(id): ApiPath<Uuid>,
    url: RequestUrl,
    ApiQuery(page): ApiQuery<PageParams>,
) -> ApiResult<Json<Paginated<TransitionLogOut>>> {
    let req = page.request()?;
    let log = stories::transitions(&state.db, &viewer, id, req).await?;
    Ok(Json(url.paginate(req, log, TransitionLogOut::from)?))
}
