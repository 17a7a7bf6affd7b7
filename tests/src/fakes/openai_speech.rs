//! `POST /v1/audio/speech` of the fake OpenAI: the request checked as OpenAI
//! checks it (model, input of 1 to 4 096 characters, voice for the model,
//! instructions, response format, speed 0.25–4, `stream_format: audio` only), and
//! the answer the deterministic tone of [`speech_seconds`](super::speech_seconds)
//! at 24 kHz mono: `pcm` raw s16le, `wav` with a 44-byte header, `mp3`, `opus`
//! (Ogg), `aac` (ADTS) and `flac` encoded by ffmpeg. The body is
//! `application/octet-stream` whatever the format, as OpenAI's spec declares.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Extension, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::openai::{ApiError, OpenAi, admit, generation_headers, with_request_id};
use super::openai_chat::not_json;
use super::record::Parsed;
use super::tone::{self, Codec, Timeline};

/// The speech models.
pub(crate) const SPEECH_MODELS: [&str; 5] = [
    "tts-1",
    "tts-1-hd",
    "gpt-4o-mini-tts",
    "gpt-4o-mini-tts-2025-12-15",
    "gpt-4o-mini-tts-2025-03-20",
];

/// The built-in voices of the `gpt-4o-mini-tts` models.
const VOICES: [&str; 13] = [
    "alloy", "ash", "ballad", "coral", "echo", "fable", "nova", "onyx", "sage", "shimmer", "verse",
    "marin", "cedar",
];

/// The voices of `tts-1` and `tts-1-hd`.
const TTS1_VOICES: [&str; 9] = [
    "alloy", "ash", "coral", "echo", "fable", "onyx", "nova", "sage", "shimmer",
];

const FORMATS: [&str; 6] = ["mp3", "opus", "aac", "flac", "wav", "pcm"];

/// The sample rate of the speech, as OpenAI's `pcm`.
pub const SPEECH_SAMPLE_RATE: u32 = 24_000;

/// The longest `input` and `instructions`, in characters.
const MAX_CHARS: usize = 4096;

/// One speech request the fake answered with audio.
#[derive(Debug, Clone, PartialEq)]
pub struct SpeechExchange {
    /// The request body as sent.
    pub request: Value,
    /// Characters of `input`: what OpenAI bills for `tts-1*`.
    pub characters: usize,
    /// Length of the audio made, in seconds.
    pub seconds: f64,
}

/// A request that passed the checks.
struct SpeechRequest {
    input: String,
    format: String,
    speed: f64,
}

pub(crate) async fn speech(
    State(openai): State<Arc<OpenAi>>,
    headers: HeaderMap,
    Extension(body): Extension<Arc<Parsed>>,
) -> Response {
    let started = Instant::now();
    let remaining = match admit(&openai.shared, &headers, "/v1/audio/speech").await {
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
    if openai.shared.moderated(&request.input) {
        return ApiError::moderated().into_response();
    }
    let timeline = Timeline::new(&request.input, request.speed, SPEECH_SAMPLE_RATE);
    let samples = timeline.samples();
    let audio = match request.format.as_str() {
        "pcm" => Ok(tone::pcm_bytes(&samples)),
        "wav" => Ok(tone::wav_bytes(&samples, SPEECH_SAMPLE_RATE)),
        other => {
            let codec = match other {
                "opus" => Codec::Opus(64),
                "aac" => Codec::Aac,
                "flac" => Codec::Flac,
                _ => Codec::Mp3(128),
            };
            tone::encode(&samples, SPEECH_SAMPLE_RATE, codec).await
        }
    };
    let audio = match audio {
        Ok(bytes) => bytes,
        Err(e) => {
            return with_request_id((StatusCode::INTERNAL_SERVER_ERROR, e).into_response());
        }
    };
    openai.inner().speeches.push(SpeechExchange {
        request: json.clone(),
        characters: request.input.chars().count(),
        seconds: tone::speech_seconds(&request.input, request.speed),
    });
    let mut resp = audio.into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    generation_headers(resp, started, remaining)
}

/// A string member of at most 4 096 characters, if present.
fn text<'a>(body: &'a Value, param: &str) -> Result<Option<&'a str>, ApiError> {
    let text = match body.get(param) {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(text)) => text,
        Some(other) => return Err(ApiError::wrong_type(param, "a string", other)),
    };
    let len = text.chars().count();
    if len > MAX_CHARS {
        return Err(ApiError::invalid(
            format!(
                "Invalid '{param}': string too long. Expected a string with maximum length \
                 {MAX_CHARS}, but got a string with length {len} instead."
            ),
            Some(param),
            Some("string_above_max_length"),
        ));
    }
    Ok(Some(text))
}

fn validate(body: &Value) -> Result<SpeechRequest, ApiError> {
    let model = match body.get("model") {
        None | Some(Value::Null) => return Err(ApiError::missing("model")),
        Some(Value::String(model)) => model.as_str(),
        Some(other) => return Err(ApiError::wrong_type("model", "a string", other)),
    };
    if !SPEECH_MODELS.contains(&model) {
        return Err(ApiError::no_model(model));
    }
    let tts1 = model.starts_with("tts-1");
    let input = match text(body, "input")? {
        None => return Err(ApiError::missing("input")),
        Some("") => {
            return Err(ApiError::invalid(
                "Invalid 'input': empty string. Expected a string with minimum length 1, but \
                 got an empty string instead.",
                Some("input"),
                Some("empty_string"),
            ));
        }
        Some(input) => input.to_string(),
    };
    voice(body.get("voice"), tts1)?;
    text(body, "instructions")?;
    let format = match body.get("response_format") {
        None | Some(Value::Null) => "mp3".to_string(),
        Some(Value::String(f)) if FORMATS.contains(&f.as_str()) => f.clone(),
        Some(Value::String(f)) => {
            return Err(ApiError::unsupported("response_format", f, &FORMATS));
        }
        Some(other) => return Err(ApiError::wrong_type("response_format", "a string", other)),
    };
    let speed = match body.get("speed") {
        None | Some(Value::Null) => 1.0,
        Some(Value::Number(n)) => n.as_f64().unwrap_or(1.0),
        Some(other) => return Err(ApiError::wrong_type("speed", "a number", other)),
    };
    if speed > 4.0 {
        return Err(ApiError::invalid(
            format!(
                "Invalid 'speed': decimal above maximum value. Expected a value <= 4, but got \
                 {speed} instead."
            ),
            Some("speed"),
            Some("decimal_above_max_value"),
        ));
    }
    if speed < 0.25 {
        return Err(ApiError::invalid(
            format!(
                "Invalid 'speed': decimal below minimum value. Expected a value >= 0.25, but \
                 got {speed} instead."
            ),
            Some("speed"),
            Some("decimal_below_min_value"),
        ));
    }
    match body.get("stream_format") {
        None | Some(Value::Null) => {}
        Some(Value::String(f)) if f == "audio" => {}
        Some(Value::String(f)) if f == "sse" => {
            return Err(ApiError::invalid(
                "Unsupported value: 'stream_format' does not support 'sse' here; this \
                 server only sends raw audio ('audio').",
                Some("stream_format"),
                Some("unsupported_value"),
            ));
        }
        Some(Value::String(f)) => {
            return Err(ApiError::unsupported("stream_format", f, &["sse", "audio"]));
        }
        Some(other) => return Err(ApiError::wrong_type("stream_format", "a string", other)),
    }
    Ok(SpeechRequest {
        input,
        format,
        speed,
    })
}

/// A built-in voice of the model, or (not for `tts-1*`) `{"id": "voice_…"}`.
fn voice(voice: Option<&Value>, tts1: bool) -> Result<(), ApiError> {
    let builtin: &[&str] = if tts1 { &TTS1_VOICES } else { &VOICES };
    match voice {
        None | Some(Value::Null) => Err(ApiError::missing("voice")),
        Some(Value::String(name)) if builtin.contains(&name.as_str()) => Ok(()),
        Some(Value::String(name)) => Err(ApiError::unsupported("voice", name, builtin)),
        Some(Value::Object(custom)) => match custom.get("id").and_then(Value::as_str) {
            Some(id) if id.starts_with("voice_") && id.len() > 6 && !tts1 => Ok(()),
            Some(id) => Err(ApiError::invalid(
                format!("Invalid 'voice.id': '{id}' is not a custom voice of this model."),
                Some("voice"),
                Some("invalid_value"),
            )),
            None => Err(ApiError::missing("voice.id")),
        },
        Some(other) => Err(ApiError::wrong_type(
            "voice",
            "a string or an object",
            other,
        )),
    }
}
