//! `POST /v1/chat/completions` of the fake OpenAI: the request checked as OpenAI
//! checks it (model, messages and their roles, `response_format` including strict
//! JSON schemas), the reply taken from the test's queue or responder, usage
//! counted deterministically (a token is four characters, rounded up).

use std::sync::Arc;
use std::time::Instant;

use axum::Json;
use axum::extract::{Extension, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::openai::{ApiError, OpenAi, admit, generation_headers};
use super::openai_schema;
use super::record::Parsed;

/// The roles a message may have.
const ROLES: [&str; 5] = ["developer", "system", "user", "assistant", "tool"];

/// What the fake answers to one completion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChatReply {
    /// `content` is this text, `finish_reason` `stop`.
    Content(String),
    /// `content` null, `refusal` this text, `finish_reason` `stop`.
    Refusal(String),
    /// `content` is this (cut-off) text, `finish_reason` `length`.
    Truncated(String),
    /// `content` null, `finish_reason` `content_filter`.
    Filtered,
}

impl ChatReply {
    /// The `content`, `refusal` and `finish_reason` of the answer's message.
    fn parts(&self) -> (Option<&str>, Option<&str>, &'static str) {
        match self {
            Self::Content(text) => (Some(text), None, "stop"),
            Self::Refusal(text) => (None, Some(text), "stop"),
            Self::Truncated(text) => (Some(text), None, "length"),
            Self::Filtered => (None, None, "content_filter"),
        }
    }
}

/// Makes the reply to a completion from its request body.
pub type ChatResponder = Arc<dyn Fn(&Value) -> ChatReply + Send + Sync>;

/// One completion the fake answered.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatExchange {
    /// The request body as sent.
    pub request: Value,
    pub reply: ChatReply,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
}

/// A request that passed the checks.
struct ChatRequest {
    model: String,
    /// Every message's text, joined by newlines.
    text: String,
    /// Characters of all message contents.
    chars: usize,
}

/// Four characters to a token, rounded up.
fn tokens(chars: usize) -> u64 {
    chars.div_ceil(4) as u64
}

pub(crate) async fn completions(
    State(openai): State<Arc<OpenAi>>,
    headers: HeaderMap,
    Extension(body): Extension<Arc<Parsed>>,
) -> Response {
    let started = Instant::now();
    let remaining = match admit(&openai.shared, &headers, "/v1/chat/completions").await {
        Ok(remaining) => remaining,
        Err(refused) => return refused,
    };
    let Some(json) = body.json() else {
        return not_json().into_response();
    };
    let request = match validate(json) {
        Ok(request) => request,
        Err(error) => return error.into_response(),
    };
    let known = openai.inner().models.clone();
    if known.is_some_and(|models| !models.contains(&request.model)) {
        return ApiError::no_model(&request.model).into_response();
    }
    if openai.shared.moderated(&request.text) {
        return ApiError::moderated().into_response();
    }
    let (queued, responder) = {
        let mut inner = openai.inner();
        (inner.queue.pop_front(), inner.responder.clone())
    };
    let reply = queued
        .or_else(|| responder.map(|respond| respond(json)))
        .unwrap_or_else(|| ChatReply::Content("{}".into()));
    let (content, refusal, finish_reason) = reply.parts();
    let prompt_tokens = tokens(request.chars);
    let answered = content.or(refusal).unwrap_or("");
    let completion_tokens = tokens(answered.chars().count()).max(1);
    let answer = json!({
        "id": format!("chatcmpl-{}", uuid::Uuid::new_v4().simple()),
        "object": "chat.completion",
        "created": chrono::Utc::now().timestamp(),
        "model": request.model,
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": content, "refusal": refusal},
            "logprobs": null,
            "finish_reason": finish_reason,
        }],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
            "prompt_tokens_details": {"cached_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0},
        },
        "system_fingerprint": "fp_fake",
    });
    openai.inner().chats.push(ChatExchange {
        request: json.clone(),
        reply: reply.clone(),
        prompt_tokens,
        completion_tokens,
    });
    generation_headers(Json(answer).into_response(), started, remaining)
}

pub(crate) fn not_json() -> ApiError {
    ApiError::invalid(
        "We could not parse the JSON body of your request. (HINT: This likely means you \
         aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, \
         but what was sent was not valid JSON.)",
        None,
        None,
    )
}

fn validate(body: &Value) -> Result<ChatRequest, ApiError> {
    let model = match body.get("model") {
        None | Some(Value::Null) => {
            return Err(ApiError::invalid(
                "you must provide a model parameter",
                None,
                None,
            ));
        }
        Some(Value::String(m)) if !m.is_empty() => m.clone(),
        Some(Value::String(_)) => {
            return Err(ApiError::invalid(
                "you must provide a model parameter",
                None,
                None,
            ));
        }
        Some(other) => return Err(ApiError::wrong_type("model", "a string", other)),
    };
    let messages = match body.get("messages") {
        None | Some(Value::Null) => return Err(ApiError::missing("messages")),
        Some(Value::Array(m)) if m.is_empty() => {
            return Err(ApiError::invalid(
                "Invalid 'messages': empty array. Expected an array with minimum length 1, \
                 but got an empty array instead.",
                Some("messages"),
                Some("empty_array"),
            ));
        }
        Some(Value::Array(m)) => m,
        Some(other) => return Err(ApiError::wrong_type("messages", "an array", other)),
    };
    let mut texts = Vec::with_capacity(messages.len());
    for (i, message) in messages.iter().enumerate() {
        texts.push(message_text(i, message)?);
    }
    let chars = texts.iter().map(|t| t.chars().count()).sum();
    let text = texts.join("\n");
    if let Some(format) = body.get("response_format") {
        response_format(format, &text)?;
    }
    if body.get("stream").is_some_and(|s| s == &Value::Bool(true)) {
        return Err(ApiError::invalid(
            "Streaming is not served by this endpoint; send 'stream': false.",
            Some("stream"),
            Some("unsupported_value"),
        ));
    }
    Ok(ChatRequest { model, text, chars })
}

/// The text of `messages[i]`: its string content or its text parts joined.
fn message_text(i: usize, message: &Value) -> Result<String, ApiError> {
    let at = |field: &str| format!("messages[{i}].{field}");
    let Some(fields) = message.as_object() else {
        return Err(ApiError::wrong_type(
            &format!("messages[{i}]"),
            "an object",
            message,
        ));
    };
    let role = match fields.get("role") {
        None => return Err(ApiError::missing(&at("role"))),
        Some(Value::String(role)) if ROLES.contains(&role.as_str()) => role.as_str(),
        Some(Value::String(role)) => {
            let supported = [
                "system",
                "assistant",
                "user",
                "function",
                "tool",
                "developer",
            ];
            return Err(ApiError::unsupported(&at("role"), role, &supported));
        }
        Some(other) => return Err(ApiError::wrong_type(&at("role"), "a string", other)),
    };
    if role == "tool" && !fields.get("tool_call_id").is_some_and(Value::is_string) {
        return Err(ApiError::missing(&at("tool_call_id")));
    }
    match fields.get("content") {
        Some(Value::String(text)) => Ok(text.clone()),
        Some(Value::Array(parts)) => {
            let mut text = String::new();
            for (j, part) in parts.iter().enumerate() {
                let kind = part.get("type").and_then(Value::as_str);
                if kind.is_none() {
                    return Err(ApiError::missing(&format!(
                        "messages[{i}].content[{j}].type"
                    )));
                }
                if let Some(t) = part.get("text").and_then(Value::as_str) {
                    text.push_str(t);
                }
            }
            Ok(text)
        }
        None | Some(Value::Null) if role == "assistant" => Ok(String::new()),
        None | Some(Value::Null) => Err(ApiError::missing(&at("content"))),
        Some(other) => Err(ApiError::wrong_type(
            &at("content"),
            "one of a string or array of objects",
            other,
        )),
    }
}

/// Checks `response_format`; `text` is every message's text (JSON mode needs the
/// word "json" in it).
fn response_format(format: &Value, text: &str) -> Result<(), ApiError> {
    let Some(fields) = format.as_object() else {
        return Err(ApiError::wrong_type("response_format", "an object", format));
    };
    let kind = match fields.get("type") {
        None => return Err(ApiError::missing("response_format.type")),
        Some(Value::String(kind)) => kind.as_str(),
        Some(other) => {
            return Err(ApiError::wrong_type(
                "response_format.type",
                "a string",
                other,
            ));
        }
    };
    match kind {
        "text" => Ok(()),
        "json_object" if text.to_lowercase().contains("json") => Ok(()),
        "json_object" => Err(ApiError::invalid(
            "'messages' must contain the word 'json' in some form, to use 'response_format' \
             of type 'json_object'.",
            Some("messages"),
            None,
        )),
        "json_schema" => match fields.get("json_schema") {
            None => Err(ApiError::missing("response_format.json_schema")),
            Some(schema) => openai_schema::check(schema),
        },
        other => Err(ApiError::unsupported(
            "response_format.type",
            other,
            &["json_object", "json_schema", "text"],
        )),
    }
}
