//! `POST /v1/text-to-speech/{voice_id}` (and `/with-timestamps`) of the fake
//! ElevenLabs: the query and body checked with FastAPI's 422s (see
//! `elevenlabs_input`), then the voice (400 `voice_not_found`), the model's character cap (400
//! `max_character_limit_exceeded`) and the moderated word (400
//! `content_against_policy`). The audio is the deterministic tone at the format's
//! sample rate and at `voice_settings.speed`; with timestamps, every character of
//! the text (whitespace included) gets the start and end of its own stretch of
//! the audio, so a sentence's pause lies between its end mark and what follows.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Extension, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use super::elevenlabs::{ElevenLabs, TtsExchange, admit, detail, unprocessable};
use super::elevenlabs_input::{MODELS, check};
use super::record::Parsed;
use super::tone::{self, Timeline};

pub(crate) async fn speech(
    State(eleven): State<Arc<ElevenLabs>>,
    Path(voice_id): Path<String>,
    Query(query): Query<BTreeMap<String, String>>,
    headers: HeaderMap,
    Extension(body): Extension<Arc<Parsed>>,
) -> Response {
    tts(&eleven, voice_id, query, &headers, &body, false).await
}

pub(crate) async fn speech_with_timestamps(
    State(eleven): State<Arc<ElevenLabs>>,
    Path(voice_id): Path<String>,
    Query(query): Query<BTreeMap<String, String>>,
    headers: HeaderMap,
    Extension(body): Extension<Arc<Parsed>>,
) -> Response {
    tts(&eleven, voice_id, query, &headers, &body, true).await
}

async fn tts(
    eleven: &ElevenLabs,
    voice_id: String,
    query: BTreeMap<String, String>,
    headers: &HeaderMap,
    body: &Parsed,
    with_timestamps: bool,
) -> Response {
    let suffix = if with_timestamps {
        "/with-timestamps"
    } else {
        ""
    };
    let path = format!("/v1/text-to-speech/{voice_id}{suffix}");
    if let Some(refused) = admit(&eleven.shared, headers, &path).await {
        return refused;
    }
    let checked = match check(&query, &body.body) {
        Ok(checked) => checked,
        Err(problems) => return unprocessable(problems),
    };
    if !eleven.inner().voices.iter().any(|v| v.id == voice_id) {
        let message = format!("A voice with voice_id {voice_id} was not found.");
        return detail(StatusCode::BAD_REQUEST, "voice_not_found", &message);
    }
    let Some(model) = MODELS.iter().find(|m| m.id == checked.model_id) else {
        let message = format!("A model with model ID {} does not exist.", checked.model_id);
        return detail(StatusCode::BAD_REQUEST, "model_not_found", &message);
    };
    let chars = checked.text.chars().count();
    if chars > model.max_chars {
        let message = format!(
            "You are sending {chars} characters in a single request, but the maximum for \
             {} is {} characters. Split the text into smaller requests.",
            model.id, model.max_chars
        );
        return detail(
            StatusCode::BAD_REQUEST,
            "max_character_limit_exceeded",
            &message,
        );
    }
    if eleven.shared.moderated(&checked.text) {
        let message = "The text violates our Terms of Service and cannot be synthesized.";
        return detail(StatusCode::BAD_REQUEST, "content_against_policy", message);
    }
    let timeline = Timeline::new(&checked.text, checked.speed, checked.output.rate);
    let audio = match checked.output.encode(&timeline.samples()).await {
        Ok(audio) => audio,
        Err(e) => return (StatusCode::INTERNAL_SERVER_ERROR, e).into_response(),
    };
    let cost = if model.half_price {
        chars.div_ceil(2)
    } else {
        chars
    };
    eleven.inner().log.push(TtsExchange {
        voice_id,
        path,
        with_timestamps,
        body: body.json().cloned().unwrap_or(Value::Null),
        query,
        characters: cost,
        seconds: tone::speech_seconds(&checked.text, checked.speed),
    });
    let mut resp = if with_timestamps {
        let alignment = alignment(&timeline);
        Json(json!({
            "audio_base64": STANDARD.encode(&audio),
            "alignment": alignment,
            "normalized_alignment": alignment,
        }))
        .into_response()
    } else {
        let mut resp = audio.into_response();
        let content_type = HeaderValue::from_static(checked.output.content_type());
        resp.headers_mut()
            .insert(header::CONTENT_TYPE, content_type);
        resp
    };
    let headers = resp.headers_mut();
    let id = uuid::Uuid::new_v4().simple().to_string();
    headers.insert("request-id", HeaderValue::from_str(&id).expect("ASCII"));
    headers.insert("character-cost", HeaderValue::from(cost));
    resp
}

/// Each character with the start and end of its stretch of audio, in seconds.
fn alignment(timeline: &Timeline) -> Value {
    let spans = &timeline.spans;
    json!({
        "characters": spans.iter().map(|s| s.ch.to_string()).collect::<Vec<_>>(),
        "character_start_times_seconds":
            spans.iter().map(|s| timeline.seconds(s.start)).collect::<Vec<_>>(),
        "character_end_times_seconds":
            spans.iter().map(|s| timeline.seconds(s.end)).collect::<Vec<_>>(),
    })
}
