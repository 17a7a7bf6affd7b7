//! Any OpenAI-compatible server (`OPENAI_API_BASE`, default OpenAI's `/v1`; Ollama,
//! vLLM, LM Studio and gateways too): Chat Completions with a JSON schema plans
//! scenes, `/audio/speech` narrates.
//!
//! A chat answer is read as openai-python reads it: `finish_reason` `length` is a
//! truncated answer, `content_filter` and a `refusal` are permanent refusals, else
//! `content` is the plan. Errors come as `{"error": {message, type, param, code}}`
//! (or, from some local servers, `{"error": "<text>"}`); a 429 of type
//! `insufficient_quota` is out of credit (permanent), any other 429 is waited out.
//! Tokens and characters are costed with the provider config's prices.

use std::path::Path;

use ai_video_shared::config::Secret;
use ai_video_shared::domain::{Provider, ProviderSettings};
use reqwest::{RequestBuilder, StatusCode};
use rust_decimal::Decimal;
use serde_json::{Value, json};

use super::http::{classify, retry_after, send, short};
use super::speech::{Pcm, Speech, SpeechProvider, SpeechRequest, per_million};
use super::{Call, ProviderError};

const PROVIDER: Provider = Provider::OpenAi;
/// The chat model when the settings name none.
const DEFAULT_CHAT_MODEL: &str = "gpt-4o-mini";
/// The speech model when the settings name none.
const DEFAULT_SPEECH_MODEL: &str = "tts-1";
/// `pcm` speech is 24 kHz, 16-bit, mono.
const PCM_RATE: u32 = 24_000;
/// The most an answer may spend, in tokens.
const MAX_COMPLETION_TOKENS: u32 = 8192;

pub struct OpenAi {
    client: reqwest::Client,
    base: String,
    key: Option<Secret>,
}

/// A chat request: the messages and the `response_format`.
#[derive(Debug, Clone)]
pub struct ChatRequest<'a> {
    pub messages: &'a [Value],
    pub response_format: &'a Value,
}

/// A chat answer and what it cost.
#[derive(Debug, Clone)]
pub struct ChatAnswer {
    /// The text of the answer; `None` when it was cut off at the token limit.
    pub content: Option<String>,
    pub model: String,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub cost: Decimal,
}

/// The message of an error body in any of the shapes compatible servers use.
fn reason(body: &str) -> String {
    let Ok(v) = serde_json::from_str::<Value>(body) else {
        return short(body);
    };
    let error = &v["error"];
    error["message"]
        .as_str()
        .or_else(|| error.as_str())
        .or_else(|| v["message"].as_str())
        .map(str::to_string)
        .unwrap_or_else(|| short(body))
}

/// Whether a 429 means the account is out of credit rather than too fast.
fn out_of_quota(body: &str) -> bool {
    let v: Value = serde_json::from_str(body).unwrap_or_default();
    let error = &v["error"];
    ["insufficient_quota", "credit_balance_exhausted"]
        .iter()
        .any(|q| error["type"] == *q || error["code"] == *q)
}

impl OpenAi {
    pub fn new(client: reqwest::Client, base: &str, key: Option<Secret>) -> Self {
        Self {
            client,
            base: base.trim_end_matches('/').to_string(),
            key,
        }
    }

    fn post(&self, path: &str, body: &Value) -> RequestBuilder {
        let request = self.client.post(format!("{}{path}", self.base)).json(body);
        match &self.key {
            Some(key) => request.bearer_auth(key.expose()),
            None => request,
        }
    }

    /// Sends a request, answering the successful response or the classified error.
    async fn call(&self, path: &str, body: &Value) -> Result<reqwest::Response, ProviderError> {
        let response = send(|| self.post(path, body), PROVIDER).await?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let wait = retry_after(&response);
        let text = response.text().await.unwrap_or_default();
        if status == StatusCode::TOO_MANY_REQUESTS && out_of_quota(&text) {
            return Err(ProviderError::Permanent(format!(
                "{PROVIDER} needs payment: {}",
                reason(&text)
            )));
        }
        Err(classify(PROVIDER, status, &reason(&text), wait))
    }

    /// One Chat Completions request.
    pub async fn complete(
        &self,
        req: &ChatRequest<'_>,
        call: &Call<'_>,
    ) -> Result<ChatAnswer, ProviderError> {
        call.gate.pass().await?;
        let model = call
            .settings
            .chat_model
            .clone()
            .unwrap_or_else(|| DEFAULT_CHAT_MODEL.into());
        let body = json!({
            "model": model,
            "messages": req.messages,
            "response_format": req.response_format,
            "max_completion_tokens": MAX_COMPLETION_TOKENS,
        });
        let response = self.call("/chat/completions", &body).await?;
        let answer: Value = response.json().await.map_err(|e| {
            ProviderError::retryable(format!(
                "{PROVIDER} answered something that is not JSON: {e}"
            ))
        })?;
        let usage = &answer["usage"];
        let prompt_tokens = usage["prompt_tokens"].as_u64().unwrap_or(0);
        let completion_tokens = usage["completion_tokens"].as_u64().unwrap_or(0);
        let settings = call.settings;
        let cost = per_million(
            ProviderSettings::price(settings.input_token_price.as_deref()),
            prompt_tokens,
        ) + per_million(
            ProviderSettings::price(settings.output_token_price.as_deref()),
            completion_tokens,
        );
        let choice = &answer["choices"][0];
        let message = &choice["message"];
        match choice["finish_reason"].as_str() {
            Some("content_filter") => {
                return Err(ProviderError::Permanent(format!(
                    "{PROVIDER} blocked the answer (content_filter)"
                )));
            }
            Some("length") => {
                return Ok(ChatAnswer {
                    content: None,
                    model,
                    prompt_tokens,
                    completion_tokens,
                    cost,
                });
            }
            _ => {}
        }
        if let Some(refusal) = message["refusal"].as_str() {
            return Err(ProviderError::Permanent(format!(
                "{PROVIDER} refused to plan the story: {}",
                short(refusal)
            )));
        }
        let content = message["content"].as_str().ok_or_else(|| {
            ProviderError::retryable(format!("{PROVIDER} answered without content"))
        })?;
        Ok(ChatAnswer {
            content: Some(content.to_string()),
            model,
            prompt_tokens,
            completion_tokens,
            cost,
        })
    }
}

#[async_trait::async_trait]
impl SpeechProvider for OpenAi {
    fn model(&self, settings: &ProviderSettings) -> String {
        settings
            .speech_model
            .clone()
            .unwrap_or_else(|| DEFAULT_SPEECH_MODEL.into())
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
        let voice = req.voice.unwrap_or("alloy");
        let body = json!({
            "model": model,
            "input": req.text,
            "voice": voice,
            "response_format": "pcm",
        });
        let response = self.call("/audio/speech", &body).await?;
        let pcm = response
            .bytes()
            .await
            .map_err(|e| ProviderError::retryable(format!("{PROVIDER} speech was cut off: {e}")))?;
        let characters = req.text.chars().count() as u64;
        Pcm {
            samples: &pcm,
            rate: PCM_RATE,
            characters,
            alignment: None,
            metadata: json!({"model": model, "voice": voice, "characters": characters}),
        }
        .into_speech(PROVIDER, call.settings, work, name)
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_messages_are_read_from_every_envelope() {
        assert_eq!(
            reason(
                r#"{"error":{"message":"Bad key","type":"invalid_request_error","code":"invalid_api_key"}}"#
            ),
            "Bad key"
        );
        assert_eq!(
            reason(r#"{"error":"'response_format.type' must be 'json_schema'"}"#),
            "'response_format.type' must be 'json_schema'"
        );
        assert_eq!(
            reason(r#"{"object":"error","message":"gone","code":404}"#),
            "gone"
        );
        assert!(out_of_quota(
            r#"{"error":{"message":"x","type":"insufficient_quota","code":"insufficient_quota"}}"#
        ));
        assert!(!out_of_quota(
            r#"{"error":{"message":"x","type":"requests","code":"rate_limit_exceeded"}}"#
        ));
    }
}
