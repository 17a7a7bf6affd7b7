//! `stories/`: the story aggregate and its transitions (IsOwnerOrReadOnly,
//! IsStoryOwner, CanTransitionStory).

use ai_video_shared::db::entities::{story, transition};
use ai_video_shared::domain::{
    Actor, AspectRatio, CostEstimate, Priority, Provider, ProviderRole, StoryDuration, StoryStatus,
    legal_targets,
};
use ai_video_shared::store::WorkOptions;
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
use crate::validate::{Checked, FieldErrors, nonblank, nonblank_or_null, text, text_or_null};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_stories, create_story))
        .routes(routes!(get_story, patch_story))
        .routes(routes!(transition_story))
        .routes(routes!(list_story_transitions))
        .routes(routes!(generate_preview))
        .routes(routes!(render_final))
}

const TITLE_MAX: usize = 200;
const SYNOPSIS_MAX: usize = 10_000;
const STYLE_MAX: usize = 64;
const REASON_MAX: usize = 500;

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
    pub last_error: Option<String>,
    /// Increases with every change; send it back in a PATCH to refuse lost updates.
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl StoryOut {
    pub fn from_model(m: story::Model, state: &AppState) -> Self {
        Self {
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

/// A new story.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StoryIn {
    /// 1 to 200 characters, not blank.
    #[schema(schema_with = nonblank::<TITLE_MAX>)]
    pub title: String,
    /// What happens; planning derives scene prompts from its sentences.
    #[serde(default)]
    #[schema(schema_with = text::<SYNOPSIS_MAX>)]
    pub synopsis: String,
    /// Visual style, e.g. `cinematic`; default `cinematic`.
    #[schema(schema_with = text_or_null::<STYLE_MAX>)]
    pub style: Option<String>,
    /// 1 to 600 seconds.
    #[schema(minimum = 1, maximum = 600)]
    pub duration_seconds: i64,
    /// Default `16:9`.
    #[schema(value_type = Option<AspectRatio>)]
    pub aspect_ratio: Option<Checked<AspectRatio>>,
    /// Default from `DEFAULT_IMAGE_PROVIDER`.
    #[schema(value_type = Option<Provider>)]
    pub image_provider: Option<Checked<Provider>>,
    /// Default from `DEFAULT_VIDEO_PROVIDER`.
    #[schema(value_type = Option<VideoProvider>)]
    pub video_provider: Option<Checked<Provider>>,
}

/// Changes to a story. Only the title may change after planning started.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StoryPatchIn {
    #[schema(schema_with = nonblank_or_null::<TITLE_MAX>)]
    pub title: Option<String>,
    #[schema(schema_with = text_or_null::<SYNOPSIS_MAX>)]
    pub synopsis: Option<String>,
    #[schema(schema_with = text_or_null::<STYLE_MAX>)]
    pub style: Option<String>,
    #[schema(minimum = 1, maximum = 600)]
    pub duration_seconds: Option<i64>,
    #[schema(value_type = Option<AspectRatio>)]
    pub aspect_ratio: Option<Checked<AspectRatio>>,
    #[schema(value_type = Option<Provider>)]
    pub image_provider: Option<Checked<Provider>>,
    #[schema(value_type = Option<VideoProvider>)]
    pub video_provider: Option<Checked<Provider>>,
    /// The version the client last saw; the update is refused (409) if the story
    /// moved on since.
    pub version: Option<i32>,
}

/// The choice fields of a story body, each one checked (a provider also for the
/// role it is chosen for).
fn check_choices(
    errors: &mut FieldErrors,
    aspect_ratio: Option<Checked<AspectRatio>>,
    image_provider: Option<Checked<Provider>>,
    video_provider: Option<Checked<Provider>>,
) -> (Option<AspectRatio>, Option<Provider>, Option<Provider>) {
    let mut provider = |field: &str, role: ProviderRole, value: Option<Checked<Provider>>| {
        let chosen = errors.take(field, value?)?;
        errors.check(field, chosen.for_role(role))
    };
    let image = provider("image_provider", ProviderRole::Image, image_provider);
    let video = provider("video_provider", ProviderRole::Video, video_provider);
    let aspect_ratio = aspect_ratio.and_then(|v| errors.take("aspect_ratio", v));
    (aspect_ratio, image, video)
}

/// The providers that can make a story's clips: every provider but Stability AI.
struct VideoProvider;

impl utoipa::PartialSchema for VideoProvider {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        let names = Provider::ALL
            .iter()
            .filter(|p| p.serves(ProviderRole::Video))
            .map(|p| p.as_str());
        utoipa::openapi::schema::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .enum_values(Some(names))
            .into()
    }
}

impl ToSchema for VideoProvider {}

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
    let page = stories::list(&state.db, &viewer, StoryFilter { status: q.status }, req).await?;
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
    let mut errors = FieldErrors::default();
    errors.text("title", &input.title, TITLE_MAX, true);
    errors.text("synopsis", &input.synopsis, SYNOPSIS_MAX, false);
    let style = input.style.unwrap_or_else(|| "cinematic".into());
    errors.text("style", &style, STYLE_MAX, false);
    let duration = errors.check(
        "duration_seconds",
        StoryDuration::new(input.duration_seconds),
    );
    let (aspect_ratio, image_provider, video_provider) = check_choices(
        &mut errors,
        input.aspect_ratio,
        input.image_provider,
        input.video_provider,
    );
    errors.finish()?;
    let new = NewStory {
        title: input.title.trim().to_string(),
        synopsis: input.synopsis,
        style,
        duration: duration.expect("checked above"),
        aspect_ratio: aspect_ratio.unwrap_or_default(),
        image_provider: image_provider.unwrap_or(state.config.default_image_provider),
        video_provider: video_provider.unwrap_or(state.config.default_video_provider),
    };
    let story = stories::create(&state.db, &viewer, new).await?;
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
    let mut errors = FieldErrors::default();
    if let Some(t) = &input.title {
        errors.text("title", t, TITLE_MAX, true);
    }
    if let Some(s) = &input.synopsis {
        errors.text("synopsis", s, SYNOPSIS_MAX, false);
    }
    if let Some(s) = &input.style {
        errors.text("style", s, STYLE_MAX, false);
    }
    let duration = match input.duration_seconds {
        Some(d) => errors.check("duration_seconds", StoryDuration::new(d)),
        None => None,
    };
    let (aspect_ratio, image_provider, video_provider) = check_choices(
        &mut errors,
        input.aspect_ratio,
        input.image_provider,
        input.video_provider,
    );
    errors.finish()?;
    let patch = StoryPatch {
        title: input.title.map(|t| t.trim().to_string()),
        synopsis: input.synopsis,
        style: input.style,
        duration,
        aspect_ratio,
        image_provider,
        video_provider,
        expected_version: input.version,
    };
    let story = stories::update(&state.db, &viewer, id, patch).await?;
    Ok(Json(StoryOut::from_model(story, &state)))
}

/// A requested status change.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransitionIn {
    /// The target status (`status` and `target_status` are accepted too).
    #[serde(alias = "status", alias = "target_status")]
    #[schema(value_type = StoryStatus)]
    pub to: Checked<StoryStatus>,
    /// Recorded in the transition log; at most 500 characters.
    #[schema(schema_with = text_or_null::<REASON_MAX>)]
    pub reason: Option<String>,
    /// Priority of the job the move queues, 1 (highest) to 10; default 5.
    #[schema(value_type = Option<u32>, minimum = 1, maximum = 10)]
    pub priority: Option<Checked<Priority>>,
}

/// Options of `generate_preview` and `render_final`; the body may be omitted.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WorkIn {
    /// 1 (highest) to 10; default 5.
    #[schema(value_type = Option<u32>, minimum = 1, maximum = 10)]
    pub priority: Option<Checked<Priority>>,
    #[schema(schema_with = text_or_null::<REASON_MAX>)]
    pub reason: Option<String>,
}

/// The story after a transition, and the job it queued.
#[derive(Debug, Serialize, ToSchema)]
pub struct TransitionOut {
    pub story: StoryOut,
    pub job: Option<JobOut>,
}

fn check_work_fields(
    errors: &mut FieldErrors,
    priority: Option<Checked<Priority>>,
    reason: Option<&str>,
) -> Option<Priority> {
    let priority = priority.and_then(|p| errors.take("priority", p));
    if let Some(r) = reason {
        errors.text("reason", r, REASON_MAX, false);
    }
    priority
}

/// The options of `generate_preview` and `render_final`, checked: the priority of
/// the job and the reason to log.
fn work_options(input: WorkIn) -> ApiResult<(Option<Priority>, Option<String>)> {
    let mut errors = FieldErrors::default();
    let priority = check_work_fields(&mut errors, input.priority, input.reason.as_deref());
    errors.finish()?;
    Ok((priority, input.reason))
}

async fn run_transition(
    state: &AppState,
    viewer: &ai_video_shared::store::Viewer,
    id: Uuid,
    to: StoryStatus,
    reason: Option<String>,
    priority: Option<Priority>,
) -> ApiResult<TransitionOut> {
    let work = WorkOptions {
        priority,
        retry: state.config.job_retry,
        quotas: Some(state.config.quotas),
    };
    let TransitionOutcome {
        story,
        job,
        cancelled,
    } = stories::transition(&state.db, viewer, id, to, reason, work).await?;
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
    let mut errors = FieldErrors::default();
    let to = errors.take("to", input.to);
    let priority = check_work_fields(&mut errors, input.priority, input.reason.as_deref());
    errors.finish()?;
    let to = to.expect("checked above");
    let out = run_transition(&state, &viewer, id, to, input.reason, priority).await?;
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
    let (priority, reason) = work_options(input)?;
    let out = run_transition(
        &state,
        &viewer,
        id,
        StoryStatus::Previewing,
        reason,
        priority,
    )
    .await?;
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
    let (priority, reason) = work_options(input)?;
    let out = run_transition(
        &state,
        &viewer,
        id,
        StoryStatus::Rendering,
        reason,
        priority,
    )
    .await?;
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
