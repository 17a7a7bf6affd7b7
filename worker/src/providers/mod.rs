//! Image and video providers behind one trait each.
//!
//! A provider turns a prompt into a keyframe image, or a keyframe and a prompt into
//! a clip, writing the result as a file in the job's work directory. The remote
//! adapters follow the providers' real APIs: Stability AI (images), Runway (images
//! and video) and Replicate (both); `local` makes real media offline with ffmpeg.
//! Errors follow one taxonomy for all of them (see [`http`]): whether another
//! attempt can help, whether the job should wait without using an attempt, or
//! whether it must fail at once with the provider's reason.

mod elevenlabs;
pub mod http;
mod limits;
mod local;
mod openai;
mod replicate;
mod runway;
pub mod speech;
mod stability;

pub use elevenlabs::ElevenLabs;
pub use limits::{Lease, Limiter, RateLimits};
pub use local::LocalProvider;
pub use openai::{ChatAnswer, ChatRequest, OpenAi};
pub use replicate::{Inbox, Replicate};
pub use runway::Runway;
pub use speech::{Speech, SpeechProvider, SpeechRequest};
pub use stability::Stability;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use ai_video_shared::config::{ConfigError, Env, Secret};
use ai_video_shared::domain::{
    AspectRatio, Provider, ProviderRates, ProviderSettings, RenderQuality, ScenePrompt,
};
use bullmq::worker::CancellationToken;
use rust_decimal::Decimal;

use crate::media::Ffmpeg;
use crate::outbound::{GuardedClient, Outbound};
use http::Gate;

/// What every provider call carries besides its request: the fleet-wide limits,
/// the job's cancellation, and where to report progress (0 to 1).
pub struct Call<'a> {
    pub gate: Gate,
    pub cancel: &'a CancellationToken,
    pub progress: &'a (dyn Fn(f32) + Send + Sync),
    /// 1-based run of the job, for providers told to fail the first runs.
    pub attempt: u32,
    /// The provider config's `settings` (model, steps, …), parsed.
    pub settings: &'a ProviderSettings,
    /// The provider config's unit prices, for providers that bill by model.
    pub rates: ProviderRates,
    /// Where remote tasks are recorded before they are polled.
    pub tasks: &'a dyn TaskLog,
}

/// The remote tasks of a job's steps: recorded as soon as they are created, so that
/// a run that lost its worker adopts a task instead of buying another.
/// Each task's price is recorded with it, as soon as the provider accepted it, so
/// what a job cost is what the provider bills even if the run then dies.
#[async_trait::async_trait]
pub trait TaskLog: Send + Sync {
    /// The task an earlier run recorded for `step`, if any.
    fn recorded(&self, step: &str) -> Option<String>;
    /// The recorded task of `step` is being adopted (its price was paid before).
    fn adopting(&self, step: &str);
    /// Records the task just created for `step` and its price, before it is polled.
    async fn record(&self, step: &str, task: &str, cost: Decimal) -> Result<(), ProviderError>;
    /// Who holds a concurrency slot for `step`: the same for every run of the job,
    /// so a run that adopts a task takes over its slot too.
    fn holder(&self, step: &str) -> String;
    /// The BullMQ job to wake when a slot it waits for is released.
    fn waiter(&self) -> Option<String>;
}

/// A task log that keeps nothing, for calls made outside a job.
pub struct NoTaskLog;

#[async_trait::async_trait]
impl TaskLog for NoTaskLog {
    fn recorded(&self, _: &str) -> Option<String> {
        None
    }

    fn adopting(&self, _: &str) {}

    async fn record(&self, _: &str, _: &str, _: Decimal) -> Result<(), ProviderError> {
        Ok(())
    }

    fn holder(&self, _: &str) -> String {
        uuid::Uuid::new_v4().to_string()
    }

    fn waiter(&self) -> Option<String> {
        None
    }
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

/// Bound of one HTTP request to a provider, unless configured.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// Keys and base URLs of the remote providers, under the seed's names.
#[derive(Debug, Clone)]
pub struct ProviderKeys {
    pub stability: Option<Secret>,
    pub runway: Option<Secret>,
    pub replicate: Option<Secret>,
    pub stability_base: String,
    pub runway_base: String,
    pub replicate_base: String,
    /// `OPENAI_API_KEY`; an OpenAI-compatible server may need none.
    pub openai: Option<Secret>,
    /// `OPENAI_API_BASE`, including `/v1`; set alone it names a local server.
    pub openai_base: String,
    pub openai_configured: bool,
    pub elevenlabs: Option<Secret>,
    pub elevenlabs_base: String,
    /// Bound of one HTTP request to a provider (`PROVIDER_REQUEST_TIMEOUT_SECS`).
    pub request_timeout: Duration,
    /// Size caps of downloaded outputs (`PROVIDER_MAX_IMAGE_MB`, `PROVIDER_MAX_CLIP_MB`).
    pub caps: http::Caps,
    /// What the worker may fetch: the bases above and `OUTBOUND_ALLOW_HOSTS`.
    pub outbound: Arc<Outbound>,
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
        let stability_base = base("STABILITY_API_BASE", "https://api.stability.ai")?;
        let runway_base = base("RUNWAY_API_BASE", "https://api.dev.runwayml.com")?;
        let replicate_base = base("REPLICATE_API_BASE", "https://api.replicate.com")?;
        let openai_base = base("OPENAI_API_BASE", "https://api.openai.com/v1")?;
        let elevenlabs_base = base("ELEVENLABS_API_BASE", "https://api.elevenlabs.io")?;
        let outbound = Outbound::from_env(
            env,
            &[
                &stability_base,
                &runway_base,
                &replicate_base,
                &openai_base,
                &elevenlabs_base,
            ],
        )?;
        let openai = env
            .var("OPENAI_API_KEY")
            .filter(|k| !k.trim().is_empty())
            .map(Secret::new);
        Ok(Self {
            openai_configured: openai.is_some() || env.var("OPENAI_API_BASE").is_some(),
            openai,
            openai_base,
            elevenlabs: env
                .var("ELEVENLABS_API_KEY")
                .filter(|k| !k.trim().is_empty())
                .map(Secret::new),
            elevenlabs_base,
            stability: env.var("STABILITY_AI_KEY").map(Secret::new),
            runway: env.var("RUNWAY_ML_KEY").map(Secret::new),
            replicate: env.var("REPLICATE_API_TOKEN").map(Secret::new),
            stability_base,
            runway_base,
            replicate_base,
            outbound: Arc::new(outbound),
            caps: http::Caps {
                image_bytes: megabytes(env, "PROVIDER_MAX_IMAGE_MB", 50)?,
                clip_bytes: megabytes(env, "PROVIDER_MAX_CLIP_MB", 500)?,
                music_bytes: megabytes(env, "MUSIC_MAX_MB", 25)?,
            },
            request_timeout: match env.var("PROVIDER_REQUEST_TIMEOUT_SECS") {
                None => DEFAULT_REQUEST_TIMEOUT,
                Some(v) => match v.trim().parse::<u64>() {
                    Ok(secs) if (2..=600).contains(&secs) => Duration::from_secs(secs),
                    _ => {
                        return Err(ConfigError::new(
                            "PROVIDER_REQUEST_TIMEOUT_SECS",
                            "must be a number of seconds from 2 to 600",
                        ));
                    }
                },
            },
        })
    }
}

/// A size in MB from the environment, as bytes.
fn megabytes(env: &dyn Env, var: &str, default: u64) -> Result<u64, ConfigError> {
    match env.var(var) {
        None => Ok(default << 20),
        Some(v) => match v.trim().parse::<u64>() {
            Ok(mb) if (1..=100_000).contains(&mb) => Ok(mb << 20),
            _ => Err(ConfigError::new(
                var,
                "must be a whole number of MB from 1 to 100000",
            )),
        },
    }
}

/// The providers this worker can call.
#[derive(Clone)]
pub struct Providers {
    pub local: Arc<LocalProvider>,
    pub stability: Option<Arc<Stability>>,
    pub runway: Option<Arc<Runway>>,
    pub replicate: Option<Arc<Replicate>>,
    pub openai: Option<Arc<OpenAi>>,
    pub elevenlabs: Option<Arc<ElevenLabs>>,
    /// Fleet-wide limits; `None` only where no Redis is wanted (unit tests).
    pub limiter: Option<Limiter>,
    /// Fetches of URLs a story names (its music bed), through the outbound guard.
    pub fetch: Fetch,
}

/// A client for URLs users name, the guard they pass and the size caps.
#[derive(Clone)]
pub struct Fetch {
    pub client: reqwest::Client,
    pub outbound: Arc<Outbound>,
    pub caps: http::Caps,
}

impl Providers {
    pub fn new(
        keys: &ProviderKeys,
        ffmpeg: Ffmpeg,
        limiter: Option<Limiter>,
        inbox: Option<Inbox>,
    ) -> Self {
        let client = keys.outbound.client(keys.request_timeout);
        Self {
            local: Arc::new(LocalProvider::new(ffmpeg.clone())),
            stability: keys.stability.clone().map(|k| {
                Arc::new(Stability::new(
                    client.clone(),
                    &keys.stability_base,
                    k,
                    keys.caps,
                ))
            }),
            runway: keys.runway.clone().map(|k| {
                Arc::new(Runway::new(
                    (client.clone(), keys.outbound.clone()),
                    &keys.runway_base,
                    k,
                    ffmpeg.clone(),
                    limiter.clone(),
                    keys.caps,
                ))
            }),
            replicate: keys.replicate.clone().map(|k| {
                Arc::new(Replicate::new(
                    (client.clone(), keys.outbound.clone()),
                    &keys.replicate_base,
                    k,
                    inbox.clone(),
                    keys.request_timeout,
                    keys.caps,
                ))
            }),
            openai: keys.openai_configured.then(|| {
                Arc::new(OpenAi::new(
                    client.clone(),
                    &keys.openai_base,
                    keys.openai.clone(),
                ))
            }),
            elevenlabs: keys
                .elevenlabs
                .clone()
                .map(|k| Arc::new(ElevenLabs::new(client.clone(), &keys.elevenlabs_base, k))),
            limiter,
            fetch: Fetch {
                client: client.clone(),
                outbound: keys.outbound.clone(),
                caps: keys.caps,
            },
        }
    }

    /// The OpenAI-compatible server, for planning.
    pub fn chat(&self) -> Result<Arc<OpenAi>, ProviderError> {
        self.openai
            .clone()
            .ok_or_else(|| missing_key(Provider::OpenAi))
    }

    pub fn speech(&self, provider: Provider) -> Result<Arc<dyn SpeechProvider>, ProviderError> {
        match provider {
            Provider::Local => Ok(self.local.clone()),
            Provider::OpenAi => self.chat().map(|p| p as _),
            Provider::ElevenLabs => self
                .elevenlabs
                .clone()
                .map(|p| p as _)
                .ok_or_else(|| missing_key(provider)),
            other => Err(ProviderError::Permanent(format!("{other} does not speak"))),
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
            other => Err(ProviderError::Permanent(format!(
                "{other} does not generate images"
            ))),
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
            other => Err(ProviderError::Permanent(format!(
                "{other} does not generate video"
            ))),
        }
    }
}

fn missing_key(provider: Provider) -> ProviderError {
    let var = match provider {
        Provider::StabilityAi => "STABILITY_AI_KEY",
        Provider::RunwayMl => "RUNWAY_ML_KEY",
        Provider::Replicate => "REPLICATE_API_TOKEN",
        Provider::OpenAi => "OPENAI_API_KEY (or OPENAI_API_BASE for a local server)",
        Provider::ElevenLabs => "ELEVENLABS_API_KEY",
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
