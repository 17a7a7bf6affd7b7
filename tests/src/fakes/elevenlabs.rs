//! A stand-in for ElevenLabs text to speech: `POST /v1/text-to-speech/{voice_id}`
//! answers audio bytes, `…/{voice_id}/with-timestamps` JSON with the audio in
//! base64 and each character's start and end time; `GET /v1/voices` and
//! `GET /v1/models` list what it serves. Clients use `{base_url}` as the base.
//!
//! Every request needs `xi-api-key` (401 `invalid_api_key`). Speech requests are
//! rate limited (429 `too_many_concurrent_requests` with `Retry-After`) and can be
//! failed on purpose (503 `system_busy`, other 5xx `internal_error`). Errors are
//! `{"detail": {status, message}}`, or on 422 FastAPI's `{"detail": [{loc, msg,
//! type}]}`. The audio is the deterministic tone of
//! [`speech_seconds`](super::speech_seconds) at the `output_format`'s sample rate.

use std::collections::BTreeMap;
use std::ops::Deref;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};

use super::control::{Gate, Shared};
use super::elevenlabs_input::MODELS;
use super::elevenlabs_tts;
use super::{FakeOptions, FakeServer};

/// The voices a fake starts with: id, name, and labels.
const DEFAULT_VOICES: [(&str, &str, [&str; 4]); 3] = [
    (
        "21m00Tcm4TlvDq8ikWAM",
        "Rachel",
        ["american", "female", "young", "narration"],
    ),
    (
        "JBFqnCBsd6RMkjVDRZzb",
        "George",
        ["british", "male", "middle_aged", "narration"],
    ),
    (
        "EXAVITQu4vr4xnSDxMaL",
        "Sarah",
        ["american", "female", "young", "news"],
    ),
];

/// One speech request the fake answered with audio.
#[derive(Debug, Clone, PartialEq)]
pub struct TtsExchange {
    pub voice_id: String,
    /// The path requested, e.g. `/v1/text-to-speech/{voice_id}/with-timestamps`.
    pub path: String,
    pub with_timestamps: bool,
    /// The request body as sent.
    pub body: Value,
    /// The query parameters.
    pub query: BTreeMap<String, String>,
    /// Characters billed (the `character-cost` header): the text's characters,
    /// half of them (rounded up) for the Flash and Turbo models.
    pub characters: usize,
    /// Length of the audio made, in seconds.
    pub seconds: f64,
}

/// A fake ElevenLabs API.
pub struct FakeElevenLabs {
    server: FakeServer,
    eleven: Arc<ElevenLabs>,
}

impl FakeElevenLabs {
    /// Starts on a free port; needs a Tokio runtime.
    pub fn start(opts: FakeOptions) -> Self {
        let mut eleven = None;
        let server = FakeServer::start(opts, |shared| {
            let voices = DEFAULT_VOICES
                .iter()
                .map(|(id, name, [accent, gender, age, use_case])| Voice {
                    id: id.to_string(),
                    name: name.to_string(),
                    labels: json!({"accent": accent, "gender": gender, "age": age, "use_case": use_case}),
                })
                .collect();
            let state = Arc::new(ElevenLabs {
                shared,
                inner: Mutex::new(Inner {
                    voices,
                    log: Vec::new(),
                }),
            });
            eleven = Some(state.clone());
            router(state)
        });
        Self {
            server,
            eleven: eleven.expect("the router was built"),
        }
    }

    /// Replaces the account's voices with these `(voice_id, name)` pairs.
    pub fn set_voices(&self, voices: Vec<(String, String)>) {
        self.eleven.inner().voices = voices
            .into_iter()
            .map(|(id, name)| Voice {
                id,
                name,
                labels: json!({}),
            })
            .collect();
    }

    /// The account's voices as `(voice_id, name)`.
    pub fn voices(&self) -> Vec<(String, String)> {
        self.eleven
            .inner()
            .voices
            .iter()
            .map(|v| (v.id.clone(), v.name.clone()))
            .collect()
    }

    /// Every speech request answered with audio, in order.
    pub fn tts_log(&self) -> Vec<TtsExchange> {
        self.eleven.inner().log.clone()
    }
}

impl Deref for FakeElevenLabs {
    type Target = FakeServer;

    fn deref(&self) -> &FakeServer {
        &self.server
    }
}

/// The fake's state behind its handlers.
pub(crate) struct ElevenLabs {
    pub shared: Arc<Shared>,
    inner: Mutex<Inner>,
}

pub(crate) struct Inner {
    pub voices: Vec<Voice>,
    pub log: Vec<TtsExchange>,
}

pub(crate) struct Voice {
    pub id: String,
    pub name: String,
    pub labels: Value,
}

impl ElevenLabs {
    pub fn inner(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn router(eleven: Arc<ElevenLabs>) -> Router {
    Router::new()
        .route(
            "/v1/text-to-speech/{voice_id}",
            post(elevenlabs_tts::speech),
        )
        .route(
            "/v1/text-to-speech/{voice_id}/with-timestamps",
            post(elevenlabs_tts::speech_with_timestamps),
        )
        .route("/v1/voices", get(voices))
        .route("/v1/models", get(models))
        .fallback(|| async { (StatusCode::NOT_FOUND, Json(json!({"detail": "Not Found"}))) })
        .with_state(eleven)
}

/// `{"detail": {"status": status, "message": message}}`.
pub(crate) fn detail(status: StatusCode, code: &str, message: &str) -> Response {
    let body = json!({"detail": {"status": code, "message": message}});
    (status, Json(body)).into_response()
}

/// A 422 listing every validation problem, as FastAPI does.
pub(crate) fn unprocessable(problems: Vec<Value>) -> Response {
    (
        StatusCode::UNPROCESSABLE_ENTITY,
        Json(json!({"detail": problems})),
    )
        .into_response()
}

/// The 401 of a missing or wrong `xi-api-key`, if it is one.
pub(crate) fn unauthorized(shared: &Shared, headers: &HeaderMap) -> Option<Response> {
    let key = headers
        .get("xi-api-key")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .trim();
    (!shared.key_is(key)).then(|| {
        detail(
            StatusCode::UNAUTHORIZED,
            "invalid_api_key",
            "Invalid API key",
        )
    })
}

/// Auth, then the rate limit and injected failures of a speech request.
pub(crate) async fn admit(shared: &Shared, headers: &HeaderMap, path: &str) -> Option<Response> {
    if let Some(refused) = unauthorized(shared, headers) {
        return Some(refused);
    }
    match shared.gate_create(path).await {
        Gate::Go { .. } => None,
        Gate::Throttled { retry_after } => {
            let max = shared.opts().rate_limit.map_or(0, |(max, _)| max);
            let message = format!(
                "Too many concurrent requests. Your current subscription is associated with a \
                 maximum of {max} concurrent requests. Please wait and try again."
            );
            let mut resp = detail(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_concurrent_requests",
                &message,
            );
            resp.headers_mut().insert("retry-after", retry_after.into());
            Some(resp)
        }
        Gate::Fail(StatusCode::SERVICE_UNAVAILABLE) => Some(detail(
            StatusCode::SERVICE_UNAVAILABLE,
            "system_busy",
            "We are experiencing heavy traffic, please try again later.",
        )),
        Gate::Fail(status) => Some(detail(
            status,
            "internal_error",
            "An internal server error occurred. Please try again.",
        )),
    }
}

/// The account's voices, all premade.
async fn voices(State(eleven): State<Arc<ElevenLabs>>, headers: HeaderMap) -> Response {
    if let Some(refused) = unauthorized(&eleven.shared, &headers) {
        return refused;
    }
    let voices: Vec<Value> = eleven
        .inner()
        .voices
        .iter()
        .map(|v| {
            json!({
                "voice_id": v.id,
                "name": v.name,
                "category": "premade",
                "labels": v.labels,
                "settings": null,
            })
        })
        .collect();
    Json(json!({"voices": voices})).into_response()
}

/// The text-to-speech models with their character caps.
async fn models(State(eleven): State<Arc<ElevenLabs>>, headers: HeaderMap) -> Response {
    if let Some(refused) = unauthorized(&eleven.shared, &headers) {
        return refused;
    }
    let models: Vec<Value> = MODELS
        .iter()
        .map(|m| {
            let languages: Vec<Value> = m
                .languages
                .iter()
                .map(|(id, name)| json!({"language_id": id, "name": name}))
                .collect();
            json!({
                "model_id": m.id,
                "name": m.name,
                "can_do_text_to_speech": true,
                "max_characters_request_free_user": m.max_chars,
                "max_characters_request_subscribed_user": m.max_chars,
                "maximum_text_length_per_request": m.max_chars,
                "token_cost_factor": if m.half_price { 0.5 } else { 1.0 },
                "languages": languages,
            })
        })
        .collect();
    Json(Value::Array(models)).into_response()
}
