//! `scenes/`: the ordered scenes of a story (IsStoryOwner).

use ai_video_shared::db::entities::scene;
use ai_video_shared::domain::{
    CameraMotion, Priority, Provider, RenderQuality, SceneDuration, ScenePrompt, SceneStatus,
};
use ai_video_shared::store::WorkOptions;
use ai_video_shared::store::scenes::{self, NewScene, Reorder, SceneFilter};
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
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiPath, ApiQuery, OptionalJson};
use crate::pagination::{PageParams, Paginated, RequestUrl};
use crate::validate::{Checked, FieldErrors, nonblank, text, text_or_null};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_scenes))
        .routes(routes!(bulk_create_scenes))
        .routes(routes!(get_scene))
        .routes(routes!(generate_scene))
        .routes(routes!(reorder_scene))
}

/// Most scenes accepted in one `bulk_create`.
const BULK_MAX: usize = 200;

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

/// A scene's prompt.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PromptIn {
    /// 1 to 2000 characters, any language; not blank.
    #[schema(schema_with = nonblank::<{ ScenePrompt::MAX_TEXT_CHARS }>)]
    pub text: String,
    #[serde(default)]
    #[schema(schema_with = text::<{ ScenePrompt::MAX_TEXT_CHARS }>)]
    pub negative_prompt: String,
    /// Default: the story's style.
    #[schema(schema_with = text_or_null::<{ ScenePrompt::MAX_STYLE_CHARS }>)]
    pub style: Option<String>,
    /// Default `static`.
    #[schema(value_type = Option<CameraMotion>)]
    pub camera_motion: Option<Checked<CameraMotion>>,
    /// 0 to 4294967294; default 0.
    #[serde(default)]
    #[schema(value_type = u32, minimum = 0, maximum = 4294967294_u32)]
    pub seed: i64,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SceneIn {
    /// Where to put the scene (1-based); default: after the last one.
    #[schema(value_type = Option<u32>, minimum = 1, maximum = 4294967295_u32)]
    pub position: Option<i64>,
    /// 1 to 30 seconds.
    #[schema(minimum = 1, maximum = 30)]
    pub duration_seconds: i64,
    pub prompt: PromptIn,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkCreateIn {
    /// The story to add to (`story_id` is accepted too); it must be a draft.
    #[serde(alias = "story_id")]
    pub story: Uuid,
    /// 1 to 200 scenes, created together or not at all.
    #[schema(min_items = 1, max_items = 200)]
    pub scenes: Vec<SceneIn>,
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
    if input.scenes.is_empty() || input.scenes.len() > BULK_MAX {
        return Err(ApiError::field(
            "scenes",
            format!(
                "Send between 1 and {BULK_MAX} scenes (got {}).",
                input.scenes.len()
            ),
        ));
    }
    let story = ai_video_shared::store::stories::get(&state.db, &viewer, input.story).await?;
    let mut errors = FieldErrors::default();
    let mut new = Vec::with_capacity(input.scenes.len());
    for (i, s) in input.scenes.into_iter().enumerate() {
        let f = |name: &str| format!("scenes[{i}].{name}");
        let position = match s.position {
            None => None,
            Some(p) if (1..=i64::from(u32::MAX)).contains(&p) => Some(p as u32),
            Some(_) => {
                errors.add(f("position"), "Positions start at 1.");
                None
            }
        };
        let duration = errors.check(
            &f("duration_seconds"),
            SceneDuration::new(s.duration_seconds),
        );
        let camera_motion = s
            .prompt
            .camera_motion
            .and_then(|m| errors.take(&f("prompt.camera_motion"), m));
        let seed = match u32::try_from(s.prompt.seed) {
            Ok(seed) if seed <= ScenePrompt::MAX_SEED => Some(seed),
            _ => {
                errors.add(
                    f("prompt.seed"),
                    format!("Must be between 0 and {}.", ScenePrompt::MAX_SEED),
                );
                None
            }
        };
        let prompt = ScenePrompt {
            text: s.prompt.text,
            negative_prompt: s.prompt.negative_prompt,
            style: s.prompt.style.unwrap_or_else(|| story.style.clone()),
            camera_motion: camera_motion.unwrap_or_default(),
            seed: seed.unwrap_or_default(),
        };
        errors.text(
            &f("prompt.text"),
            &prompt.text,
            ScenePrompt::MAX_TEXT_CHARS,
            true,
        );
        errors.text(
            &f("prompt.negative_prompt"),
            &prompt.negative_prompt,
            ScenePrompt::MAX_TEXT_CHARS,
            false,
        );
        errors.text(
            &f("prompt.style"),
            &prompt.style,
            ScenePrompt::MAX_STYLE_CHARS,
            false,
        );
        if let Some(duration) = duration {
            new.push(NewScene {
                position,
                duration,
                prompt,
            });
        }
    }
    errors.finish()?;
    let rows = scenes::bulk_create(&state.db, &viewer, story.id, new).await?;
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

/// Options of a one-scene generation; the body may be omitted.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GenerateSceneIn {
    /// `preview` (default) or `final`.
    #[schema(value_type = Option<RenderQuality>)]
    pub quality: Option<Checked<RenderQuality>>,
    #[schema(value_type = Option<u32>, minimum = 1, maximum = 10)]
    pub priority: Option<Checked<Priority>>,
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
    let mut errors = FieldErrors::default();
    let priority = input.priority.and_then(|p| errors.take("priority", p));
    let quality = input.quality.and_then(|q| errors.take("quality", q));
    errors.finish()?;
    let quality = quality.unwrap_or(RenderQuality::Preview);
    let work = WorkOptions {
        priority,
        retry: state.config.job_retry,
        quotas: Some(state.config.quotas),
    };
    let job = scenes::generate(&state.db, &viewer, id, quality, work).await?;
    state.relay.wake();
    Ok((StatusCode::ACCEPTED, Json(JobOut::new(job, &state))))
}

/// One scene's new position.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PositionIn {
    pub scene_id: Uuid,
    #[schema(value_type = u32, minimum = 1, maximum = 4294967295_u32)]
    pub position: i64,
}

/// Either `position` (move this scene there; the scenes in between shift) or
/// `positions` (place several scenes of the story at once; the rest keep their order).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReorderIn {
    pub position: Option<i64>,
    pub positions: Option<Vec<PositionIn>>,
}

/// Exactly one of the two forms, as [`reorder_scene`] accepts them (a null member
/// is an absent one).
impl utoipa::PartialSchema for ReorderIn {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{
            AdditionalProperties, ArrayBuilder, ObjectBuilder, OneOfBuilder, Type,
        };
        let null = || ObjectBuilder::new().schema_type(Type::Null);
        let form = |name: &str, value: utoipa::openapi::RefOr<_>, other: &str, doc: &str| {
            ObjectBuilder::new()
                .description(Some(doc))
                .property(name, value)
                .required(name)
                .property(other, null())
                .additional_properties(Some(
                    AdditionalProperties::<utoipa::openapi::schema::Schema>::FreeForm(false),
                ))
        };
        let position = ObjectBuilder::new()
            .schema_type(Type::Integer)
            .minimum(Some(1))
            .maximum(Some(u32::MAX));
        let positions = ArrayBuilder::new()
            .items(PositionIn::schema())
            .min_items(Some(1));
        OneOfBuilder::new()
            .description(Some(
                "Either `position` or a non-empty `positions` list, not both.",
            ))
            .item(form(
                "position",
                position.into(),
                "positions",
                "Move this scene to `position`; the scenes in between shift.",
            ))
            .item(form(
                "positions",
                positions.into(),
                "position",
                "Place several scenes of the story at once; the rest keep their order.",
            ))
            .into()
    }
}

impl ToSchema for ReorderIn {}

fn position(field: &str, p: i64) -> ApiResult<u32> {
    u32::try_from(p)
        .ok()
        .filter(|p| *p >= 1)
        .ok_or_else(|| ApiError::field(field, "Positions start at 1."))
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
    let request = match (input.position, input.positions) {
        (Some(p), None) => Reorder::MoveTo(position("position", p)?),
        (None, Some(list)) if !list.is_empty() => Reorder::Assign(
            list.into_iter()
                .enumerate()
                .map(|(i, item)| {
                    Ok((
                        item.scene_id,
                        position(&format!("positions[{i}].position"), item.position)?,
                    ))
                })
                .collect::<ApiResult<_>>()?,
        ),
        _ => {
            return Err(ApiError::field(
                "non_field_errors",
                "Send either \"position\" or a non-empty \"positions\" list.",
            ));
        }
    };
    let rows = scenes::reorder(&state.db, &viewer, id, request).await?;
    Ok(Json(
        rows.into_iter()
            .map(|m| SceneOut::from_model(m, &state))
            .collect(),
    ))
}
