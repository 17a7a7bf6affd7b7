//! The context of one provider call made outside a scene's media steps (planning,
//! speech): the provider's config and parsed settings, and its fleet-wide gate.

use ai_video_shared::db::entities::provider_config;
use ai_video_shared::domain::{Provider, ProviderSettings};

use super::{JobCtx, JobError};
use crate::providers::http::Gate;
use crate::providers::{Call, NoTaskLog, RateLimits};

/// A provider's config and settings, read once for the run.
pub struct Configured {
    pub provider: Provider,
    pub config: provider_config::Model,
    pub settings: ProviderSettings,
}

static NO_TASKS: NoTaskLog = NoTaskLog;

fn no_progress(_: f32) {}

impl Configured {
    pub async fn load(ctx: &JobCtx, provider: Provider) -> Result<Self, JobError> {
        let config = ctx.provider_config(provider).await?;
        let settings = settings_of(&config)?;
        Ok(Self {
            provider,
            config,
            settings,
        })
    }

    /// The per-call context: the provider's rate limits across the fleet.
    pub fn call<'a>(&'a self, ctx: &'a JobCtx) -> Call<'a> {
        Call {
            gate: Gate {
                limiter: ctx.state.providers.limiter.clone(),
                provider: self.provider,
                limits: RateLimits {
                    per_minute: self.config.rate_limit_per_minute.max(0) as u32,
                    per_hour: self.config.rate_limit_per_hour.max(0) as u32,
                },
            },
            cancel: &ctx.delivery.cancel,
            progress: &no_progress,
            attempt: ctx.attempt(),
            settings: &self.settings,
            rates: self.config.rates(),
            tasks: &NO_TASKS,
        }
    }
}

/// A provider's settings, parsed once for the run; settings that no longer parse
/// (edited outside the API) fail the job with the field.
pub fn settings_of(config: &provider_config::Model) -> Result<ProviderSettings, JobError> {
    ProviderSettings::parse(&config.settings).map_err(|e| {
        JobError::Permanent(format!(
            "the {} provider's settings are invalid: {e}",
            config.provider
        ))
    })
}
