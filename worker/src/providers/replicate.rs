//! Replicate: images and video through predictions on configurable models.
//!
//! `settings.image_model` and `settings.video_model` name official models
//! (`owner/name`, created with `POST /v1/models/{owner}/{name}/predictions`), or
//! `settings.image_version` / `video_version` pin a version (`POST /v1/predictions`).
//! Inputs follow the common schema of those models — `prompt`, `aspect_ratio`, `seed`
//! and, for video, the keyframe as `image` (a data URI) and `duration` in seconds — and
//! `settings.image_input` / `video_input` add or override fields for a given model.
//!
//! With `settings.webhook_url` (the API's `/api/ai-video/webhooks/replicate/`),
//! predictions ask Replicate to call it on completion; the API verifies the signature
//! and leaves the prediction in Redis, where the polling loop picks it up without
//! another request to Replicate.
//!
//! Image predictions ask the server to hold the request (`Prefer: wait=N`, N at most
//! half the client's request timeout, so the answer always arrives), which usually
//! saves every poll; anything still running is polled every
//! `settings.poll_interval_ms` (1 s). A create is sent once, never re-sent inside the
//! call, and its id is recorded before polling: a run that lost its worker adopts
//! the prediction. A prediction still running at its deadline
//! (`settings.deadline_secs`: 5 min for images, 15 min for video) is cancelled and
//! the attempt fails naming it; a cancelled job cancels its prediction.
//! Outputs (URLs on replicate.delivery, or data URIs) are downloaded at once: they
//! are deleted after an hour. A prediction that fails on a safety check fails the job
//! at once; other failures are retried. Cost: the config's unit prices (Replicate
//! prices by model), with `metrics.predict_time` kept as the provider's own unit.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use ai_video_shared::config::Secret;
use ai_video_shared::domain::{AspectRatio, Provider};
use rust_decimal::Decimal;
use serde_json::{Value, json};

use super::http::{Caps, Deadline, Output, call_json, create_json, data_uri, download};
use super::{
    Call, Generated, ImageProvider, ImageRequest, ProviderError, VideoProvider, VideoRequest,
    full_prompt,
};
use crate::outbound::Outbound;

const PROVIDER: Provider = Provider::Replicate;

pub struct Replicate {
    client: reqwest::Client,
    outbound: Arc<Outbound>,
    base: String,
    token: Secret,
    inbox: Option<Inbox>,
    /// The longest `Prefer: wait` asked for: half the client's request timeout.
    max_wait: u32,
    caps: Caps,
}

/// Where the API leaves predictions its webhook received.
#[derive(Clone)]
pub struct Inbox {
    pub conn: redis::aio::ConnectionManager,
    pub queue: ai_video_shared::config::QueueConfig,
}

impl Inbox {
    async fn take(&self, id: &str) -> Option<Value> {
        let mut conn = self.conn.clone();
        let key = ai_video_shared::webhooks::inbox_key(&self.queue, id);
        let body: Option<String> = redis::cmd("GETDEL")
            .arg(&key)
            .query_async(&mut conn)
            .await
            .ok()?;
        body.and_then(|b| serde_json::from_str(&b).ok())
    }
}

/// A finished prediction.
struct Finished {
    id: String,
    output: String,
    predict_time: Option<f64>,
}

fn aspect(aspect: AspectRatio) -> &'static str {
    match aspect {
        AspectRatio::Landscape => "16:9",
        AspectRatio::Portrait => "9:16",
        AspectRatio::Square => "1:1",
        AspectRatio::Classic => "4:3",
        AspectRatio::ClassicPortrait => "3:4",
        AspectRatio::Cinema => "21:9",
    }
}

/// Replicate's message from a problem+json body.
fn reason(body: &str) -> String {
    let v: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    let mut text = v["detail"].as_str().unwrap_or(body).to_string();
    if let Some(title) = v["title"].as_str() {
        text = format!("{title}: {text}");
    }
    if let Some(fields) = v["invalid_fields"].as_array() {
        for f in fields {
            text.push_str(&format!(
                "; {}: {}",
                f["field"].as_str().unwrap_or(""),
                f["description"].as_str().unwrap_or("")
            ));
        }
    }
    text
}

fn looks_moderated(error: &str) -> bool {
    let e = error.to_ascii_lowercase();
    ["nsfw", "safety", "flagged", "moderation", "sensitive"]
        .iter()
        .any(|w| e.contains(w))
}

/// The first output of a prediction: a URL string, or the first of a list.
fn first_output(output: &Value) -> Option<String> {
    match output {
        Value::String(s) => Some(s.clone()),
        Value::Array(items) => items.iter().find_map(|i| i.as_str().map(str::to_string)),
        _ => None,
    }
}

impl Replicate {
    pub fn new(
        (client, outbound): (reqwest::Client, Arc<Outbound>),
        base: &str,
        token: Secret,
        inbox: Option<Inbox>,
        timeout: Duration,
        caps: Caps,
    ) -> Self {
        Self {
            client,
            outbound,
            base: base.to_string(),
            token,
            inbox,
            max_wait: (timeout.as_secs() / 2).clamp(1, 60) as u32,
            caps,
        }
    }

    /// A path on the API, or a URL the API named, when it is on the API's own
    /// origin: the token goes nowhere else.
    fn url(&self, path: &str) -> Option<String> {
        if !path.starts_with("http") {
            return Some(format!("{}{path}", self.base));
        }
        reqwest::Url::parse(path)
            .ok()
            .filter(|u| Outbound::same_origin(u, &self.base))
            .map(|_| path.to_string())
    }

    /// Creates a prediction for `role` (`image` or `video`) and follows it to the end.
    /// Downloads a finished prediction's output to `path` (an output that expired
    /// first makes the prediction run again).
    async fn fetch(
        &self,
        done: Finished,
        path: PathBuf,
        (content_type, output): (&'static str, Output),
        cost: Decimal,
    ) -> Result<Generated, ProviderError> {
        download(
            &self.client,
            &self.outbound,
            &done.output,
            Some((self.token.expose(), &self.base)),
            &path,
            PROVIDER,
            output,
        )
        .await
        .map_err(expired_is_retryable)?;
        Ok(Generated {
            path,
            content_type,
            cost,
            metadata: json!({"provider": PROVIDER, "prediction": done.id, "units": {"predict_time": done.predict_time}}),
        })
    }

    async fn predict(
        &self,
        (role, price): (&str, Decimal),
        input: Value,
        wait: Option<u32>,
        call: &Call<'_>,
    ) -> Result<Finished, ProviderError> {
        let settings = call.settings;
        let (version, model, _) = settings.role(role);
        let (path, mut body) = match version {
            Some(version) => (
                "/v1/predictions".to_string(),
                json!({"version": version, "input": input}),
            ),
            None => {
                let model = model.ok_or_else(|| {
                    ProviderError::Permanent(format!(
                        "replicate has no {role}_model in its settings"
                    ))
                })?;
                if model.split('/').count() != 2 {
                    return Err(ProviderError::Permanent(format!(
                        "replicate {role}_model {model:?} is not owner/name"
                    )));
                }
                (
                    format!("/v1/models/{model}/predictions"),
                    json!({"input": input}),
                )
            }
        };
        if let Some(hook) = settings.webhook_url.as_deref() {
            body["webhook"] = json!(hook);
            body["webhook_events_filter"] = json!(["completed"]);
        }
        let step = format!("task.{role}");
        let mut prediction = match self.adoptable(&step, call).await {
            Some(prediction) => prediction,
            None => {
                call.gate.pass().await?;
                // Sent once: a create that timed out or got a 5xx may have been
                // accepted, and a second one would be billed too. The hold stays
                // well under the client's timeout, so the answer arrives.
                let wait = wait.map(|s| s.min(self.max_wait));
                let prediction = create_json(
                    || {
                        let req = self
                            .client
                            .post(format!("{}{path}", self.base))
                            .bearer_auth(self.token.expose())
                            .json(&body);
                        match wait {
                            Some(s) => req.header("Prefer", format!("wait={s}")),
                            None => req,
                        }
                    },
                    PROVIDER,
                    reason,
                )
                .await?;
                let id = prediction["id"].as_str().unwrap_or_default();
                tracing::info!(prediction = %id, "replicate prediction created");
                call.tasks.record(&step, id, price).await?;
                prediction
            }
        };
        let id = prediction["id"].as_str().unwrap_or_default().to_string();
        let interval = Duration::from_millis(settings.poll_interval_ms.unwrap_or(1000).max(50));
        let deadline = Deadline::new(settings.deadline_secs, role_deadline(role));
        loop {
            match prediction["status"].as_str().unwrap_or_default() {
                "succeeded" => {
                    if let Some(output) = first_output(&prediction["output"]) {
                        (call.progress)(1.0);
                        return Ok(Finished {
                            id,
                            output,
                            predict_time: prediction["metrics"]["predict_time"].as_f64(),
                        });
                    }
                    return Err(ProviderError::retryable(
                        if prediction["data_removed"] == true {
                            "replicate removed the prediction's output before it was downloaded"
                        } else {
                            "replicate prediction succeeded without output"
                        },
                    ));
                }
                "failed" => {
                    let error = prediction["error"]
                        .as_str()
                        .unwrap_or("the prediction failed")
                        .to_string();
                    return Err(if looks_moderated(&error) {
                        ProviderError::Permanent(format!(
                            "replicate content moderation refused the request: {error}"
                        ))
                    } else {
                        ProviderError::Retryable(format!("replicate prediction failed: {error}"))
                    });
                }
                "canceled" | "aborted" => {
                    return Err(ProviderError::retryable(
                        "replicate cancelled the prediction",
                    ));
                }
                "processing" => (call.progress)(0.5),
                _ => {}
            }
            if deadline.passed() {
                self.cancel(&prediction, &id).await;
                return Err(deadline.error(PROVIDER, &format!("prediction {id}")));
            }
            tokio::select! {
                _ = call.cancel.cancelled() => {
                    self.cancel(&prediction, &id).await;
                    return Err(ProviderError::Cancelled);
                }
                _ = tokio::time::sleep(interval) => {}
            }
            if let Some(inbox) = &self.inbox
                && let Some(delivered) = inbox.take(&id).await
            {
                prediction = delivered;
                continue;
            }
            let get = prediction["urls"]["get"]
                .as_str()
                .and_then(|get| self.url(get))
                .unwrap_or_else(|| format!("{}/v1/predictions/{id}", self.base));
            prediction = call_json(
                || self.client.get(&get).bearer_auth(self.token.expose()),
                PROVIDER,
                reason,
            )
            .await?;
        }
    }

    /// The prediction an earlier run recorded for `step`, when it can still
    /// deliver (starting, processing or succeeded); otherwise a new one is made.
    async fn adoptable(&self, step: &str, call: &Call<'_>) -> Option<Value> {
        let id = call.tasks.recorded(step)?;
        let fetched = call_json(
            || {
                self.client
                    .get(format!("{}/v1/predictions/{id}", self.base))
                    .bearer_auth(self.token.expose())
            },
            PROVIDER,
            reason,
        )
        .await;
        match fetched {
            Ok(p)
                if matches!(
                    p["status"].as_str(),
                    Some("starting" | "processing" | "succeeded")
                ) =>
            {
                tracing::info!(prediction = %id, step, "adopting the replicate prediction an earlier run created");
                call.tasks.adopting(step);
                Some(p)
            }
            Ok(p) => {
                tracing::info!(prediction = %id, step, status = %p["status"], "the recorded replicate prediction cannot deliver; creating another");
                None
            }
            Err(e) => {
                tracing::info!(prediction = %id, step, error = %e, "the recorded replicate prediction is gone; creating another");
                None
            }
        }
    }

    async fn cancel(&self, prediction: &Value, id: &str) {
        let url = prediction["urls"]["cancel"]
            .as_str()
            .and_then(|cancel| self.url(cancel))
            .unwrap_or_else(|| format!("{}/v1/predictions/{id}/cancel", self.base));
        match self
            .client
            .post(&url)
            .bearer_auth(self.token.expose())
            .send()
            .await
        {
            Ok(r) if r.status().is_success() => {
                tracing::info!(prediction = id, "replicate prediction cancelled")
            }
            Ok(r) => {
                tracing::warn!(prediction = id, status = %r.status(), "replicate refused to cancel")
            }
            Err(e) => {
                tracing::warn!(prediction = id, error = %e, "could not cancel the replicate prediction")
            }
        }
    }

    /// The model's input: ours, with the settings' extra or overriding fields for
    /// the role.
    fn merged(base: Value, call: &Call<'_>, role: &str) -> Value {
        let mut input = base;
        let settings = call.settings;
        if let (Some(input), (_, _, Some(extra))) = (input.as_object_mut(), settings.role(role)) {
            for (k, v) in extra {
                input.insert(k.clone(), v.clone());
            }
        }
        input
    }
}

#[async_trait::async_trait]
impl ImageProvider for Replicate {
    async fn generate_image(
        &self,
        req: &ImageRequest<'_>,
        call: &Call<'_>,
        work: &Path,
    ) -> Result<Generated, ProviderError> {
        let input = Self::merged(
            json!({
                "prompt": full_prompt(req.prompt),
                "aspect_ratio": aspect(req.aspect),
                "seed": req.prompt.seed,
                "output_format": "png",
                "num_outputs": 1,
            }),
            call,
            "image",
        );
        let price = call.rates.cost_per_image;
        let done = self
            .predict(("image", price), input, Some(60), call)
            .await?;
        self.fetch(
            done,
            work.join("image.png"),
            ("image/png", self.caps.image()),
            call.rates.cost_per_image,
        )
        .await
    }
}

#[async_trait::async_trait]
impl VideoProvider for Replicate {
    async fn generate_clip(
        &self,
        req: &VideoRequest<'_>,
        call: &Call<'_>,
        work: &Path,
    ) -> Result<Generated, ProviderError> {
        let input = Self::merged(
            json!({
                "prompt": full_prompt(req.prompt),
                "image": data_uri(req.image, "image/png").await?,
                "aspect_ratio": aspect(req.aspect),
                "duration": req.seconds,
                "seed": req.prompt.seed,
            }),
            call,
            "video",
        );
        let cost = call.rates.cost_per_second_video * Decimal::from(req.seconds);
        let done = self.predict(("video", cost), input, None, call).await?;
        self.fetch(
            done,
            work.join("clip.mp4"),
            ("video/mp4", self.caps.clip()),
            cost,
        )
        .await
    }
}

/// How long a prediction may take by default: images are quick, video is not.
fn role_deadline(role: &str) -> Duration {
    match role {
        "image" => Duration::from_secs(5 * 60),
        _ => Duration::from_secs(15 * 60),
    }
}

/// An output gone before download means the prediction must run again.
fn expired_is_retryable(err: ProviderError) -> ProviderError {
    match err {
        ProviderError::Expired(m) => ProviderError::Retryable(m),
        other => other,
    }
}
