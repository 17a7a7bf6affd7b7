//! A stand-in for Replicate's HTTP API: `POST /v1/models/{owner}/{name}/predictions`
//! (`{input}`) and `POST /v1/predictions` (`{version, input}`) answer 201 with a
//! prediction in `starting`; `GET /v1/predictions/{id}` walks it through
//! `processing` (logs grow) to `succeeded` with `output` URLs on the fake's
//! `/delivery/...` path and `metrics`, or to `failed` with an `error`;
//! `POST /v1/predictions/{id}/cancel` cancels it. `Prefer: wait[=N]` holds the
//! create for up to N s (the knob `wait_time` says how long the model takes).
//! Errors are `application/problem+json`; creates carry `ratelimit-*` headers.
//!
//! Predictions advance by polls, and on their own when they have a webhook (see
//! `webhook`). `Cancel-After` sets a `deadline`. Once the output TTL has passed
//! since completion, `output` is `null`, `data_removed` is `true` and delivery
//! URLs answer 404. Not modelled: deployments, streaming, listing predictions.

use std::ops::Deref;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Extension, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

pub use super::replicate_input::OutputKind;

use super::FakeServer;
use super::control::{FakeOptions, Gate, Shared};
use super::media::{self, Lookup};
use super::prediction::Prediction;
use super::record::Parsed;
use super::replicate_input;
use super::replicate_options::{self, Refusal};
use super::replicate_store::{Advance, Replicate};
use super::webhook::{self, WebhookDelivery};

/// A fake Replicate API.
pub struct FakeReplicate {
    server: FakeServer,
    replicate: Arc<Replicate>,
}

impl FakeReplicate {
    /// Starts on a free port; needs a Tokio runtime.
    pub fn start(opts: FakeOptions) -> Self {
        let mut replicate = None;
        let server = FakeServer::start(opts, |shared| {
            let state = Arc::new(Replicate {
                shared,
                inner: Mutex::default(),
                secret: Mutex::new(webhook::new_secret()),
            });
            replicate = Some(state.clone());
            router(state)
        });
        Self {
            server,
            replicate: replicate.expect("the router was built"),
        }
    }

    /// What `model` (`owner/name`) outputs, instead of [`OutputKind::for_model`].
    pub fn set_output_kind(&self, model: &str, kind: OutputKind) {
        self.replicate.inner().kinds.insert(model.into(), kind);
    }

    /// Makes a bare version id usable in `POST /v1/predictions`, for `model`.
    pub fn register_version(&self, version: &str, model: &str) {
        self.replicate
            .inner()
            .versions
            .insert(version.into(), model.into());
    }

    /// Ids of the predictions created, oldest first.
    pub fn prediction_ids(&self) -> Vec<String> {
        self.replicate.inner().order.clone()
    }

    /// Predictions cancelled while still running.
    pub fn cancelled_predictions(&self) -> Vec<String> {
        self.replicate.inner().cancelled.clone()
    }

    /// The `whsec_` key webhooks are signed with (also at
    /// `GET /v1/webhooks/default/secret`).
    pub fn webhook_secret(&self) -> String {
        self.replicate.secret().clone()
    }

    pub fn set_webhook_secret(&self, secret: &str) {
        *self.replicate.secret() = secret.into();
    }

    /// Every webhook sent so far, in order.
    pub fn webhook_deliveries(&self) -> Vec<WebhookDelivery> {
        self.replicate.inner().deliveries.clone()
    }

    /// When prediction `id` was polled.
    pub fn poll_times(&self, id: &str) -> Vec<Instant> {
        self.replicate
            .inner()
            .predictions
            .get(id)
            .map(|p| p.poll_times.clone())
            .unwrap_or_default()
    }
}

impl Deref for FakeReplicate {
    type Target = FakeServer;

    fn deref(&self) -> &FakeServer {
        &self.server
    }
}

fn router(replicate: Arc<Replicate>) -> Router {
    Router::new()
        .route(
            "/v1/models/{owner}/{name}/predictions",
            post(create_for_model),
        )
        .route("/v1/predictions", post(create_for_version))
        .route("/v1/predictions/{id}", get(get_prediction))
        .route("/v1/predictions/{id}/cancel", post(cancel_prediction))
        .route("/v1/webhooks/default/secret", get(webhook_secret))
        .route("/delivery/{token}/{file}", get(download))
        .fallback(|| async { problem(StatusCode::NOT_FOUND, None, "Not found.") })
        .with_state(replicate)
}

/// An RFC 7807 problem.
fn problem(status: StatusCode, title: Option<&str>, detail: &str) -> Response {
    problem_with(status, title, detail, Value::Null)
}

fn problem_with(status: StatusCode, title: Option<&str>, detail: &str, extra: Value) -> Response {
    let mut body = json!({"detail": detail, "status": status.as_u16()});
    if let Some(title) = title {
        body["title"] = json!(title);
    }
    if let Value::Object(extra) = extra {
        body.as_object_mut().expect("an object").extend(extra);
    }
    let ct = [(header::CONTENT_TYPE, "application/problem+json")];
    (status, ct, body.to_string()).into_response()
}

/// The refusal of a request without the right bearer token, if it is one.
fn unauthorized(shared: &Shared, headers: &HeaderMap) -> Option<Response> {
    let key = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|a| a.strip_prefix("Bearer "));
    if key.is_some_and(|k| shared.key_is(k)) {
        return None;
    }
    let detail = "You did not pass a valid authentication token";
    Some(problem(
        StatusCode::UNAUTHORIZED,
        Some("Unauthenticated"),
        detail,
    ))
}

async fn create_for_model(
    State(replicate): State<Arc<Replicate>>,
    Path((owner, name)): Path<(String, String)>,
    headers: HeaderMap,
    Extension(body): Extension<Arc<Parsed>>,
) -> Response {
    let path = format!("/v1/models/{owner}/{name}/predictions");
    let model = format!("{owner}/{name}");
    create(&replicate, &path, Some(model), &headers, &body).await
}

async fn create_for_version(
    State(replicate): State<Arc<Replicate>>,
    headers: HeaderMap,
    Extension(body): Extension<Arc<Parsed>>,
) -> Response {
    create(&replicate, "/v1/predictions", None, &headers, &body).await
}

async fn create(
    replicate: &Arc<Replicate>,
    path: &str,
    model: Option<String>,
    headers: &HeaderMap,
    body: &Parsed,
) -> Response {
    let shared = &replicate.shared;
    if let Some(refused) = unauthorized(shared, headers) {
        return refused;
    }
    let remaining = match shared.gate_create(path).await {
        Gate::Go { remaining } => remaining.unwrap_or(599),
        Gate::Throttled { retry_after } => {
            let detail =
                format!("Request was throttled. Your rate limit resets in ~{retry_after}s.");
            let mut resp = problem(StatusCode::TOO_MANY_REQUESTS, None, &detail);
            let h = resp.headers_mut();
            h.insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
            h.insert("ratelimit-remaining", HeaderValue::from(0));
            h.insert("ratelimit-reset", HeaderValue::from(retry_after));
            return resp;
        }
        Gate::Fail(status) => return problem(status, None, "Internal server error"),
    };
    let Some(json) = body.json().filter(|j| j.is_object()) else {
        let detail = "The request body must be a JSON object sent as application/json";
        return problem(StatusCode::BAD_REQUEST, None, detail);
    };
    let options = match replicate_options::read(headers, json) {
        Ok(o) => o,
        Err(Refusal::Header(detail)) => return problem(StatusCode::BAD_REQUEST, None, &detail),
        Err(Refusal::Fields(fields)) => return invalid(fields),
    };
    let wait = options.wait;
    let (model, version) = match model {
        Some(m) => (m, "hidden".to_string()),
        None => match resolve_version(replicate, &json["version"]) {
            Ok(mv) => mv,
            Err(resp) => return *resp,
        },
    };
    let kind = replicate
        .inner()
        .kinds
        .get(&model)
        .copied()
        .unwrap_or_else(|| OutputKind::for_model(&model));
    let planned = match replicate_input::plan(kind, &json["input"]) {
        Ok(p) => p,
        Err(fields) => return invalid(fields),
    };
    if shared.opts().out_of_credits {
        let detail = "You have no credit left. Set up billing at https://replicate.com/account/billing to continue.";
        return problem(
            StatusCode::PAYMENT_REQUIRED,
            Some("Billing required"),
            detail,
        );
    }
    let outcome = shared.outcome(&planned.prompt);
    let mut p = Prediction::new(model, version, json["input"].clone(), planned, outcome);
    p.deadline = options.cancel_after.map(|d| {
        let at = chrono::Utc::now() + d;
        let at = at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        (Instant::now() + d, at)
    });
    p.webhook = options.webhook.clone();
    let id = p.id.clone();
    {
        let mut inner = replicate.inner();
        inner.order.push(id.clone());
        inner.predictions.insert(id.clone(), p);
    }
    if let Some((url, events)) = options.webhook {
        webhook::drive(replicate.clone(), id.clone(), url, events);
    }
    let advance = match wait {
        None => Advance::None,
        Some(secs) => {
            let opts = shared.opts();
            let limit = Duration::from_secs(secs);
            tokio::time::sleep(opts.wait_time.min(limit)).await;
            let steps = if opts.wait_time <= limit {
                opts.pending_polls + opts.running_polls + 1
            } else {
                opts.pending_polls + 1
            };
            Advance::To(steps)
        }
    };
    let Some(body) = replicate.view(&id, advance).await else {
        return problem(
            StatusCode::INTERNAL_SERVER_ERROR,
            None,
            "Prediction vanished",
        );
    };
    let mut resp = (StatusCode::CREATED, axum::Json(body)).into_response();
    let h = resp.headers_mut();
    let get_url = format!("{}/v1/predictions/{id}", shared.base_url);
    h.insert(
        header::LOCATION,
        HeaderValue::try_from(get_url).expect("a URL"),
    );
    h.insert("ratelimit-remaining", HeaderValue::from(remaining));
    h.insert("ratelimit-reset", HeaderValue::from(1));
    if let Some(secs) = wait {
        let applied = HeaderValue::try_from(format!("wait={secs}")).expect("ASCII");
        h.insert("preference-applied", applied);
    }
    resp
}

/// A 422 for input that does not fit the model.
fn invalid(fields: Vec<Value>) -> Response {
    let detail: String = fields
        .iter()
        .map(|f| {
            let field = f["field"].as_str().unwrap_or("");
            format!("- {field}: {}\n", f["description"].as_str().unwrap_or(""))
        })
        .collect();
    problem_with(
        StatusCode::UNPROCESSABLE_ENTITY,
        Some("Input validation failed"),
        &detail,
        json!({ "invalid_fields": fields }),
    )
}

/// `owner/name`, `owner/name:version` or a registered version id.
fn resolve_version(
    replicate: &Replicate,
    version: &Value,
) -> Result<(String, String), Box<Response>> {
    let Some(version) = version.as_str().filter(|v| !v.is_empty()) else {
        let field =
            json!({"type": "required", "field": "version", "description": "version is required"});
        return Err(Box::new(invalid(vec![field])));
    };
    if let Some((model, id)) = version.split_once(':') {
        return Ok((model.to_string(), id.to_string()));
    }
    if version.contains('/') {
        return Ok((version.to_string(), "hidden".to_string()));
    }
    match replicate.inner().versions.get(version) {
        Some(model) => Ok((model.clone(), version.to_string())),
        None => Err(Box::new(problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("Invalid version or not permitted"),
            "The specified version does not exist (or perhaps you don't have permission to use it?)",
        ))),
    }
}

async fn get_prediction(
    State(replicate): State<Arc<Replicate>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Some(refused) = unauthorized(&replicate.shared, &headers) {
        return refused;
    }
    match replicate.view(&id, Advance::Poll).await {
        Some(body) => axum::Json(body).into_response(),
        None => problem(StatusCode::NOT_FOUND, None, "Not found."),
    }
}

async fn cancel_prediction(
    State(replicate): State<Arc<Replicate>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Some(refused) = unauthorized(&replicate.shared, &headers) {
        return refused;
    }
    {
        let mut inner = replicate.inner();
        let Some(p) = inner.predictions.get_mut(&id) else {
            return problem(StatusCode::NOT_FOUND, None, "Not found.");
        };
        if p.cancel() {
            inner.cancelled.push(id.clone());
        }
    }
    match replicate.view(&id, Advance::None).await {
        Some(body) => axum::Json(body).into_response(),
        None => problem(StatusCode::NOT_FOUND, None, "Not found."),
    }
}

/// The key webhooks are signed with.
async fn webhook_secret(State(replicate): State<Arc<Replicate>>, headers: HeaderMap) -> Response {
    if let Some(refused) = unauthorized(&replicate.shared, &headers) {
        return refused;
    }
    let key = replicate.secret().clone();
    axum::Json(json!({ "key": key })).into_response()
}

/// An output file; 404 once the prediction's data has been removed.
async fn download(
    State(replicate): State<Arc<Replicate>>,
    Path((token, _file)): Path<(String, String)>,
) -> Response {
    match replicate.shared.files.lookup(&token) {
        Lookup::Found(path, content_type) => media::serve_file(&path, content_type).await,
        Lookup::Expired | Lookup::Unknown => (StatusCode::NOT_FOUND, "Not found").into_response(),
    }
}
