//! A stand-in for Runway's API: `POST /v1/image_to_video`, `/v1/text_to_video`
//! and `/v1/text_to_image` create a task (`200 {"id": uuid}`), `GET /v1/tasks/{id}`
//! walks it through `PENDING` → (`THROTTLED`) → `RUNNING` with `progress` →
//! `SUCCEEDED` with a signed-looking output URL, or `FAILED` with `failure` and
//! `failureCode`; `DELETE /v1/tasks/{id}` cancels a running task and deletes a
//! finished one. Every request needs `Authorization: Bearer <key>` (401) and
//! `X-Runway-Version: 2024-11-06` (400). Errors are `{"error", "issues"?}`.
//!
//! Tasks advance by polls, not by time, so tests are fast and deterministic. A
//! moderated prompt fails with `SAFETY.INPUT.TEXT` right after `PENDING`. Output
//! URLs are fresh on every poll and answer 403 once their TTL has passed.

use std::collections::HashMap;
use std::ops::Deref;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use axum::extract::{Extension, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};

use super::FakeServer;
use super::control::{FakeOptions, Gate, Shared, now_rfc3339};
use super::media::{self, Lookup, MediaSpec};
use super::record::Parsed;
use super::runway_input::{self as input, Endpoint};
use super::runway_task::{Task, Tasks};

/// The API version this fake speaks.
pub(crate) const RUNWAY_VERSION: &str = "2024-11-06";

/// A fake Runway API.
pub struct FakeRunway {
    server: FakeServer,
    runway: Arc<Runway>,
}

impl FakeRunway {
    /// Starts on a free port; needs a Tokio runtime.
    pub fn start(opts: FakeOptions) -> Self {
        let mut runway = None;
        let server = FakeServer::start(opts, |shared| {
            let state = Arc::new(Runway {
                shared,
                tasks: Mutex::default(),
            });
            runway = Some(state.clone());
            router(state)
        });
        Self {
            server,
            runway: runway.expect("the router was built"),
        }
    }

    /// Ids of the tasks created, oldest first.
    pub fn task_ids(&self) -> Vec<String> {
        self.runway.tasks().order.clone()
    }

    /// Tasks cancelled by `DELETE` while still pending, throttled or running.
    pub fn cancelled_tasks(&self) -> Vec<String> {
        self.runway.tasks().cancelled.clone()
    }

    /// Every task a `DELETE` was accepted for, running or finished.
    pub fn deleted_tasks(&self) -> Vec<String> {
        self.runway.tasks().deleted.clone()
    }

    /// When task `id` was polled, so a test can check the adapter's interval.
    pub fn poll_times(&self, id: &str) -> Vec<Instant> {
        self.runway
            .tasks()
            .by_id
            .get(id)
            .map(|t| t.poll_times.clone())
            .unwrap_or_default()
    }
}

impl Deref for FakeRunway {
    type Target = FakeServer;

    fn deref(&self) -> &FakeServer {
        &self.server
    }
}

struct Runway {
    shared: Arc<Shared>,
    tasks: Mutex<Tasks>,
}

impl Runway {
    fn tasks(&self) -> MutexGuard<'_, Tasks> {
        self.tasks.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn router(runway: Arc<Runway>) -> Router {
    Router::new()
        .route("/v1/image_to_video", post(image_to_video))
        .route("/v1/text_to_video", post(text_to_video))
        .route("/v1/text_to_image", post(text_to_image))
        .route("/v1/tasks/{id}", get(get_task).delete(delete_task))
        .route("/v1/organization", get(organization))
        .route("/runway-media/{file}", get(download))
        .fallback(|| async { error(StatusCode::NOT_FOUND, "Not found") })
        .with_state(runway)
}

fn error(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}

/// The refusal of a request without the bearer key (401) or the version header
/// (400), if it is one.
fn refused(shared: &Shared, headers: &HeaderMap) -> Option<Response> {
    let text = |name| {
        headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
    };
    let key = text(header::AUTHORIZATION.as_str()).and_then(|a| a.strip_prefix("Bearer "));
    if !key.is_some_and(|k| shared.key_is(k)) {
        let message =
            "Invalid API key. Check that you are using a valid key for api.dev.runwayml.com.";
        return Some(error(StatusCode::UNAUTHORIZED, message));
    }
    match text("x-runway-version") {
        Some(RUNWAY_VERSION) => None,
        Some(other) => Some(error(
            StatusCode::BAD_REQUEST,
            &format!("Unsupported API version {other}. Set X-Runway-Version to {RUNWAY_VERSION}."),
        )),
        None => Some(error(
            StatusCode::BAD_REQUEST,
            &format!("The X-Runway-Version header is required. Set it to {RUNWAY_VERSION}."),
        )),
    }
}

async fn image_to_video(
    State(runway): State<Arc<Runway>>,
    headers: HeaderMap,
    Extension(body): Extension<Arc<Parsed>>,
) -> Response {
    create(
        &runway,
        Endpoint::ImageToVideo,
        "/v1/image_to_video",
        &headers,
        &body,
    )
    .await
}

async fn text_to_video(
    State(runway): State<Arc<Runway>>,
    headers: HeaderMap,
    Extension(body): Extension<Arc<Parsed>>,
) -> Response {
    create(
        &runway,
        Endpoint::TextToVideo,
        "/v1/text_to_video",
        &headers,
        &body,
    )
    .await
}

async fn text_to_image(
    State(runway): State<Arc<Runway>>,
    headers: HeaderMap,
    Extension(body): Extension<Arc<Parsed>>,
) -> Response {
    create(
        &runway,
        Endpoint::TextToImage,
        "/v1/text_to_image",
        &headers,
        &body,
    )
    .await
}

async fn create(
    runway: &Runway,
    endpoint: Endpoint,
    path: &str,
    headers: &HeaderMap,
    body: &Parsed,
) -> Response {
    let shared = &runway.shared;
    if let Some(refused) = refused(shared, headers) {
        return refused;
    }
    match shared.gate_create(path).await {
        Gate::Go { .. } => {}
        Gate::Throttled { retry_after } => {
            let message =
                "You have reached the generation limit for this model. Please try again later.";
            let mut resp = error(StatusCode::TOO_MANY_REQUESTS, message);
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
            return resp;
        }
        Gate::Fail(status) => {
            return error(
                status,
                "The service is temporarily unavailable. Please try again.",
            );
        }
    }
    let Some(json) = body.json() else {
        return error(
            StatusCode::BAD_REQUEST,
            "The request body must be JSON sent as application/json.",
        );
    };
    let accepted = match input::check(endpoint, json) {
        Ok(a) => a,
        Err(issues) => {
            let issues: Vec<Value> = issues
                .into_iter()
                .map(|i| json!({"path": i.path, "message": i.message}))
                .collect();
            let body = json!({"error": "Validation of body failed", "issues": issues});
            return (StatusCode::BAD_REQUEST, Json(body)).into_response();
        }
    };
    let opts = shared.opts();
    if opts.out_of_credits {
        return error(
            StatusCode::BAD_REQUEST,
            "You do not have enough credits to run this task.",
        );
    }
    let outcome = shared.outcome(&accepted.prompt);
    let id = uuid::Uuid::new_v4().to_string();
    let mut tasks = runway.tasks();
    let throttled = opts
        .concurrency
        .is_some_and(|max| tasks.active(&accepted.model, &id, &opts) >= max);
    tasks.order.push(id.clone());
    tasks.by_id.insert(
        id.clone(),
        Task {
            id: id.clone(),
            model: accepted.model,
            created_at: now_rfc3339(),
            output: accepted.output,
            outcome,
            polls: 0,
            throttled,
            cancelled: false,
            deleted: false,
            poll_times: Vec::new(),
        },
    );
    Json(json!({ "id": id })).into_response()
}

async fn get_task(
    State(runway): State<Arc<Runway>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Some(refused) = refused(&runway.shared, &headers) {
        return refused;
    }
    let opts = runway.shared.opts();
    let Some((mut body, spec)) = runway.tasks().poll(&id, &opts) else {
        return error(StatusCode::NOT_FOUND, "Task not found.");
    };
    if let Some(spec) = spec {
        match media::render(spec).await {
            Ok(path) => {
                let url = match &opts.output_url {
                    Some(url) => url.clone(),
                    None => signed_url(&runway.shared, &id, &path, spec, &opts),
                };
                body["output"] = json!([url])
            }
            Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, &e),
        }
    }
    Json(body).into_response()
}

/// A fresh URL for a task's output, valid for the output TTL from now.
fn signed_url(
    shared: &Shared,
    id: &str,
    path: &std::path::Path,
    spec: MediaSpec,
    opts: &FakeOptions,
) -> String {
    let expires = media::expiry(opts.output_ttl, Instant::now());
    let token = shared.files.issue(path, spec.content_type(), expires);
    format!(
        "{}/runway-media/{id}.{}?_jwt={token}",
        shared.base_url,
        spec.extension()
    )
}

async fn delete_task(
    State(runway): State<Arc<Runway>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Some(refused) = refused(&runway.shared, &headers) {
        return refused;
    }
    let opts = runway.shared.opts();
    let mut tasks = runway.tasks();
    let Some(task) = tasks.by_id.get_mut(&id).filter(|t| !t.deleted) else {
        return error(StatusCode::NOT_FOUND, "Task not found.");
    };
    let cancel = !task.phase(&opts).is_terminal();
    if cancel {
        // A running task is cancelled and can still be fetched; a finished one is gone.
        task.cancelled = true;
    } else {
        task.deleted = true;
    }
    if cancel {
        tasks.cancelled.push(id.clone());
    }
    tasks.deleted.push(id);
    StatusCode::NO_CONTENT.into_response()
}

/// Credit balance, per-model limits and today's usage.
async fn organization(State(runway): State<Arc<Runway>>, headers: HeaderMap) -> Response {
    if let Some(refused) = refused(&runway.shared, &headers) {
        return refused;
    }
    let opts = runway.shared.opts();
    let tasks = runway.tasks();
    let mut limits = serde_json::Map::new();
    let mut usage = serde_json::Map::new();
    for model in [
        "gen4_turbo",
        "gen4.5",
        "veo3.1",
        "veo3.1_fast",
        "veo3",
        "gen4_image",
        "gen4_image_turbo",
    ] {
        let limit = json!({
            "maxConcurrentGenerations": opts.concurrency.unwrap_or(5),
            "maxDailyGenerations": opts.rate_limit.map_or(1000, |(max, _)| max),
        });
        limits.insert(model.into(), limit);
        let used = tasks.by_id.values().filter(|t| t.model == model).count();
        usage.insert(model.into(), json!({ "dailyGenerations": used }));
    }
    let credits = if opts.out_of_credits { 0 } else { 10_000 };
    Json(json!({
        "creditBalance": credits,
        "tier": {"maxMonthlyCreditSpend": 10_000, "models": limits},
        "usage": {"models": usage},
    }))
    .into_response()
}

/// An output file behind its signed URL: 403 when unknown or expired.
async fn download(
    State(runway): State<Arc<Runway>>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let token = query.get("_jwt").map(String::as_str).unwrap_or("");
    let broken = runway.shared.state().opts.output_body;
    match runway.shared.files.lookup(token) {
        Lookup::Found(_, _) if broken.is_some() => media::serve_broken(broken),
        Lookup::Found(path, content_type) => media::serve_file(&path, content_type).await,
        Lookup::Expired | Lookup::Unknown => {
            let body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>AccessDenied</Code>\
                        <Message>Request has expired</Message></Error>";
            (
                StatusCode::FORBIDDEN,
                [(header::CONTENT_TYPE, "application/xml")],
                body,
            )
                .into_response()
        }
    }
}
