//! ElevenLabs text to speech with timestamps
//! (`POST /v1/text-to-speech/{voice_id}/with-timestamps?output_format=pcm_24000`):
//! the answer carries the audio (base64) and, for each character of the text, when
//! it is said, which times the captions sentence by sentence.
//!
//! Errors come as `{"detail": {status, message}}`, or a list on 422. A 429 is
//! `too_many_concurrent_requests` (over the plan's concurrency) or `system_busy`:
//! both are waited out; `quota_exceeded` is out of credit and `voice_not_found` a
//! bad voice, both permanent. The `character-cost` header says what was billed.

use std::path::Path;

use ai_video_shared::config::Secret;
use ai_video_shared::domain::{Language, Provider, ProviderSettings};
use base64::Engine;
use reqwest::StatusCode;
use serde_json::{Value, json};

use super::http::{classify, retry_after, send, short};
use super::speech::{Pcm, Speech, SpeechProvider, SpeechRequest};
use super::{Call, ProviderError};

const PROVIDER: Provider = Provider::ElevenLabs;
/// The model when the settings name none: it speaks Korean among 29 languages.
const DEFAULT_MODEL: &str = "eleven_multilingual_v2";
/// The voice when the story names none (the premade "Rachel").
const DEFAULT_VOICE: &str = "21m00Tcm4TlvDq8ikWAM";
const PCM_RATE: u32 = 24_000;

pub struct ElevenLabs {
    client: reqwest::Client,
    base: String,
    key: Secret,
}

/// The message and status of an error body; 422 lists problems.
fn reason(body: &str) -> (String, String) {
    let Ok(v) = serde_json::from_str::<Value>(body) else {
        return (String::new(), short(body));
    };
    let detail = &v["detail"];
    if let Some(list) = detail.as_array() {
        let message = list
            .iter()
            .map(|d| {
                let loc: Vec<String> = d["loc"]
                    .as_array()
                    .map(|l| {
                        l.iter()
                            .map(|p| p.to_string().trim_matches('"').to_string())
                            .collect()
                    })
                    .unwrap_or_default();
                format!("{}: {}", loc.join("."), d["msg"].as_str().unwrap_or(""))
            })
            .collect::<Vec<_>>()
            .join("; ");
        return ("validation_error".into(), message);
    }
    let status = detail["status"].as_str().unwrap_or("").to_string();
    let message = detail["message"]
        .as_str()
        .or_else(|| detail.as_str())
        .map(str::to_string)
        .unwrap_or_else(|| short(body));
    (status, message)
}

/// `language_code` is only read by the v2.5 and v3 models.
fn language_code(model: &str, language: Language) -> Option<&'static str> {
    let reads = model.contains("v2_5") || model.starts_with("eleven_v3");
    reads.then(|| match language {
        Language::English | Language::AmericanEnglish => "en",
        Language::Mandarin => "zh",
        other => other.as_str(),
    })
}

impl ElevenLabs {
    pub fn new(client: reqwest::Client, base: &str, key: Secret) -> Self {
        Self {
            client,
            base: base.trim_end_matches('/').to_string(),
            key,
        }
    }
}

#[async_trait::async_trait]
impl SpeechProvider for ElevenLabs {
    fn model(&self, settings: &ProviderSettings) -> String {
        settings
            .speech_model
            .clone()
            .unwrap_or_else(|| DEFAULT_MODEL.into())
    }

    async fn speak(
        &self,
        req: &SpeechRequest<'_>,
        call: &Call<'_>,
        work: &Path,
        name: &str,
    ) -> Result<Speech, ProviderError> {
        call.gate.pass().await?;
        let model = self.model(call.settings);
        let voice = req.voice.unwrap_or(DEFAULT_VOICE);
        let mut body = json!({"text": req.text, "model_id": model});
        if let Some(code) = language_code(&model, req.language) {
            body["language_code"] = json!(code);
        }
        let url = format!(
            "{}/v1/text-to-speech/{voice}/with-timestamps?output_format=pcm_{PCM_RATE}",
            self.base
        );
        let response = send(
            || {
                self.client
                    .post(&url)
                    .header("xi-api-key", self.key.expose())
                    .json(&body)
            },
            PROVIDER,
        )
        .await?;
        let status = response.status();
        let billed = response
            .headers()
            .get("character-cost")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        let wait = retry_after(&response);
        let text = response.text().await.unwrap_or_default();
        if !status.is_success() {
            let (code, message) = reason(&text);
            return Err(match (status, code.as_str()) {
                (_, "quota_exceeded") => {
                    ProviderError::Permanent(format!("{PROVIDER} needs payment: {message}"))
                }
                (StatusCode::TOO_MANY_REQUESTS, _) => {
                    classify(PROVIDER, status, &format!("{code}: {message}"), wait)
                }
                _ => classify(PROVIDER, status, &format!("{code} {message}"), wait),
            });
        }
        let answer: Value = serde_json::from_str(&text).map_err(|e| {
            ProviderError::retryable(format!(
                "{PROVIDER} answered something that is not JSON: {e}"
            ))
        })?;
        let pcm = base64::engine::general_purpose::STANDARD
            .decode(answer["audio_base64"].as_str().unwrap_or(""))
            .map_err(|e| {
                ProviderError::retryable(format!("{PROVIDER} sent unreadable audio: {e}"))
            })?;
        let characters = billed.unwrap_or(req.text.chars().count() as u64);
        Pcm {
            samples: &pcm,
            rate: PCM_RATE,
            characters,
            alignment: alignment(&answer["alignment"], req.text),
            metadata: json!({"model": model, "voice": voice, "characters": characters,
                             "aligned": true}),
        }
        .into_speech(PROVIDER, call.settings, work, name)
        .await
    }
}

/// The per-character times of `alignment`, when they cover `text` one to one.
fn alignment(alignment: &Value, text: &str) -> Option<Vec<(f64, f64)>> {
    let starts = alignment["character_start_times_seconds"].as_array()?;
    let ends = alignment["character_end_times_seconds"].as_array()?;
    let chars = alignment["characters"].as_array()?;
    if starts.len() != ends.len()
        || chars.len() != starts.len()
        || starts.len() != text.chars().count()
    {
        return None;
    }
    starts
        .iter()
        .zip(ends)
        .map(|(s, e)| Some((s.as_f64()?, e.as_f64()?)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_read_from_objects_and_lists() {
        let (code, message) =
            reason(r#"{"detail":{"status":"voice_not_found","message":"No voice"}}"#);
        assert_eq!(
            (code.as_str(), message.as_str()),
            ("voice_not_found", "No voice")
        );
        let (code, message) = reason(
            r#"{"detail":[{"loc":["body","text"],"msg":"Field required","type":"missing"}]}"#,
        );
        assert_eq!(code, "validation_error");
        assert_eq!(message, "body.text: Field required");
    }

    #[test]
    fn alignment_must_cover_the_text() {
        let a = json!({"characters": ["H", "i"], "character_start_times_seconds": [0.0, 0.1],
                       "character_end_times_seconds": [0.1, 0.2]});
        assert_eq!(alignment(&a, "Hi"), Some(vec![(0.0, 0.1), (0.1, 0.2)]));
        assert_eq!(alignment(&a, "Hi!"), None);
        assert_eq!(
            language_code("eleven_multilingual_v2", Language::Korean),
            None
        );
        assert_eq!(
            language_code("eleven_flash_v2_5", Language::Korean),
            Some("ko")
        );
    }
}
