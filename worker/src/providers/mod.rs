//! Image and video providers behind one trait each.
//!
//! A provider turns a prompt into a keyframe image, or a keyframe and a prompt into
//! a clip, writing the result as a file in the job's work directory. The remote
//! adapters follow the providers' real APIs: Stability AI (images), Runway (images
//! and video) and Replicate (both); `local` makes real media offline with ffmpeg.
//! Errors follow one taxonomy for all of them (see [`http`]): whether another
//! attempt can help, whether the job should wait without using an attempt, or
//! whether it must fail at once with the provider's reason.

pub mod http;
mod limits;
mod local;
mod replicate;
mod runway;
mod stability;

pub use limits::{Lease, Limiter, RateLimits};
pub use local::{LocalProvider, LocalSettings};
pub use replicate::{Inbox, Replicate};
pub use runway::Runway;
pub use stability::Stability;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use ai_video_shared::config::{ConfigError, Env, Secret};
use ai_video_shared::domain::{AspectRatio, Provider, ProviderRates, RenderQuality, ScenePrompt};
use bullmq::worker::CancellationToken;
use rust_decimal::Decimal;

use crate::media::Ffmpeg;
use http::Gate;

/// What every provider call carries besides its request: the fleet-wide limits,
/// the job's cancellation, and where to report progress (0 to 1).
pub struct Call<'a> {
    pub gate: Gate,
    pub cancel: &'a CancellationToken,
    pub progress: &'a (dyn Fn(f32) + Send + Sync),
    /// 1-based run of the job, for providers told to fail the first runs.
    pub attempt: u32,
    /// The provider config's `settings` (model, steps, …).
    pub settings: &'a serde_json::Value,
    /// The provider config's unit prices, for providers that bill by model.
    pub rates: ProviderRates,
}

/// A keyframe to make.
#[derive(Debug, Clone)]
pub struct ImageRequest<'a> {
    pub prompt: &'a ScenePrompt,
    pub aspect: AspectRatio,
    /// The frame size the story renders at; providers with fixed sizes pick the
    /// closest they offer.
    pub width: u32,
    pub height: u32,
    pub quality: RenderQuality,
}

/// A clip to make from a keyframe.
#[derive(Debug, Clone)]
pub struct VideoRequest<'a> {
    pub prompt: &'a ScenePrompt,
    pub image: &'a Path,
    pub aspect: AspectRatio,
    pub seconds: u32,
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    pub quality: RenderQuality,
}

/// A file a provider made.
#[derive(Debug, Clone)]
pub struct Generated {
    pub path: PathBuf,
    pub content_type: &'static str,
    /// What it cost, in money.
    pub cost: Decimal,
    /// Provider details worth keeping on the job: model, task or prediction ids,
    /// and the cost in the provider's own units (credits, predict seconds).
    pub metadata: serde_json::Value,
}

/// Why a provider call failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ProviderError {
    /// Worth another attempt: timeouts, 5xx, a broken download.
    #[error("{0}")]
    Retryable(String),
    /// Over a limit (ours or the provider's): wait this long, without using an attempt.
    #[error("{message}")]
    RateLimited { message: String, wait: Duration },
    /// Another attempt gives the same answer: bad input, auth, payment, moderation.
    #[error("{0}")]
    Permanent(String),
    /// An output URL expired before it was downloaded.
    #[error("{0}")]
    Expired(String),
    /// The job was cancelled; the remote task was cancelled where possible.
    #[error("cancelled")]
    Cancelled,
}

impl ProviderError {
    pub fn retryable(message: impl Into<String>) -> Self {
        ProviderError::Retryable(message.into())
    }
}

#[async_trait::async_trait]
pub trait ImageProvider: Send + Sync {
    async fn generate_image(
        &self,
        req: &ImageRequest<'_>,
        call: &Call<'_>,
        work: &Path,
    ) -> Result<Generated, ProviderError>;
}

#[async_trait::async_trait]
pub trait VideoProvider: Send + Sync {
    async fn generate_clip(
        &self,
        req: &VideoRequest<'_>,
        call: &Call<'_>,
        work: &Path,
    ) -> Result<Generated, ProviderError>;
}

/// Keys and base URLs of the remote providers, under the seed's names.
#[derive(Debug, Clone, Default)]
pub struct ProviderKeys {
    pub stability: Option<Secret>,
    pub runway: Option<Secret>,
    pub replicate: Option<Secret>,
    pub stability_base: String,
    pub runway_base: String,
    pub replicate_base: String,
}

impl ProviderKeys {
    pub fn from_env(env: &dyn Env) -> Result<Self, ConfigError> {
        let base = |var: &str, default: &str| -> Result<String, ConfigError> {
            let url = env.var(var).unwrap_or_else(|| default.to_string());
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(ConfigError::new(var, "must be an http:// or https:// URL"));
            }
            Ok(url.trim_end_matches('/').to_string())
        };
        Ok(Self {
            stability: env.var("STABILITY_AI_KEY").map(Secret::new),
            runway: env.var("RUNWAY_ML_KEY").map(Secret::new),
            replicate: env.var("REPLICATE_API_TOKEN").map(Secret::new),
            stability_base: base("STABILITY_API_BASE", "https://api.stability.ai")?,
            runway_base: base("RUNWAY_API_BASE", "https://api.dev.runwayml.com")?,
            replicate_base: base("REPLICATE_API_BASE", "https://api.replicate.com")?,
        })
    }
}

/// The providers this worker can call.
#[derive(Clone)]
pub struct Providers {
    pub local: Arc<LocalProvider>,
    pub stability: Option<Arc<Stability>>,
    pub runway: Option<Arc<Runway>>,
    pub replicate: Option<Arc<Replicate>>,
    /// Fleet-wide limits; `None` only where no Redis is wanted (unit tests).
    pub limiter: Option<Limiter>,
}

impl Providers {
    pub fn new(
        keys: &ProviderKeys,
        ffmpeg: Ffmpeg,
        limiter: Option<Limiter>,
        inbox: Option<Inbox>,
    ) -> Self {
        let client = http::client();
        Self {
            local: Arc::new(LocalProvider::new(ffmpeg.clone())),
            stability: keys
                .stability
                .clone()
                .map(|k| Arc::new(Stability::new(client.clone(), &keys.stability_base, k))),
            runway: keys.runway.clone().map(|k| {
                Arc::new(Runway::new(
                    client.clone(),
                    &keys.runway_base,
                    k,
                    ffmpeg.clone(),
                    limiter.clone(),
                ))
            }),
            replicate: keys.replicate.clone().map(|k| {
                Arc::new(Replicate::new(
                    client.clone(),
                    &keys.replicate_base,
                    k,
                    inbox.clone(),
                ))
            }),
            limiter,
        }
    }

    pub fn image(&self, provider: Provider) -> Result<Arc<dyn ImageProvider>, ProviderError> {
        match provider {
            Provider::Local => Ok(self.local.clone()),
            Provider::StabilityAi => self
                .stability
                .clone()
                .map(|p| p as _)
                .ok_or_else(|| missing_key(provider)),
            Provider::RunwayMl => self
                .runway
                .clone()
                .map(|p| p as _)
                .ok_or_else(|| missing_key(provider)),
            Provider::Replicate => self
                .replicate
                .clone()
                .map(|p| p as _)
                .ok_or_else(|| missing_key(provider)),
        }
    }

    pub fn video(&self, provider: Provider) -> Result<Arc<dyn VideoProvider>, ProviderError> {
        match provider {
            Provider::Local => Ok(self.local.clone()),
            Provider::StabilityAi => Err(ProviderError::Permanent(
                "stability_ai no longer serves video (its image-to-video API was discontinued)"
                    .into(),
            )),
            Provider::RunwayMl => self
                .runway
                .clone()
                .map(|p| p as _)
                .ok_or_else(|| missing_key(provider)),
            Provider::Replicate => self
                .replicate
                .clone()
                .map(|p| p as _)
                .ok_or_else(|| missing_key(provider)),
        }
    }
}

fn missing_key(provider: Provider) -> ProviderError {
    let var = match provider {
        Provider::StabilityAi => "STABILITY_AI_KEY",
        Provider::RunwayMl => "RUNWAY_ML_KEY",
        Provider::Replicate => "REPLICATE_API_TOKEN",
        Provider::Local => "",
    };
    ProviderError::Permanent(format!(
        "the {provider} provider is unavailable: {var} is not set on the worker"
    ))
}

/// Money from credits worth one cent each (Stability and Runway bill this way).
pub fn credits_to_money(credits: Decimal) -> Decimal {
    (credits / Decimal::from(100)).round_dp(4)
}

/// The prompt text with the scene's style appended, as the remote models take it.
pub fn full_prompt(prompt: &ScenePrompt) -> String {
    let style = prompt.style.trim();
    if style.is_empty() {
        prompt.text.clone()
    } else {
        format!("{}, {style} style", prompt.text)
    }
}
