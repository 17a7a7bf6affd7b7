//! `scenes/`: the ordered scenes of a story (IsStoryOwner).

use ai_video_shared::db::entities::scene;
use ai_video_shared::domain::{CameraMotion, Provider, SceneStatus};
use ai_video_shared::input::{
    BulkCreate, BulkCreateIn, GenerateScene, GenerateSceneIn, ReorderIn, ScenePatchIn,
};
use ai_video_shared::store::scenes::{self, Reorder, SceneFilter, ScenePatch};
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
        .routes(routes!(list_scenes))
        .routes(routes!(bulk_create_scenes))
        .routes(routes!(get_scene, patch_scene))
        .routes(routes!(generate_scene))
        .routes(routes!(reorder_scene))
}

/// What to generate for a scene.
#[derive(Debug, Serialize, ToSchema)]
pub struct PromptOut {
    pub text: String,
    pub negative_prompt: String,
    pub style: String,
    pub camera_motion: CameraMotion,
    pub seed: u32,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SceneOut {
    pub id: Uuid,
    pub story: Uuid,
    /// 1-based; dense and unique within the story.
    pub position: i32,
    pub duration_seconds: i32,
    pub prompt: PromptOut,
    /// What the narrator says over the scene; empty for silence.
    pub narration: String,
    pub status: SceneStatus,
    pub image_url: Option<String>,
    pub clip_url: Option<String>,
    pub provider: Option<Provider>,
    /// Seconds the provider took for image and clip.
    pub generation_time: Option<f64>,
    #[schema(value_type = String, example = "0.0000")]
    pub cost: Decimal,
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl SceneOut {
    pub fn from_model(m: scene::Model, state: &AppState) -> Self {
        let prompt = m.prompt();
        Self {
            image_url: m.image_key.as_deref().map(|k| state.media_url(k)),
            clip_url: m.clip_key.as_deref().map(|k| state.media_url(k)),
            prompt: PromptOut {
                text: prompt.text,
                negative_prompt: prompt.negative_prompt,
                style: prompt.style,
                camera_motion: prompt.camera_motion,
                seed: prompt.seed,
            },
            id: m.id,
            story: m.story_id,
            position: m.position,
            duration_seconds: m.duration_seconds,
            narration: m.narration,
            status: m.status,
            provider: m.provider,
            generation_time: m.generation_time_ms.map(|ms| ms as f64 / 1000.0),
            cost: m.cost.0,
            error: m.error,
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BulkCreateOut {
    pub count: usize,
    pub results: Vec<SceneOut>,
}

/// `?story=` and `?status=` filters.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SceneQuery {
    pub story: Option<Uuid>,
    pub status: Option<SceneStatus>,
}

/// List scenes of the viewer's stories, by story and position.
#[utoipa::path(get, path = "/scenes/", tag = "scenes", params(SceneQuery, PageParams),
    responses((status = 200, body = Paginated<SceneOut>), problems::Auth, problems::Query,
        problems::Page))]
pub async fn list_scenes(
    State(state): State<AppState>,
    Auth(viewer): Auth,
    url: RequestUrl,
    ApiQuery(q): ApiQuery<SceneQuery>,
    ApiQuery(page): ApiQuery<PageParams>,
) -> ApiResult<Json<Paginated<SceneOut>>> {
    let req = page.request()?;
    let filter = SceneFilter {
        story: q.story,
        status: q.status,
    };
    let page = scenes::list(&state.db, &viewer, filter, req).await?;
    Ok(Json(url.paginate(req, page, |m| {
        SceneOut::from_model(m, &state)
    })?))
}

/// Add several scenes to a draft story in one transaction.
#[utoipa::path(post, path = "/scenes/bulk_create/", tag = "scenes", request_body = BulkCreateIn,
    responses((status = 201, body = BulkCreateOut, links(
            ("GetScene" = (operation_id = "get_scene",
                parameters(("id" = "$response.body#/results/0/id")))),
            ("GenerateScene" = (operation_id = "generate_scene",
                parameters(("id" = "$response.body#/results/0/id")))),
            ("ReorderScene" = (operation_id = "reorder_scene",
                parameters(("id" = "$response.body#/results/0/id")))))),
        problems::Auth, problems::Body, problems::Lookup, problems::State))]
pub async fn bulk_create_scenes(
    State(state): State<AppState>,
    Auth(viewer): Auth,
    ApiJson(input): ApiJson<BulkCreateIn>,
) -> ApiResult<(StatusCode, Json<BulkCreateOut>)> {
    let BulkCreate { story, scenes } = input.try_into()?;
    let rows = scenes::bulk_create(&state.db, &viewer, story, scenes).await?;
    let results: Vec<SceneOut> = rows
        .into_iter()
        .map(|m| SceneOut::from_model(m, &state))
        .collect();
    Ok((
        StatusCode::CREATED,
        Json(BulkCreateOut {
            count: results.len(),
            results,
        }),
    ))
}

/// One scene.
#[utoipa::path(get, path = "/scenes/{id}/", tag = "scenes", params(("id" = Uuid, Path)),
    responses((status = 200, body = SceneOut), problems::Auth, problems::Lookup))]
pub async fn get_scene(
    State(state): State<AppState>,
    Auth(viewer): Auth,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<SceneOut>> {
    let (scene, _) = scenes::get(&state.db, &viewer, id).await?;
    Ok(Json(SceneOut::from_model(scene, &state)))
}

/// Edit a scene's prompt or narration while its story is a draft or planned.
#[utoipa::path(patch, path = "/scenes/{id}/", tag = "scenes", params(("id" = Uuid, Path)),
    request_body = ScenePatchIn,
    responses((status = 200, body = SceneOut), problems::Auth, problems::Lookup, problems::Body,
        problems::State))]
pub async fn patch_scene(
    State(state): State<AppState>,
    Auth(viewer): Auth,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(input): ApiJson<ScenePatchIn>,
) -> ApiResult<Json<SceneOut>> {
    let patch = ScenePatch::try_from(input)?;
    let scene = scenes::update(&state.db, &viewer, id, patch).await?;
    Ok(Json(SceneOut::from_model(scene, &state)))
}

/// Queue the keyframe and clip of one scene of a planned story.
#[utoipa::path(post, path = "/scenes/{id}/generate/", tag = "scenes", params(("id" = Uuid, Path)),
    request_body(content = Option<GenerateSceneIn>),
    responses((status = 202, body = JobOut), problems::Auth, problems::Lookup, problems::Body,
        problems::State))]
pub async fn generate_scene(
    State(state): State<AppState>,
    Auth(viewer): Auth,
    ApiPath(id): ApiPath<Uuid>,
    OptionalJson(input): OptionalJson<GenerateSceneIn>,
) -> ApiResult<(StatusCode, Json<JobOut>)> {
    let GenerateScene { quality, priority } = input.try_into()?;
    let work = state.work_options(priority);
    let job = scenes::generate(&state.db, &viewer, id, quality, work).await?;
    state.relay.wake();
    Ok((StatusCode::ACCEPTED, Json(JobOut::new(job, &state))))
}

/// Reorder the scenes of this scene's story; positions stay dense and unique.
#[utoipa::path(post, path = "/scenes/{id}/reorder/", tag = "scenes", params(("id" = Uuid, Path)),
    request_body = ReorderIn,
    responses((status = 200, body = Vec<SceneOut>), problems::Auth, problems::Lookup,
        problems::Body, problems::State))]
pub async fn reorder_scene(
    State(state): State<AppState>,
    Auth(viewer): Auth,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(input): ApiJson<ReorderIn>,
) -> ApiResult<Json<Vec<SceneOut>>> {
    let request = Reorder::try_from(input)?;
    let rows = scenes::reorder(&state.db, &viewer, id, request).await?;
    Ok(Json(
        rows.into_iter()
            .map(|m| SceneOut::from_model(m, &state))
            .collect(),
    ))
}
