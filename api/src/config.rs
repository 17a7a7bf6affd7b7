//! The API's settings, read once from the environment and checked before anything
//! listens. A missing or malformed setting stops start-up with one line naming it.

use std::net::SocketAddr;

use ai_video_shared::config::{
    ConfigError, DatabaseConfig, Env, QueueConfig, RedisConfig, Secret, parse_or,
};
use ai_video_shared::domain::{Provider, RetryPolicy};
use ai_video_shared::storage::StorageConfig;

/// How bearer tokens are verified.
#[derive(Clone, Debug)]
pub enum JwtConfig {
    /// `JWT_SECRET`: HMAC-SHA256, as Django SimpleJWT signs by default.
    Hs256(Secret),
    /// `JWT_PUBLIC_KEY`: an RSA public key in PEM, inline or as a file path.
    Rs256(Secret),
}

/// Claims a token must carry besides a valid signature and expiry, when set.
#[derive(Clone, Debug, Default)]
pub struct JwtClaims {
    /// `JWT_AUDIENCE`: the `aud` a token must name.
    pub audience: Option<String>,
    /// `JWT_ISSUER`: the `iss` a token must carry.
    pub issuer: Option<String>,
}

/// The shortest HS256 secret accepted, in bytes (RFC 7518 §3.2: a key of at least
/// the hash's size).
pub const MIN_HS256_SECRET: usize = 32;

#[derive(Clone, Debug)]
pub struct ApiConfig {
    pub bind_addr: SocketAddr,
    pub database: DatabaseConfig,
    pub redis: RedisConfig,
    pub queue: QueueConfig,
    pub storage: StorageConfig,
    pub jwt: JwtConfig,
    pub jwt_claims: JwtClaims,
    /// Default budget and quotas of every user (`BUDGET_MONTHLY_DOLLARS`,
    /// `QUOTA_STORIES_RENDERING`, `QUOTA_VIDEO_SECONDS_PER_DAY`).
    pub quotas: ai_video_shared::domain::QuotaLimits,
    /// Signs media links (`MEDIA_SIGNING_KEY`, `MEDIA_URL_TTL_SECS`).
    pub media_links: crate::media_links::MediaSigner,
    /// Request rate limits (`RATE_LIMIT_*`).
    pub rate_limits: crate::ratelimit::RateLimits,
    /// Largest request body accepted, in bytes (`MAX_BODY_BYTES`, default 1 MiB).
    pub body_limit: usize,
    /// Largest music upload, in bytes (`MUSIC_MAX_MB`, default 25).
    pub music_limit: usize,
    /// ffprobe, which checks music uploads (`FFPROBE_BIN`, default `ffprobe`).
    pub ffprobe: std::path::PathBuf,
    pub default_image_provider: Provider,
    pub default_video_provider: Provider,
    /// Attempts and first backoff delay of new jobs (`JOB_ATTEMPTS`,
    /// `JOB_BACKOFF_MS`; default 3 and 2000).
    pub job_retry: RetryPolicy,
    /// Replicate's webhook signing secret (`REPLICATE_WEBHOOK_SECRET`); without
    /// it the webhook endpoint is off.
    pub replicate_webhook_secret: Option<Secret>,
    /// Apply migrations on start (`AUTO_MIGRATE`); defaults to on for SQLite only,
    /// since production Postgres is migrated by `ai-video-api migrate` before rollout.
    pub auto_migrate: bool,
    /// Where webhook endpoints may point (`OUTBOUND_ALLOW_HOSTS`, as for the workers).
    pub outbound: ai_video_shared::outbound::Outbound,
    /// The deployment's public URL (`PUBLIC_URL`), for the links in events.
    pub public_url: Option<String>,
    /// How often an idle SSE stream gets a heartbeat comment (`SSE_HEARTBEAT_SECS`).
    pub sse_heartbeat: std::time::Duration,
    /// How long an SSE ticket lives (`SSE_TICKET_TTL_SECS`).
    pub ticket_ttl: std::time::Duration,
}

impl ApiConfig {
    pub fn from_env(env: &dyn Env) -> Result<Self, ConfigError> {
        let database = DatabaseConfig::from_env(env)?;
        let jwt = jwt_from_env(env)?;
        let media_links = media_links_from_env(env, &jwt)?;
        let auto_migrate = parse_or(env, "AUTO_MIGRATE", database.is_sqlite())?;
        Ok(Self {
            bind_addr: parse_or(env, "BIND_ADDR", SocketAddr::from(([127, 0, 0, 1], 8000)))?,
            redis: RedisConfig::from_env(env)?,
            queue: QueueConfig::from_env(env)?,
            storage: StorageConfig::from_env(env)?,
            jwt,
            media_links,
            jwt_claims: JwtClaims {
                audience: env.var("JWT_AUDIENCE").filter(|v| !v.trim().is_empty()),
                issuer: env.var("JWT_ISSUER").filter(|v| !v.trim().is_empty()),
            },
            rate_limits: rate_limits_from_env(env)?,
            quotas: ai_video_shared::domain::QuotaLimits::from_env(env)?,
            body_limit: parse_or(env, "MAX_BODY_BYTES", 1024 * 1024)?,
            music_limit: music_limit(env)?,
            ffprobe: env
                .var("FFPROBE_BIN")
                .filter(|v| !v.trim().is_empty())
                .unwrap_or_else(|| "ffprobe".into())
                .into(),
            default_image_provider: parse_or(env, "DEFAULT_IMAGE_PROVIDER", Provider::Local)?,
            default_video_provider: parse_or(env, "DEFAULT_VIDEO_PROVIDER", Provider::Local)?,
            job_retry: job_retry_from_env(env)?,
            replicate_webhook_secret: env.var("REPLICATE_WEBHOOK_SECRET").map(Secret::new),
            database,
            auto_migrate,
            outbound: ai_video_shared::outbound::Outbound::from_env(env, &[])?,
            public_url: env.var("PUBLIC_URL").filter(|v| !v.trim().is_empty()),
            sse_heartbeat: seconds(env, "SSE_HEARTBEAT_SECS", 15, 1..=300)?,
            ticket_ttl: seconds(env, "SSE_TICKET_TTL_SECS", 60, 5..=3600)?,
        })
    }
}

fn seconds(
    env: &dyn Env,
    var: &str,
    default: u64,
    range: std::ops::RangeInclusive<u64>,
) -> Result<std::time::Duration, ConfigError> {
    let secs: u64 = parse_or(env, var, default)?;
    if !range.contains(&secs) {
        return Err(ConfigError::new(
            var,
            format!("must be from {} to {} seconds", range.start(), range.end()),
        ));
    }
    Ok(std::time::Duration::from_secs(secs))
}

fn music_limit(env: &dyn Env) -> Result<usize, ConfigError> {
    let mb: u64 = parse_or(env, "MUSIC_MAX_MB", ai_video_shared::domain::MUSIC_MAX_MB)?;
    if !(1..=2048).contains(&mb) {
        return Err(ConfigError::new(
            "MUSIC_MAX_MB",
            "must be a whole number of MB from 1 to 2048",
        ));
    }
    Ok((mb << 20) as usize)
}

impl ApiConfig {
    /// The largest body a request to `path` may send: music uploads have their own.
    pub fn body_limit_for(&self, path: &str) -> usize {
        if path.trim_end_matches('/').ends_with("/music") {
            self.music_limit.max(self.body_limit)
        } else {
            self.body_limit
        }
    }
}

fn media_links_from_env(
    env: &dyn Env,
    jwt: &JwtConfig,
) -> Result<crate::media_links::MediaSigner, ConfigError> {
    use crate::media_links::MediaSigner;
    let ttl: u64 = parse_or(env, "MEDIA_URL_TTL_SECS", 86_400)?;
    if !(60..=31_536_000).contains(&ttl) {
        return Err(ConfigError::new(
            "MEDIA_URL_TTL_SECS",
            "must be from 60 (a minute) to 31536000 (a year)",
        ));
    }
    let ttl = std::time::Duration::from_secs(ttl);
    match (env.var("MEDIA_SIGNING_KEY"), jwt) {
        (Some(key), _) if key.len() >= MIN_HS256_SECRET => {
            Ok(MediaSigner::new(key.as_bytes(), ttl))
        }
        (Some(_), _) => Err(ConfigError::new(
            "MEDIA_SIGNING_KEY",
            format!("needs at least {MIN_HS256_SECRET} bytes (openssl rand -hex 32)"),
        )),
        (None, JwtConfig::Hs256(secret)) => {
            Ok(MediaSigner::derived(secret.expose().as_bytes(), ttl))
        }
        (None, JwtConfig::Rs256(_)) => Err(ConfigError::new(
            "MEDIA_SIGNING_KEY",
            "not set; with JWT_PUBLIC_KEY (RS256) media links need their own secret of at least 32 bytes",
        )),
    }
}

fn rate_limits_from_env(env: &dyn Env) -> Result<crate::ratelimit::RateLimits, ConfigError> {
    let defaults = crate::ratelimit::RateLimits::default();
    Ok(crate::ratelimit::RateLimits {
        per_user: parse_or(env, "RATE_LIMIT_USER_PER_MINUTE", defaults.per_user)?,
        per_client: parse_or(env, "RATE_LIMIT_CLIENT_PER_MINUTE", defaults.per_client)?,
        trust_forwarded_for: parse_or(
            env,
            "RATE_LIMIT_TRUST_FORWARDED_FOR",
            defaults.trust_forwarded_for,
        )?,
    })
}

fn job_retry_from_env(env: &dyn Env) -> Result<RetryPolicy, ConfigError> {
    let defaults = RetryPolicy::default();
    let attempts: u32 = parse_or(env, "JOB_ATTEMPTS", defaults.attempts)?;
    if !(1..=25).contains(&attempts) {
        return Err(ConfigError::new("JOB_ATTEMPTS", "must be between 1 and 25"));
    }
    Ok(RetryPolicy {
        attempts,
        backoff_ms: parse_or(env, "JOB_BACKOFF_MS", defaults.backoff_ms)?,
    })
}

fn jwt_from_env(env: &dyn Env) -> Result<JwtConfig, ConfigError> {
    match (env.var("JWT_SECRET"), env.var("JWT_PUBLIC_KEY")) {
        (Some(_), Some(_)) => Err(ConfigError::new(
            "JWT_SECRET",
            "set either JWT_SECRET (HS256) or JWT_PUBLIC_KEY (RS256), not both",
        )),
        (Some(secret), None) if secret.len() < MIN_HS256_SECRET => Err(ConfigError::new(
            "JWT_SECRET",
            format!(
                "is {} bytes long; an HS256 secret needs at least {MIN_HS256_SECRET} (generate one with: openssl rand -hex 32)",
                secret.len()
            ),
        )),
        (Some(secret), None) => Ok(JwtConfig::Hs256(Secret::new(secret))),
        (None, Some(key)) => {
            let pem = if key.trim_start().starts_with("-----BEGIN") {
                key
            } else {
                std::fs::read_to_string(&key).map_err(|e| {
                    ConfigError::new(
                        "JWT_PUBLIC_KEY",
                        format!("neither a PEM key nor a readable file: {e}"),
                    )
                })?
            };
            Ok(JwtConfig::Rs256(Secret::new(pem)))
        }
        (None, None) => Err(ConfigError::new(
            "JWT_SECRET",
            "not set; the API refuses to start without JWT_SECRET (HS256) or JWT_PUBLIC_KEY (RS256)",
        )),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn refuses_to_start_without_a_token_key() {
        let err = ApiConfig::from_env(&env(&[])).unwrap_err();
        assert_eq!(err.var, "JWT_SECRET");
        assert!(err.to_string().contains("refuses to start"), "{err}");
    }

    const LONG_SECRET: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn a_short_hs256_secret_stops_start_up() {
        let err = ApiConfig::from_env(&env(&[("JWT_SECRET", "change-me")])).unwrap_err();
        assert_eq!(err.var, "JWT_SECRET");
        assert!(err.to_string().contains("at least 32"), "{err}");
    }

    #[test]
    fn defaults_are_the_embedded_setup() {
        let cfg = ApiConfig::from_env(&env(&[("JWT_SECRET", LONG_SECRET)])).unwrap();
        assert_eq!(cfg.bind_addr.to_string(), "127.0.0.1:8000");
        assert!(cfg.database.is_sqlite() && cfg.auto_migrate);
        assert_eq!(cfg.default_video_provider, Provider::Local);
        assert!(
            !format!("{cfg:?}").contains(LONG_SECRET),
            "the secret must not print"
        );
    }

    #[test]
    fn malformed_values_name_their_variable() {
        for (var, value) in [
            ("BIND_ADDR", "localhost"),
            ("DEFAULT_VIDEO_PROVIDER", "sora"),
            ("MAX_BODY_BYTES", "-1"),
            ("AUTO_MIGRATE", "maybe"),
        ] {
            let err = ApiConfig::from_env(&env(&[("JWT_SECRET", LONG_SECRET), (var, value)]))
                .unwrap_err();
            assert_eq!(err.var, var);
        }
    }
}
