//! A stand-in for OpenAI (and the OpenAI-compatible local servers): Chat
//! Completions (`POST /v1/chat/completions`) for planning with structured JSON
//! output, and Audio Speech (`POST /v1/audio/speech`) for narration; clients use
//! `{base_url}/v1` as their base. `GET /v1/models` lists what it serves.
//!
//! Every request needs `Authorization: Bearer <key>` (401 `invalid_api_key`).
//! Both generation endpoints are rate limited (429 `rate_limit_exceeded` with
//! `Retry-After`) and can be failed on purpose (5xx `server_error`). Errors use
//! OpenAI's envelope `{"error": {message, type, param, code}}`, and every answer
//! carries an `x-request-id`.
//!
//! A completion's content is whatever the test queued ([`FakeOpenAi::push_chat`]),
//! else what its responder makes of the request, else `{}`. Speech is the
//! deterministic tone of [`speech_seconds`](super::speech_seconds), 24 kHz mono.

use std::collections::VecDeque;
use std::ops::Deref;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};

use super::control::{Gate, Shared};
use super::openai_chat::{ChatExchange, ChatReply, ChatResponder};
use super::openai_speech::{SPEECH_MODELS, SpeechExchange};
use super::{FakeOptions, FakeServer, openai_chat, openai_speech};

/// Chat models listed by `GET /v1/models` when the test has not set its own.
const DEFAULT_CHAT_MODELS: [&str; 2] = ["gpt-4o-mini", "gpt-4o"];

/// A fake OpenAI API.
pub struct FakeOpenAi {
    server: FakeServer,
    openai: Arc<OpenAi>,
}

impl FakeOpenAi {
    /// Starts on a free port; needs a Tokio runtime.
    pub fn start(opts: FakeOptions) -> Self {
        let mut openai = None;
        let server = FakeServer::start(opts, |shared| {
            let state = Arc::new(OpenAi {
                shared,
                inner: Mutex::default(),
            });
            openai = Some(state.clone());
            router(state)
        });
        Self {
            server,
            openai: openai.expect("the router was built"),
        }
    }

    /// `{base_url}/v1`, the base an OpenAI client is configured with.
    pub fn api_base(&self) -> String {
        format!("{}/v1", self.base_url())
    }

    /// The chat models that exist; any other is a 404 `model_not_found`.
    /// `None` (the default) accepts every model name.
    pub fn set_models(&self, models: Option<Vec<String>>) {
        self.openai.inner().models = models;
    }

    /// Queues the reply of a coming completion; replies are used in order.
    pub fn push_chat(&self, reply: ChatReply) {
        self.openai.inner().queue.push_back(reply);
    }

    /// Makes the reply from the request body when the queue is empty.
    pub fn set_chat_responder(&self, responder: Option<ChatResponder>) {
        self.openai.inner().responder = responder;
    }

    /// Replies queued and not used yet.
    pub fn queued_chats(&self) -> usize {
        self.openai.inner().queue.len()
    }

    /// Every completion answered with 200, in order.
    pub fn chat_log(&self) -> Vec<ChatExchange> {
        self.openai.inner().chats.clone()
    }

    /// Every speech request answered with audio, in order.
    pub fn speech_log(&self) -> Vec<SpeechExchange> {
        self.openai.inner().speeches.clone()
    }
}

impl Deref for FakeOpenAi {
    type Target = FakeServer;

    fn deref(&self) -> &FakeServer {
        &self.server
    }
}

/// The fake's state behind its handlers.
pub(crate) struct OpenAi {
    pub shared: Arc<Shared>,
    inner: Mutex<Inner>,
}

#[derive(Default)]
pub(crate) struct Inner {
    pub models: Option<Vec<String>>,
    pub queue: VecDeque<ChatReply>,
    pub responder: Option<ChatResponder>,
    pub chats: Vec<ChatExchange>,
    pub speeches: Vec<SpeechExchange>,
}

impl OpenAi {
    pub fn inner(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn router(openai: Arc<OpenAi>) -> Router {
    Router::new()
        .route("/v1/chat/completions", post(openai_chat::completions))
        .route("/v1/audio/speech", post(openai_speech::speech))
        .route("/v1/models", get(models))
        .fallback(fallback)
        .with_state(openai)
}

/// An error in OpenAI's envelope.
#[derive(Debug)]
pub(crate) struct ApiError {
    pub status: StatusCode,
    pub message: String,
    pub kind: &'static str,
    pub param: Option<String>,
    pub code: Option<&'static str>,
}

impl ApiError {
    /// A 400 `invalid_request_error`.
    pub fn invalid(
        message: impl Into<String>,
        param: Option<&str>,
        code: Option<&'static str>,
    ) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
            kind: "invalid_request_error",
            param: param.map(String::from),
            code,
        }
    }

    /// `Missing required parameter: 'param'.`
    pub fn missing(param: &str) -> Self {
        Self::invalid(
            format!("Missing required parameter: '{param}'."),
            Some(param),
            Some("missing_required_parameter"),
        )
    }

    /// `Invalid type for 'param': expected …, but got … instead.`
    pub fn wrong_type(param: &str, expected: &str, got: &Value) -> Self {
        Self::invalid(
            format!(
                "Invalid type for '{param}': expected {expected}, but got {} instead.",
                json_type(got)
            ),
            Some(param),
            Some("invalid_type"),
        )
    }

    /// `Invalid value: 'x'. Supported values are: 'a', 'b', and 'c'.`
    pub fn unsupported(param: &str, value: &str, supported: &[&str]) -> Self {
        let quoted: Vec<String> = supported.iter().map(|s| format!("'{s}'")).collect();
        let list = match quoted.split_last() {
            Some((last, rest)) if !rest.is_empty() => format!("{}, and {last}", rest.join(", ")),
            _ => quoted.join(""),
        };
        Self::invalid(
            format!("Invalid value: '{value}'. Supported values are: {list}."),
            Some(param),
            Some("invalid_value"),
        )
    }

    /// A 404 for a model that does not exist.
    pub fn no_model(model: &str) -> Self {
        Self {
            status: StatusCode::NOT_FOUND,
            message: format!("The model `{model}` does not exist or you do not have access to it."),
            kind: "invalid_request_error",
            param: None,
            code: Some("model_not_found"),
        }
    }

    /// The refusal of input that contains the moderated word.
    pub fn moderated() -> Self {
        Self::invalid(
            "Your request was rejected as a result of our safety system. Your prompt may \
             contain text that is not allowed by our safety system.",
            None,
            Some("content_policy_violation"),
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"error": {
            "message": self.message,
            "type": self.kind,
            "param": self.param,
            "code": self.code,
        }});
        with_request_id((self.status, Json(body)).into_response())
    }
}

/// The JSON type name OpenAI's messages use.
pub(crate) fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "an integer",
        Value::Number(_) => "a decimal",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Adds a fresh `x-request-id`.
pub(crate) fn with_request_id(mut resp: Response) -> Response {
    let id = format!("req_{}", uuid::Uuid::new_v4().simple());
    let value = HeaderValue::from_str(&id).expect("an ASCII id");
    resp.headers_mut().insert("x-request-id", value);
    resp
}

/// The presented bearer key, masked the way OpenAI echoes it.
fn masked(key: &str) -> String {
    let chars: Vec<char> = key.chars().collect();
    if chars.len() <= 8 {
        return "*".repeat(chars.len());
    }
    let head: String = chars[..4].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}{}{tail}", "*".repeat(chars.len() - 8))
}

/// The 401 of a missing or wrong key, if it is one.
fn unauthorized(shared: &Shared, headers: &HeaderMap) -> Option<ApiError> {
    let value = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let key = value.strip_prefix("Bearer ").unwrap_or("").trim();
    if shared.key_is(key) {
        return None;
    }
    Some(ApiError {
        status: StatusCode::UNAUTHORIZED,
        message: format!(
            "Incorrect API key provided: {}. You can find your API key at \
             https://platform.openai.com/account/api-keys.",
            masked(key)
        ),
        kind: "invalid_request_error",
        param: None,
        code: Some("invalid_api_key"),
    })
}

/// Auth, then the rate limit and injected failures of a generation request.
/// Gives the requests left in the window (if limited).
pub(crate) async fn admit(
    shared: &Shared,
    headers: &HeaderMap,
    path: &str,
) -> Result<Option<usize>, Response> {
    if let Some(refused) = unauthorized(shared, headers) {
        return Err(refused.into_response());
    }
    match shared.gate_create(path).await {
        Gate::Go { remaining } => Ok(remaining),
        Gate::Throttled { retry_after } => {
            let limit = shared.opts().rate_limit.map_or(0, |(max, _)| max);
            let message = format!(
                "Rate limit reached for requests in organization org-fake on requests per \
                 min (RPM): Limit {limit}, Used {limit}, Requested 1. Please try again in \
                 {retry_after}s."
            );
            let mut resp = ApiError {
                status: StatusCode::TOO_MANY_REQUESTS,
                message,
                kind: "requests",
                param: None,
                code: Some("rate_limit_exceeded"),
            }
            .into_response();
            let headers = resp.headers_mut();
            headers.insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
            headers.insert("x-ratelimit-remaining-requests", HeaderValue::from(0));
            Err(resp)
        }
        Gate::Fail(status) => Err(ApiError {
            status,
            message: "The server had an error while processing your request.".into(),
            kind: "server_error",
            param: None,
            code: None,
        }
        .into_response()),
    }
}

/// The headers of a successful generation: request id, processing time and the
/// requests left in the rate-limit window.
pub(crate) fn generation_headers(
    mut resp: Response,
    started: std::time::Instant,
    remaining: Option<usize>,
) -> Response {
    let headers = resp.headers_mut();
    let ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    headers.insert("openai-processing-ms", HeaderValue::from(ms));
    headers.insert(
        "x-ratelimit-remaining-requests",
        HeaderValue::from(remaining.unwrap_or(9_999)),
    );
    with_request_id(resp)
}

/// The chat models (the test's list or the defaults) and the speech models.
async fn models(State(openai): State<Arc<OpenAi>>, headers: HeaderMap) -> Response {
    if let Some(refused) = unauthorized(&openai.shared, &headers) {
        return refused.into_response();
    }
    let chat = openai
        .inner()
        .models
        .clone()
        .unwrap_or_else(|| DEFAULT_CHAT_MODELS.iter().map(|m| m.to_string()).collect());
    let data: Vec<Value> = chat
        .iter()
        .map(String::as_str)
        .chain(SPEECH_MODELS)
        .map(|id| json!({"id": id, "object": "model", "created": 1_715_367_049, "owned_by": "system"}))
        .collect();
    with_request_id(Json(json!({"object": "list", "data": data})).into_response())
}

async fn fallback(method: Method, uri: Uri) -> Response {
    let mut error = ApiError::invalid(format!("Invalid URL ({method} {})", uri.path()), None, None);
    error.status = StatusCode::NOT_FOUND;
    error.into_response()
}
