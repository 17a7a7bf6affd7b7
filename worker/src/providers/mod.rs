//! Image and video providers behind one trait each.
//!
//! A provider turns a prompt into a keyframe image, or a keyframe and a prompt into
//! a clip, writing the result as a file in the job's work directory. Errors say
//! whether trying again can help ([`ProviderError::Retryable`]) or not
//! ([`ProviderError::Permanent`], e.g. a refused prompt or a missing key).

mod local;

pub use local::{LocalProvider, LocalSettings};

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use ai_video_shared::domain::{Provider, RenderQuality, ScenePrompt};
use rust_decimal::Decimal;

/// A keyframe to make.
#[derive(Debug, Clone)]
pub struct ImageRequest<'a> {
    pub prompt: &'a ScenePrompt,
    pub width: u32,
    pub height: u32,
    pub quality: RenderQuality,
    /// 1-based run of the job, for providers told to fail the first runs.
    pub attempt: u32,
    /// The provider config's `settings` (model, steps, …).
    pub settings: &'a serde_json::Value,
}

/// A clip to make from a keyframe.
#[derive(Debug, Clone)]
pub struct VideoRequest<'a> {
    pub prompt: &'a ScenePrompt,
    pub image: &'a Path,
    pub seconds: u32,
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    pub quality: RenderQuality,
    pub attempt: u32,
    pub settings: &'a serde_json::Value,
}

/// A file a provider made.
#[derive(Debug, Clone)]
pub struct Generated {
    pub path: PathBuf,
    pub content_type: &'static str,
    /// What it cost, in money.
    pub cost: Decimal,
    /// Provider details worth keeping on the job (model, task id, units).
    pub metadata: serde_json::Value,
}

/// Why a provider call failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ProviderError {
    /// Worth another attempt: timeouts, 5xx, rate limits.
    #[error("{message}")]
    Retryable {
        message: String,
        /// Wait this long before trying again, without using an attempt.
        retry_after: Option<Duration>,
    },
    /// Another attempt gives the same answer: bad input, auth, moderation.
    #[error("{0}")]
    Permanent(String),
}

impl ProviderError {
    pub fn retryable(message: impl Into<String>) -> Self {
        ProviderError::Retryable {
            message: message.into(),
            retry_after: None,
        }
    }
}

#[async_trait::async_trait]
pub trait ImageProvider: Send + Sync {
    async fn generate_image(
        &self,
        req: &ImageRequest<'_>,
        work: &Path,
    ) -> Result<Generated, ProviderError>;
}

#[async_trait::async_trait]
pub trait VideoProvider: Send + Sync {
    async fn generate_clip(
        &self,
        req: &VideoRequest<'_>,
        work: &Path,
    ) -> Result<Generated, ProviderError>;
}

/// The providers this worker can call.
#[derive(Clone)]
pub struct Providers {
    pub local: Arc<LocalProvider>,
}

impl Providers {
    pub fn image(&self, provider: Provider) -> Result<Arc<dyn ImageProvider>, ProviderError> {
        match provider {
            Provider::Local => Ok(self.local.clone()),
            other => Err(unavailable(other)),
        }
    }

    pub fn video(&self, provider: Provider) -> Result<Arc<dyn VideoProvider>, ProviderError> {
        match provider {
            Provider::Local => Ok(self.local.clone()),
            other => Err(unavailable(other)),
        }
    }
}

fn unavailable(provider: Provider) -> ProviderError {
    ProviderError::Permanent(format!(
        "the {provider} provider is not available on this worker"
    ))
}
