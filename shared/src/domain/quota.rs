//! What one user may spend and run: a dollar budget per calendar month (UTC), the
//! stories rendering at once, and video seconds asked for per day (UTC). Defaults
//! come from the environment; an admin may override each per user.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::config::{ConfigError, Env, parse_or};

/// One user's limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct QuotaLimits {
    /// Dollars per calendar month (`BUDGET_MONTHLY_DOLLARS`).
    #[schema(value_type = String, example = "100.0000")]
    pub monthly_budget: Decimal,
    /// Previews and renders queued or running at once (`QUOTA_STORIES_RENDERING`).
    pub max_rendering: u32,
    /// Seconds of video asked for per day, previews and renders counted
    /// (`QUOTA_VIDEO_SECONDS_PER_DAY`).
    pub daily_video_seconds: u32,
}

impl Default for QuotaLimits {
    fn default() -> Self {
        Self {
            monthly_budget: Decimal::from(100),
            max_rendering: 3,
            daily_video_seconds: 3600,
        }
    }
}

impl QuotaLimits {
    /// The largest value any limit may be set to.
    pub const MAX: u32 = 1_000_000_000;

    /// Limits nothing in practice (benchmarks).
    pub fn unlimited() -> Self {
        Self {
            monthly_budget: Decimal::from(Self::MAX),
            max_rendering: Self::MAX,
            daily_video_seconds: Self::MAX,
        }
    }

    pub fn from_env(env: &dyn Env) -> Result<Self, ConfigError> {
        let d = Self::default();
        let budget: Decimal = parse_or(env, "BUDGET_MONTHLY_DOLLARS", d.monthly_budget)?;
        if budget.is_sign_negative() || budget > Decimal::from(Self::MAX) {
            return Err(ConfigError::new(
                "BUDGET_MONTHLY_DOLLARS",
                format!("must be from 0 to {}", Self::MAX),
            ));
        }
        Ok(Self {
            monthly_budget: budget.round_dp(4),
            max_rendering: parse_or(env, "QUOTA_STORIES_RENDERING", d.max_rendering)?,
            daily_video_seconds: parse_or(
                env,
                "QUOTA_VIDEO_SECONDS_PER_DAY",
                d.daily_video_seconds,
            )?,
        })
    }
}
