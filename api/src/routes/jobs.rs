//! `jobs/`: queued work, its outcome, retry and cancel (IsJobOwner).

use ai_video_shared::db::entities::job;
use ai_video_shared::domain::{JobKind, JobStatus, Provider};
use ai_video_shared::store::jobs::{self, JobFilter};
use ai_video_shared::store::statistics::{self, JobStatistics};
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

use super::problems;
use crate::AppState;
use crate::auth::Auth;
use crate::error::ApiResult;
use crate::extract::{ApiPath, ApiQuery};
use crate::pagination::{PageParams, Paginated, RequestUrl};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_jobs))
        .routes(routes!(job_statistics))
        .routes(routes!(get_job))
        .routes(routes!(retry_job))
        .routes(routes!(cancel_job))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct JobOut {
    pub id: Uuid,
    pub story: Uuid,
    pub scene: Option<Uuid>,
    /// The preview or render job this scene job feeds.
    pub parent: Option<Uuid>,
    /// The job this one retries.
    pub retry_of: Option<Uuid>,
    pub kind: JobKind,
    /// The queue name of the kind, as the seed's workers know it.
    pub name: String,
    pub status: JobStatus,
    /// 1 (highest) to 10.
    pub priority: i32,
    /// Runs started so far.
    pub attempt: i32,
    pub max_attempts: i32,
    /// How far a running job is, 0 to 1, as its provider reports.
    pub progress: Option<f64>,
    pub parameters: serde_json::Value,
    pub last_error: Option<String>,
    /// `{success, result: {preview_url, metadata, generation_time}, error}` once finished.
    pub result: Option<serde_json::Value>,
    pub provider: Option<Provider>,
    #[schema(value_type = Option<String>, example = "0.0200")]
    pub cost: Option<Decimal>,
    /// The BullMQ job id, `story_<story-id>_<job-id>`.
    pub queue_id: String,
    pub queued_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl JobOut {
    /// The job as answered: the media link in its result (the worker's
    /// `preview_url`) signed like every other media URL.
    pub fn new(m: job::Model, state: &AppState) -> Self {
        let mut out = Self::from(m);
        if let Some(url) = out
            .result
            .as_mut()
            .and_then(|r| r.pointer_mut("/result/preview_url"))
            && let Some(key) = url.as_str().and_then(|u| u.strip_prefix("/media/"))
        {
            *url = serde_json::Value::String(state.media_url(key));
        }
        out
    }
}

impl From<job::Model> for JobOut {
    fn from(m: job::Model) -> Self {
        Self {
            id: m.id,
            story: m.story_id,
            scene: m.scene_id,
            parent: m.parent_id,
            retry_of: m.retry_of,
            kind: m.kind,
            name: m.kind.queue_name().to_string(),
            status: m.status,
            priority: m.priority,
            attempt: m.attempt,
            max_attempts: m.max_attempts,
            progress: m.progress,
            parameters: m.parameters,
            last_error: m.last_error,
            result: m.result,
            provider: m.provider,
            cost: m.cost.map(|c| c.0),
            queue_id: m.queue_id,
            queued_at: m.queued_at,
            started_at: m.started_at,
            finished_at: m.finished_at,
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}

/// `?kind=`, `?status=` and `?story=` filters.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct JobQuery {
    pub kind: Option<JobKind>,
    pub status: Option<JobStatus>,
    pub story: Option<Uuid>,
}

/// List the viewer's jobs (admins: everyone's), newest first.
#[utoipa::path(get, path = "/jobs/", tag = "jobs", params(JobQuery, PageParams),
    responses((status = 200, body = Paginated<JobOut>), problems::Auth, problems::Query,
        problems::Page))]
pub async fn list_jobs(
    State(state): State<AppState>,
    Auth(viewer): Auth,
    url: RequestUrl,
    ApiQuery(q): ApiQuery<JobQuery>,
    ApiQuery(page): ApiQuery<PageParams>,
) -> ApiResult<Json<Paginated<JobOut>>> {
    let req = page.request()?;
    let filter = JobFilter {
        kind: q.kind,
        status: q.status,
        story: q.story,
        provider: None,
    };
    let page = jobs::list(&state.db, &viewer, filter, req).await?;
    Ok(Json(url.paginate(req, page, |j| JobOut::new(j, &state))?))
}

/// One job.
#[utoipa::path(get, path = "/jobs/{id}/", tag = "jobs", params(("id" = Uuid, Path)),
    responses((status = 200, body = JobOut), problems::Auth, problems::Lookup))]
pub async fn get_job(
    State(state): State<AppState>,
    Auth(viewer): Auth,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<JobOut>> {
    Ok(Json(JobOut::new(
        jobs::get(&state.db, &viewer, id).await?,
        &state,
    )))
}

/// Run a failed or cancelled job again, as a new job.
#[utoipa::path(post, path = "/jobs/{id}/retry/", tag = "jobs", params(("id" = Uuid, Path)),
    responses((status = 202, body = JobOut), problems::Auth, problems::Lookup, problems::State,
        problems::Spend))]
pub async fn retry_job(
    State(state): State<AppState>,
    Auth(viewer): Auth,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<(StatusCode, Json<JobOut>)> {
    let job = jobs::retry(
        &state.db,
        &viewer,
        id,
        state.config.job_retry,
        Some(state.config.quotas),
    )
    .await?;
    state.relay.wake();
    tracing::info!(job.id = %job.id, retry_of = %id, "job retried");
    Ok((StatusCode::ACCEPTED, Json(JobOut::new(job, &state))))
}

/// Cancel a queued, running or retrying job (with the rest of its preview or
/// render); a cancelled job never starts. Cancelling planning returns the story to
/// draft.
#[utoipa::path(post, path = "/jobs/{id}/cancel/", tag = "jobs", params(("id" = Uuid, Path)),
    responses((status = 200, body = JobOut), problems::Auth, problems::Lookup, problems::State))]
pub async fn cancel_job(
    State(state): State<AppState>,
    Auth(viewer): Auth,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<JobOut>> {
    let cancelled = jobs::cancel(&state.db, &viewer, id).await?;
    tracing::info!(job.id = %cancelled.job.id, "job cancelled");
    state.announce_cancelled(cancelled.queue_ids);
    Ok(Json(JobOut::new(cancelled.job, &state)))
}

/// `?story=` filter.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StatisticsQuery {
    pub story: Option<Uuid>,
}

/// Success rate, generation time, queue wait and cost, overall, per kind and per
/// provider.
#[utoipa::path(get, path = "/jobs/statistics/", tag = "jobs", params(StatisticsQuery),
    responses((status = 200, body = JobStatistics), problems::Auth, problems::Query))]
pub async fn job_statistics(
    State(state): State<AppState>,
    Auth(viewer): Auth,
    ApiQuery(q): ApiQuery<StatisticsQuery>,
) -> ApiResult<Json<JobStatistics>> {
    Ok(Json(
        statistics::statistics(&state.db, &viewer, q.story).await?,
    ))
}
