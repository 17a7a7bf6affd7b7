//! Runway: video from a keyframe (image-to-video), and images (text-to-image).
//!
//! Every request carries `X-Runway-Version: 2024-11-06`. Generation is an
//! asynchronous task: create it (once: a create is never re-sent inside the call),
//! record its id in the job's steps, then poll `GET /v1/tasks/{id}` no faster than
//! `settings.poll_interval_ms` (5 s, as Runway asks) until it SUCCEEDS, FAILS or is
//! CANCELLED; progress is reported as it runs, and a cancelled job deletes its task.
//! A run that lost its worker adopts the recorded task (and its concurrency slot)
//! instead of creating another. A task still running at its deadline
//! (`settings.deadline_secs`, 15 min) is cancelled and the attempt fails naming it.
//! Output URLs expire within a day or two, so outputs are downloaded at once; an
//! expired URL is refreshed by fetching the task again.
//!
//! Before any money is spent, the scene's duration and the story's ratio are checked
//! against the chosen model (`settings.default_model`, e.g. `gen4_turbo`: 2–10 s,
//! ratios 1280:720, 720:1280, 1104:832, 832:1104, 960:960, 1584:672). A scene longer
//! than `settings.max_duration` is made of several clips of at most that length,
//! joined without re-encoding. Running tasks per model stay within
//! `settings.max_concurrency` across the fleet. Billing is in credits per second of
//! video (gen4_turbo 5, gen4.5 12, veo3 40) and per image (gen4_image 5 at 720p, 8
//! at 1080p); 1 credit = $0.01.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use ai_video_shared::config::Secret;
use ai_video_shared::domain::{AspectRatio, Provider};
use rust_decimal::Decimal;
use serde_json::{Value, json};

use super::http::{Caps, Deadline, Output, call_json, create_json, data_uri, download};
use super::limits::Limiter;
use super::{
    Call, Generated, ImageProvider, ImageRequest, ProviderError, VideoProvider, VideoRequest,
    credits_to_money, full_prompt,
};
use crate::media::{Ffmpeg, Target, join_clips};
use crate::outbound::Outbound;

const PROVIDER: Provider = Provider::RunwayMl;
const VERSION: &str = "2024-11-06";
/// How long a concurrency slot is held without renewal.
const LEASE_HOLD: Duration = Duration::from_secs(60);
/// How long a task may take unless `settings.deadline_secs` says otherwise.
const TASK_DEADLINE: Duration = Duration::from_secs(15 * 60);

pub struct Runway {
    client: reqwest::Client,
    outbound: Arc<Outbound>,
    base: String,
    key: Secret,
    ffmpeg: Ffmpeg,
    limiter: Option<Limiter>,
    caps: Caps,
}

/// What a video model accepts.
struct VideoModel {
    durations: &'static [u32],
    ratios: fn(AspectRatio) -> Option<&'static str>,
    credits_per_second: i64,
    text_required: bool,
}

fn gen4_ratio(aspect: AspectRatio) -> Option<&'static str> {
    Some(match aspect {
        AspectRatio::Landscape => "1280:720",
        AspectRatio::Portrait => "720:1280",
        AspectRatio::Square => "960:960",
        AspectRatio::Classic => "1104:832",
        AspectRatio::ClassicPortrait => "832:1104",
        AspectRatio::Cinema => "1584:672",
    })
}

fn veo_ratio(aspect: AspectRatio) -> Option<&'static str> {
    match aspect {
        AspectRatio::Landscape => Some("1280:720"),
        AspectRatio::Portrait => Some("720:1280"),
        _ => None,
    }
}

fn video_model(name: &str) -> Option<VideoModel> {
    const TWO_TO_TEN: &[u32] = &[2, 3, 4, 5, 6, 7, 8, 9, 10];
    Some(match name {
        "gen4_turbo" => VideoModel {
            durations: TWO_TO_TEN,
            ratios: gen4_ratio,
            credits_per_second: 5,
            text_required: false,
        },
        "gen4.5" => VideoModel {
            durations: TWO_TO_TEN,
            ratios: gen4_ratio,
            credits_per_second: 12,
            text_required: true,
        },
        "veo3" => VideoModel {
            durations: &[8],
            ratios: veo_ratio,
            credits_per_second: 40,
            text_required: false,
        },
        "veo3.1" | "veo3.1_fast" => VideoModel {
            durations: &[4, 6, 8],
            ratios: veo_ratio,
            credits_per_second: if name == "veo3.1" { 40 } else { 15 },
            text_required: false,
        },
        _ => return None,
    })
}

/// Splits `seconds` into clip lengths the model accepts, none longer than `max`:
/// as few clips as possible, and of those the most even split (longest first).
pub fn segments(seconds: u32, allowed: &[u32], max: u32) -> Option<Vec<u32>> {
    let mut allowed: Vec<u32> = allowed
        .iter()
        .copied()
        .filter(|d| *d <= max && *d > 0)
        .collect();
    allowed.sort_unstable_by(|a, b| b.cmp(a));
    let longest = *allowed.first()?;
    for n in seconds.div_ceil(longest).max(1)..=seconds.max(1) {
        let mut best: Option<Vec<u32>> = None;
        let mut parts = Vec::with_capacity(n as usize);
        choose(seconds, n, &allowed, 0, &mut parts, &mut best);
        if best.is_some() {
            return best;
        }
    }
    None
}

/// Fills `parts` (non-increasing) with `n` values of `allowed[from..]` summing to
/// `left`, keeping the most even complete choice in `best`.
fn choose(
    left: u32,
    n: u32,
    allowed: &[u32],
    from: usize,
    parts: &mut Vec<u32>,
    best: &mut Option<Vec<u32>>,
) {
    if n == 0 {
        if left == 0 {
            let spread =
                |p: &[u32]| p.first().copied().unwrap_or(0) - p.last().copied().unwrap_or(0);
            if best.as_ref().is_none_or(|b| spread(parts) < spread(b)) {
                *best = Some(parts.clone());
            }
        }
        return;
    }
    for (i, &d) in allowed.iter().enumerate().skip(from) {
        if d * n < left {
            break;
        }
        if d > left {
            continue;
        }
        parts.push(d);
        choose(left - d, n - 1, allowed, i, parts, best);
        parts.pop();
    }
}

/// Image ratios of gen4_image, by story aspect; the first of each pair is 720p.
fn image_ratio(aspect: AspectRatio) -> (&'static str, i64) {
    match aspect {
        AspectRatio::Landscape => ("1280:720", 5),
        AspectRatio::Portrait => ("720:1280", 5),
        AspectRatio::Square => ("720:720", 5),
        AspectRatio::Classic => ("960:720", 5),
        AspectRatio::ClassicPortrait => ("720:960", 5),
        AspectRatio::Cinema => ("1680:720", 5),
    }
}

/// Runway's message from an error body (`{error, issues}`).
fn reason(body: &str) -> String {
    let v: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    let mut text = v["error"].as_str().unwrap_or(body).to_string();
    if let Some(issues) = v["issues"].as_array() {
        for issue in issues {
            let path: Vec<String> = issue["path"]
                .as_array()
                .map(|p| {
                    p.iter()
                        .map(|x| x.to_string().trim_matches('"').to_string())
                        .collect()
                })
                .unwrap_or_default();
            text.push_str(&format!(
                "; {}: {}",
                path.join("."),
                issue["message"].as_str().unwrap_or("")
            ));
        }
    }
    text
}

/// Promptext is limited to 1000 UTF-16 code units.
fn prompt_text(text: &str) -> Result<String, ProviderError> {
    if text.encode_utf16().count() > 1000 {
        return Err(ProviderError::Permanent(
            "runway_ml takes prompts of at most 1000 UTF-16 code units; shorten the scene's prompt"
                .into(),
        ));
    }
    Ok(text.to_string())
}

impl Runway {
    pub fn new(
        (client, outbound): (reqwest::Client, Arc<Outbound>),
        base: &str,
        key: Secret,
        ffmpeg: Ffmpeg,
        limiter: Option<Limiter>,
        caps: Caps,
    ) -> Self {
        Self {
            client,
            outbound,
            base: base.to_string(),
            key,
            ffmpeg,
            limiter,
            caps,
        }
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(self.key.expose())
            .header("X-Runway-Version", VERSION)
    }

    /// Creates a task; answers its id.
    async fn create(
        &self,
        path: &str,
        body: &Value,
        call: &Call<'_>,
    ) -> Result<String, ProviderError> {
        call.gate.pass().await?;
        let answer = create_json(
            || self.request(reqwest::Method::POST, path).json(body),
            PROVIDER,
            reason,
        )
        .await?;
        answer["id"].as_str().map(str::to_string).ok_or_else(|| {
            ProviderError::retryable(format!("runway_ml answered without a task id: {answer}"))
        })
    }

    async fn task(&self, id: &str) -> Result<Value, ProviderError> {
        call_json(
            || self.request(reqwest::Method::GET, &format!("/v1/tasks/{id}")),
            PROVIDER,
            reason,
        )
        .await
    }

    /// Cancels (or deletes) a task; best effort.
    async fn cancel(&self, id: &str) {
        let result = self
            .request(reqwest::Method::DELETE, &format!("/v1/tasks/{id}"))
            .send()
            .await;
        match result {
            Ok(r) if r.status().is_success() => {
                tracing::info!(task = id, "runway_ml task cancelled")
            }
            Ok(r) => {
                tracing::warn!(task = id, status = %r.status(), "runway_ml refused to cancel the task")
            }
            Err(e) => tracing::warn!(task = id, error = %e, "could not cancel the runway_ml task"),
        }
    }

    /// Polls a task until it ends; downloads its first output to `dest`.
    async fn finish(
        &self,
        id: &str,
        call: &Call<'_>,
        (dest, output): (&Path, Output),
        share: (f32, f32),
    ) -> Result<Value, ProviderError> {
        let settings = call.settings;
        let interval = Duration::from_millis(settings.poll_interval_ms.unwrap_or(5000).max(50));
        let deadline = Deadline::new(settings.deadline_secs, TASK_DEADLINE);
        loop {
            tokio::select! {
                _ = call.cancel.cancelled() => {
                    self.cancel(id).await;
                    return Err(ProviderError::Cancelled);
                }
                _ = tokio::time::sleep(interval) => {}
            }
            if deadline.passed() {
                self.cancel(id).await;
                return Err(deadline.error(PROVIDER, &format!("task {id}")));
            }
            let task = self.task(id).await?;
            match task["status"].as_str().unwrap_or_default() {
                "SUCCEEDED" => {
                    let url = task["output"][0].as_str().ok_or_else(|| {
                        ProviderError::retryable("runway_ml task succeeded without output")
                    })?;
                    let fetch = |url: &str| {
                        let url = url.to_owned();
                        async move {
                            download(
                                &self.client,
                                &self.outbound,
                                &url,
                                None,
                                dest,
                                PROVIDER,
                                output,
                            )
                            .await
                        }
                    };
                    match fetch(url).await {
                        Ok(()) => {}
                        Err(ProviderError::Expired(_)) => {
                            // Signed URLs expire; the task hands out fresh ones.
                            let fresh = self.task(id).await?;
                            let url = fresh["output"][0].as_str().ok_or_else(|| {
                                ProviderError::retryable("runway_ml task lost its output")
                            })?;
                            fetch(url).await.map_err(|e| match e {
                                ProviderError::Expired(m) => ProviderError::Retryable(m),
                                other => other,
                            })?;
                        }
                        Err(other) => return Err(other),
                    }
                    (call.progress)(share.0 + share.1);
                    return Ok(task);
                }
                "FAILED" => {
                    let code = task["failureCode"].as_str().unwrap_or_default();
                    let failure = task["failure"].as_str().unwrap_or("the task failed");
                    let message = format!("runway_ml task failed ({code}): {failure}");
                    return Err(
                        if code.starts_with("SAFETY")
                            || code.starts_with("INPUT_PREPROCESSING.SAFETY")
                        {
                            ProviderError::Permanent(format!(
                                "runway_ml content moderation refused the request: {failure}"
                            ))
                        } else if code.starts_with("ASSET") {
                            ProviderError::Permanent(message)
                        } else {
                            ProviderError::Retryable(message)
                        },
                    );
                }
                "CANCELLED" => {
                    return Err(ProviderError::retryable("runway_ml cancelled the task"));
                }
                "RUNNING" => {
                    let p = task["progress"].as_f64().unwrap_or(0.0).clamp(0.0, 1.0) as f32;
                    (call.progress)(share.0 + share.1 * p);
                }
                _ => {}
            }
        }
    }

    /// The task an earlier run recorded for `step`, when it can still deliver:
    /// running, waiting or succeeded. A failed, cancelled or vanished task is not
    /// adopted (a new one is created).
    async fn adoptable(&self, step: &str, call: &Call<'_>) -> Option<String> {
        let id = call.tasks.recorded(step)?;
        match self.task(&id).await {
            Ok(task) => match task["status"].as_str().unwrap_or_default() {
                "SUCCEEDED" | "RUNNING" | "PENDING" | "THROTTLED" => {
                    tracing::info!(task = %id, step, "adopting the runway_ml task an earlier run created");
                    call.tasks.adopting(step);
                    Some(id)
                }
                status => {
                    tracing::info!(task = %id, step, status, "the recorded runway_ml task cannot deliver; creating another");
                    None
                }
            },
            Err(e) => {
                tracing::info!(task = %id, step, error = %e, "the recorded runway_ml task is gone; creating another");
                None
            }
        }
    }

    /// Creates the task of `step` (or adopts the one an earlier run recorded),
    /// records it before polling, and polls it to its end.
    async fn run_task(
        &self,
        step: &str,
        path: &str,
        body: &Value,
        call: &Call<'_>,
        (dest, price): ((&Path, Output), Decimal),
        share: (f32, f32),
    ) -> Result<String, ProviderError> {
        let id = match self.adoptable(step, call).await {
            Some(id) => id,
            None => {
                let id = self.create(path, body, call).await?;
                tracing::info!(task = %id, step, "runway_ml task created");
                call.tasks.record(step, &id, price).await?;
                id
            }
        };
        self.finish(&id, call, dest, share).await?;
        Ok(id)
    }

    /// One clip of `seconds`, holding a concurrency slot while its task runs.
    async fn clip(
        &self,
        (step, price): (&str, Decimal),
        model: &str,
        body: Value,
        call: &Call<'_>,
        dest: &Path,
        share: (f32, f32),
    ) -> Result<(), ProviderError> {
        let max = call.settings.max_concurrency.unwrap_or(1).max(1);
        let lease = match &self.limiter {
            Some(limiter) => match limiter
                .lease(
                    &format!("runway_ml:{model}"),
                    max,
                    LEASE_HOLD,
                    (&call.tasks.holder(step), call.tasks.waiter().as_deref()),
                )
                .await
            {
                Ok(Ok(lease)) => Some(lease),
                Ok(Err(wait)) => {
                    return Err(ProviderError::RateLimited {
                        message: format!("runway_ml {model} is at its concurrency limit ({max})"),
                        wait,
                    });
                }
                Err(e) => {
                    return Err(ProviderError::retryable(format!(
                        "cannot take a runway_ml slot: {e}"
                    )));
                }
            },
            None => None,
        };
        // The slot is renewed while the task runs, so it outlives no dead worker
        // for long and no running task loses it.
        let renewing = async {
            if let (Some(limiter), Some(lease)) = (&self.limiter, &lease) {
                loop {
                    tokio::time::sleep(LEASE_HOLD / 3).await;
                    limiter.renew(lease, LEASE_HOLD).await;
                }
            }
            std::future::pending::<std::convert::Infallible>().await
        };
        let result = tokio::select! {
            result = self.run_task(step, "/v1/image_to_video", &body, call, ((dest, self.caps.clip()), price), share) => result.map(|_| ()),
            never = renewing => match never {},
        };
        if let (Some(limiter), Some(lease)) = (&self.limiter, &lease) {
            limiter.release(lease).await;
        }
        result
    }
}

#[async_trait::async_trait]
impl VideoProvider for Runway {
    async fn generate_clip(
        &self,
        req: &VideoRequest<'_>,
        call: &Call<'_>,
        work: &Path,
    ) -> Result<Generated, ProviderError> {
        let settings = call.settings;
        let name = settings
            .default_model
            .clone()
            .unwrap_or_else(|| "gen4_turbo".into());
        let model = video_model(&name).ok_or_else(|| {
            ProviderError::Permanent(format!(
                "runway_ml model {name:?} is not supported for video"
            ))
        })?;
        let ratio = (model.ratios)(req.aspect).ok_or_else(|| {
            ProviderError::Permanent(format!(
                "runway_ml {name} does not make {} video",
                req.aspect
            ))
        })?;
        let max = settings.max_duration.unwrap_or(10);
        let parts = segments(req.seconds, model.durations, max).ok_or_else(|| {
            ProviderError::Permanent(format!(
                "runway_ml {name} makes clips of {:?} s (at most {max} s here); a {} s scene cannot be made of them",
                model.durations, req.seconds
            ))
        })?;
        let text = prompt_text(&full_prompt(req.prompt))?;
        if model.text_required && text.trim().is_empty() {
            return Err(ProviderError::Permanent(format!(
                "runway_ml {name} needs a prompt text"
            )));
        }
        let image = data_uri(req.image, "image/png").await?;
        if image.len() > 5 * 1024 * 1024 {
            return Err(ProviderError::Permanent(
                "the keyframe is over Runway's 5 MB data URI limit".into(),
            ));
        }
        let share = 1.0 / parts.len() as f32;
        let mut files: Vec<PathBuf> = Vec::with_capacity(parts.len());
        for (i, seconds) in parts.iter().enumerate() {
            let mut body = json!({
                "model": name,
                "promptImage": image,
                "promptText": text,
                "ratio": ratio,
                "duration": seconds,
                "seed": req.prompt.seed.wrapping_add(i as u32),
            });
            if text.is_empty() {
                body.as_object_mut().map(|b| b.remove("promptText"));
            }
            let dest = work.join(format!("runway-{i}.mp4"));
            let step = format!("task.clip.{i}");
            let price = credits_to_money(Decimal::from(
                model.credits_per_second * i64::from(*seconds),
            ));
            self.clip(
                (&step, price),
                &name,
                body,
                call,
                &dest,
                (share * i as f32, share),
            )
            .await?;
            files.push(dest);
        }
        let path = if files.len() == 1 {
            files.remove(0)
        } else {
            let info = self
                .ffmpeg
                .probe(&files[0])
                .await
                .map_err(|e| ProviderError::retryable(e.to_string()))?;
            let fps = info
                .frame_rate
                .split('/')
                .next()
                .and_then(|f| f.parse().ok())
                .unwrap_or(req.fps);
            let out = work.join("runway.mp4");
            let target = Target {
                width: info.width,
                height: info.height,
                fps,
            };
            join_clips(&self.ffmpeg, &files, &out, target, work)
                .await
                .map_err(|e| ProviderError::retryable(e.to_string()))?;
            out
        };
        let credits = Decimal::from(model.credits_per_second * i64::from(req.seconds));
        Ok(Generated {
            path,
            content_type: "video/mp4",
            cost: credits_to_money(credits),
            metadata: json!({
                "provider": PROVIDER,
                "model": name,
                "ratio": ratio,
                "segments": parts,
                "units": {"credits": credits},
            }),
        })
    }
}

#[async_trait::async_trait]
impl ImageProvider for Runway {
    async fn generate_image(
        &self,
        req: &ImageRequest<'_>,
        call: &Call<'_>,
        work: &Path,
    ) -> Result<Generated, ProviderError> {
        let name = call
            .settings
            .image_model
            .clone()
            .unwrap_or_else(|| "gen4_image".into());
        if name != "gen4_image" {
            return Err(ProviderError::Permanent(format!(
                "runway_ml image model {name:?} is not supported; use gen4_image"
            )));
        }
        let (ratio, credits) = image_ratio(req.aspect);
        let credits = Decimal::from(credits);
        let body = json!({
            "model": name,
            "promptText": prompt_text(&full_prompt(req.prompt))?,
            "ratio": ratio,
            "seed": req.prompt.seed,
        });
        let path = work.join("image.png");
        let id = self
            .run_task(
                "task.keyframe",
                "/v1/text_to_image",
                &body,
                call,
                ((&path, self.caps.image()), credits_to_money(credits)),
                (0.0, 1.0),
            )
            .await?;
        Ok(Generated {
            path,
            content_type: "image/png",
            cost: credits_to_money(credits),
            metadata: json!({"provider": PROVIDER, "model": name, "ratio": ratio, "task": id, "units": {"credits": credits}}),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GEN4: &[u32] = &[2, 3, 4, 5, 6, 7, 8, 9, 10];

    #[test]
    fn scenes_split_into_clips_the_model_makes() {
        assert_eq!(segments(7, GEN4, 10), Some(vec![7]));
        assert_eq!(segments(7, GEN4, 4), Some(vec![4, 3]));
        assert_eq!(segments(13, GEN4, 10), Some(vec![7, 6]));
        assert_eq!(segments(5, GEN4, 4), Some(vec![3, 2]));
        assert_eq!(segments(1, GEN4, 10), None, "gen4 makes nothing under 2 s");
        assert_eq!(segments(16, &[8], 10), Some(vec![8, 8]));
        assert_eq!(segments(7, &[8], 10), None);
        assert_eq!(segments(14, &[4, 6, 8], 8), Some(vec![8, 6]));
        assert_eq!(
            segments(12, &[4, 6, 8], 8),
            Some(vec![6, 6]),
            "even beats 8 + 4"
        );
        assert_eq!(segments(30, GEN4, 10), Some(vec![10, 10, 10]));
    }

    #[test]
    fn every_aspect_has_a_gen4_ratio() {
        for aspect in AspectRatio::ALL {
            assert!(gen4_ratio(*aspect).is_some(), "{aspect}");
        }
        assert_eq!(veo_ratio(AspectRatio::Square), None);
    }
}
