//! A stand-in for Stability AI: the v2beta Stable Image services
//! (`POST /v2beta/stable-image/generate/{core,ultra,sd3}`, multipart in, image
//! bytes or base64 JSON out) and the legacy v1 text-to-image of SDXL 1.0
//! (`POST /v1/generation/{engine}/text-to-image`, JSON). Both are synchronous.
//! Errors come in Stability's shapes: v2beta `{id, name, errors[]}`, v1
//! `{id, name, message}`. Stable Video (`/v2beta/image-to-video`) was
//! discontinued and answers 404, as do removed and unknown engines.

use std::ops::Deref;
use std::sync::Arc;

use axum::extract::{Extension, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use super::control::{Gate, Shared};
use super::media::{self, MediaSpec};
use super::record::Parsed;
use super::stability_input::{self as input, SDXL};
use super::{FakeOptions, FakeServer};

/// The most a v2beta request body may weigh.
const MAX_V2_BODY: usize = 10 * 1024 * 1024;

/// A fake Stability AI API.
pub struct FakeStability {
    server: FakeServer,
}

impl FakeStability {
    /// Starts on a free port; needs a Tokio runtime.
    pub fn start(opts: FakeOptions) -> Self {
        Self {
            server: FakeServer::start(opts, router),
        }
    }
}

impl Deref for FakeStability {
    type Target = FakeServer;

    fn deref(&self) -> &FakeServer {
        &self.server
    }
}

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/v2beta/stable-image/generate/{service}", post(generate))
        .route("/v1/generation/{engine}/text-to-image", post(text_to_image))
        .route("/v1/engines/list", get(engines))
        .route("/v1/user/balance", get(balance))
        .fallback(not_found)
        .with_state(shared)
}

/// Which API generation an error is shaped for.
#[derive(Clone, Copy)]
enum Api {
    V1,
    V2,
}

fn error(api: Api, status: StatusCode, name: &str, message: &str) -> Response {
    let body = match api {
        Api::V1 => {
            json!({"id": uuid::Uuid::new_v4().to_string(), "name": name, "message": message})
        }
        Api::V2 => {
            json!({"id": uuid::Uuid::new_v4().simple().to_string(), "name": name, "errors": [message]})
        }
    };
    (status, Json(body)).into_response()
}

/// The key, sent as `Bearer <key>` or bare.
fn authorized(shared: &Shared, headers: &HeaderMap) -> bool {
    let value = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    shared.key_is(value.strip_prefix("Bearer ").unwrap_or(value).trim())
}

/// Auth, rate limit and injected failures, in that order.
async fn admit(shared: &Shared, headers: &HeaderMap, api: Api, path: &str) -> Option<Response> {
    if !authorized(shared, headers) {
        let message = "authorization: invalid or missing header value";
        return Some(error(
            api,
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            message,
        ));
    }
    match shared.gate_create(path).await {
        Gate::Go { .. } => None,
        Gate::Throttled { retry_after } => {
            let message = "You have exceeded the rate limit of 150 requests within a 10 second \
                           period. Please wait and try again.";
            let mut resp = error(
                api,
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limit_exceeded",
                message,
            );
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
            Some(resp)
        }
        Gate::Fail(status) => {
            let message = "An unexpected server error occurred, please try again.";
            Some(error(api, status, "server_error", message))
        }
    }
}

fn payment_required(api: Api) -> Response {
    let message = "You lack sufficient credits to make this request. Please purchase more \
                   credits and try again.";
    error(
        api,
        StatusCode::PAYMENT_REQUIRED,
        "payment_required",
        message,
    )
}

fn seed_or_random(seed: Option<u64>) -> u64 {
    seed.unwrap_or_else(|| u64::from(uuid::Uuid::new_v4().as_u128() as u32 % 4_294_967_294) + 1)
}

async fn generate(
    State(shared): State<Arc<Shared>>,
    Path(service): Path<String>,
    headers: HeaderMap,
    Extension(body): Extension<Arc<Parsed>>,
) -> Response {
    if !["core", "ultra", "sd3"].contains(&service.as_str()) {
        return not_found().await;
    }
    let path = format!("/v2beta/stable-image/generate/{service}");
    if let Some(refused) = admit(&shared, &headers, Api::V2, &path).await {
        return refused;
    }
    let bad = |errors: Vec<String>| {
        let body = json!({"id": uuid::Uuid::new_v4().simple().to_string(), "name": "bad_request", "errors": errors});
        (StatusCode::BAD_REQUEST, Json(body)).into_response()
    };
    if body.len > MAX_V2_BODY {
        let message = "payload: the request body must be 10 MiB or smaller";
        return error(
            Api::V2,
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            message,
        );
    }
    let Some(form) = body.form() else {
        return bad(vec!["content-type: must be multipart/form-data".into()]);
    };
    let request = match input::v2beta(&service, form, &body.files) {
        Ok(r) => r,
        Err(errors) => return bad(errors),
    };
    let (width, height) = match &request.image {
        None => request.size,
        Some(image) => match media::probe_size(image).await {
            Some((w, h)) if (64..=16384).contains(&w) && (64..=16384).contains(&h) => (w, h),
            _ => {
                return bad(vec![
                    "image: must be a jpeg, png or webp of 64 to 16384 pixels a side".into(),
                ]);
            }
        },
    };
    if shared.opts().out_of_credits {
        return payment_required(Api::V2);
    }
    if shared.moderated(&request.prompt) {
        let message = "Your request was flagged by our content moderation system, as a result \
                       your request was denied and you were not charged.";
        return error(
            Api::V2,
            StatusCode::FORBIDDEN,
            "content_moderation",
            message,
        );
    }
    let spec = MediaSpec::Image {
        format: request.format,
        width,
        height,
    };
    let bytes = match render_bytes(spec).await {
        Ok(b) => b,
        Err(resp) => return resp,
    };
    let finish = finish_reason(&shared, &request.prompt);
    let seed = seed_or_random(request.seed);
    if accepts(&headers, "application/json") {
        let body = json!({"image": STANDARD.encode(&bytes), "finish_reason": finish, "seed": seed});
        return Json(body).into_response();
    }
    image_response(bytes, spec.content_type(), finish, seed)
}

async fn text_to_image(
    State(shared): State<Arc<Shared>>,
    Path(engine): Path<String>,
    headers: HeaderMap,
    Extension(body): Extension<Arc<Parsed>>,
) -> Response {
    let path = format!("/v1/generation/{engine}/text-to-image");
    if let Some(refused) = admit(&shared, &headers, Api::V1, &path).await {
        return refused;
    }
    if engine != SDXL {
        let message = format!("The specified engine (ID {engine}) was not found.");
        return error(Api::V1, StatusCode::NOT_FOUND, "not_found", &message);
    }
    let Some(json) = body.json() else {
        let message = "body: must be a JSON object sent as application/json";
        return error(Api::V1, StatusCode::BAD_REQUEST, "bad_request", message);
    };
    let png = accepts(&headers, "image/png");
    let request = match input::v1(json, png) {
        Ok(r) => r,
        Err((name, message)) => {
            return error(Api::V1, StatusCode::BAD_REQUEST, name, &message);
        }
    };
    if shared.opts().out_of_credits {
        return payment_required(Api::V1);
    }
    let all_prompts = request.prompts.join("\n");
    if shared.moderated(&all_prompts) {
        let message = "One or more prompts contains filtered words.";
        return error(Api::V1, StatusCode::BAD_REQUEST, "invalid_prompts", message);
    }
    let bytes = match render_bytes(MediaSpec::png(request.width, request.height)).await {
        Ok(b) => b,
        Err(resp) => return resp,
    };
    let finish = finish_reason(&shared, &all_prompts);
    let seed = seed_or_random(request.seed);
    if png {
        return image_response(bytes, "image/png", finish, seed);
    }
    let artifacts: Vec<Value> = (0..u64::from(request.samples))
        .map(|i| json!({"base64": STANDARD.encode(&bytes), "seed": seed + i, "finishReason": finish}))
        .collect();
    Json(json!({"artifacts": artifacts})).into_response()
}

/// Raw image bytes with the `finish-reason` and `seed` headers.
fn image_response(
    bytes: Vec<u8>,
    content_type: &'static str,
    finish: &'static str,
    seed: u64,
) -> Response {
    let mut resp = bytes.into_response();
    let headers = resp.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert("finish-reason", HeaderValue::from_static(finish));
    headers.insert("seed", HeaderValue::from(seed));
    resp
}

fn finish_reason(shared: &Shared, prompt: &str) -> &'static str {
    if shared.filtered(prompt) {
        "CONTENT_FILTERED"
    } else {
        "SUCCESS"
    }
}

/// Whether the `Accept` header names `mime` (absent and `*/*` name neither).
fn accepts(headers: &HeaderMap, mime: &str) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.split(',').any(|m| m.trim().starts_with(mime)))
}

async fn render_bytes(spec: MediaSpec) -> Result<Vec<u8>, Response> {
    let fail = |e: String| (StatusCode::INTERNAL_SERVER_ERROR, e).into_response();
    let path = media::render(spec).await.map_err(fail)?;
    tokio::fs::read(path).await.map_err(|e| fail(e.to_string()))
}

/// Engines this fake serves: SDXL 1.0 only.
async fn engines(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    if !authorized(&shared, &headers) {
        let message = "authorization: invalid or missing header value";
        return error(Api::V1, StatusCode::UNAUTHORIZED, "unauthorized", message);
    }
    Json(json!([{"id": SDXL, "name": "Stable Diffusion XL 1.0", "description": "Stability-AI Stable Diffusion XL v1.0", "type": "PICTURE"}])).into_response()
}

/// The credit balance: 0 when out of credits.
async fn balance(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    if !authorized(&shared, &headers) {
        let message = "authorization: invalid or missing header value";
        return error(Api::V1, StatusCode::UNAUTHORIZED, "unauthorized", message);
    }
    let credits = if shared.opts().out_of_credits {
        0.0
    } else {
        1000.0
    };
    Json(json!({"credits": credits})).into_response()
}

async fn not_found() -> Response {
    let message = "The requested resource was not found.";
    error(Api::V2, StatusCode::NOT_FOUND, "not_found", message)
}
