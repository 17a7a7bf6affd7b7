//! Settings both services read from the environment, under the seed's variable names.
//!
//! Each setting is parsed once into a typed value; a missing or malformed one is a
//! [`ConfigError`] naming the variable, which the binaries print as one line before
//! they exit. Secrets are wrapped in [`Secret`], whose `Debug` prints nothing.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

/// Where settings come from: the process environment, or a map in tests.
pub trait Env {
    fn var(&self, key: &str) -> Option<String>;
}

/// The process environment. Empty values count as unset.
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn var(&self, key: &str) -> Option<String> {
        std::env::var(key).ok().filter(|v| !v.trim().is_empty())
    }
}

impl Env for HashMap<String, String> {
    fn var(&self, key: &str) -> Option<String> {
        self.get(key).cloned().filter(|v| !v.trim().is_empty())
    }
}

/// A setting that is missing or malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("configuration error: {var}: {message}")]
pub struct ConfigError {
    pub var: String,
    pub message: String,
}

impl ConfigError {
    pub fn new(var: &str, message: impl Into<String>) -> Self {
        Self {
            var: var.to_string(),
            message: message.into(),
        }
    }
}

/// Reads `key` and parses it, or returns `default` when unset.
pub fn parse_or<T: FromStr>(env: &dyn Env, key: &str, default: T) -> Result<T, ConfigError>
where
    T::Err: fmt::Display,
{
    match env.var(key) {
        None => Ok(default),
        Some(raw) => raw
            .trim()
            .parse()
            .map_err(|e| ConfigError::new(key, format!("cannot parse {raw:?}: {e}"))),
    }
}

/// A value that must not appear in logs or debug output.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// The database: `postgres://…` in production, a SQLite file by default.
#[derive(Clone, Debug)]
pub struct DatabaseConfig {
    pub url: Secret,
    pub max_connections: u32,
}

impl DatabaseConfig {
    pub const DEFAULT_URL: &'static str = "sqlite://./data/ai-video.db?mode=rwc";

    pub fn from_env(env: &dyn Env) -> Result<Self, ConfigError> {
        let url = env
            .var("DATABASE_URL")
            .unwrap_or_else(|| Self::DEFAULT_URL.to_string());
        if !(url.starts_with("postgres://")
            || url.starts_with("postgresql://")
            || url.starts_with("sqlite:"))
        {
            return Err(ConfigError::new(
                "DATABASE_URL",
                "must start with postgres://, postgresql:// or sqlite:",
            ));
        }
        Ok(Self {
            url: Secret::new(url),
            max_connections: parse_or(env, "DATABASE_MAX_CONNECTIONS", 16)?,
        })
    }

    pub fn is_sqlite(&self) -> bool {
        self.url.expose().starts_with("sqlite:")
    }
}

/// The Redis server that holds the queue.
#[derive(Clone, Debug)]
pub struct RedisConfig {
    /// `redis://[:password@]host:port/db`, built from the parts when `REDIS_URL` is unset.
    pub url: Secret,
}

impl RedisConfig {
    pub fn from_env(env: &dyn Env) -> Result<Self, ConfigError> {
        if let Some(url) = env.var("REDIS_URL") {
            if !(url.starts_with("redis://") || url.starts_with("rediss://")) {
                return Err(ConfigError::new(
                    "REDIS_URL",
                    "must start with redis:// or rediss://",
                ));
            }
            return Ok(Self {
                url: Secret::new(url),
            });
        }
        let host = env.var("REDIS_HOST").unwrap_or_else(|| "127.0.0.1".into());
        let port: u16 = parse_or(env, "REDIS_PORT", 6379)?;
        let db: u8 = parse_or(env, "REDIS_DB", 0)?;
        let auth = match env.var("REDIS_PASSWORD") {
            Some(password) => format!(":{}@", percent_encode(&password)),
            None => String::new(),
        };
        Ok(Self {
            url: Secret::new(format!("redis://{auth}{host}:{port}/{db}")),
        })
    }

    pub fn bullmq_options(&self) -> bullmq::options::RedisConnectionOptions {
        bullmq::options::RedisConnectionOptions::new().url(self.url.expose())
    }
}

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The BullMQ queue: its name and key prefix (keys are `<prefix>:<name>:…`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueConfig {
    pub name: String,
    pub prefix: String,
}

impl QueueConfig {
    pub fn from_env(env: &dyn Env) -> Result<Self, ConfigError> {
        let name = env.var("QUEUE_NAME").unwrap_or_else(|| "ai-video".into());
        let prefix = env.var("QUEUE_PREFIX").unwrap_or_else(|| "bull".into());
        for (var, value) in [("QUEUE_NAME", &name), ("QUEUE_PREFIX", &prefix)] {
            if value.contains(':') {
                return Err(ConfigError::new(var, "may not contain ':'"));
            }
        }
        Ok(Self { name, prefix })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn redis_url_from_the_seed_parts() {
        let e = env(&[
            ("REDIS_HOST", "cache"),
            ("REDIS_PORT", "6380"),
            ("REDIS_DB", "2"),
            ("REDIS_PASSWORD", "p@ss word"),
        ]);
        let cfg = RedisConfig::from_env(&e).unwrap();
        assert_eq!(cfg.url.expose(), "redis://:p%40ss%20word@cache:6380/2");
        assert_eq!(format!("{cfg:?}"), "RedisConfig { url: Secret(***) }");
    }

    #[test]
    fn redis_url_wins_and_defaults_apply() {
        let cfg = RedisConfig::from_env(&env(&[("REDIS_URL", "redis://x:1/3")])).unwrap();
        assert_eq!(cfg.url.expose(), "redis://x:1/3");
        let cfg = RedisConfig::from_env(&env(&[])).unwrap();
        assert_eq!(cfg.url.expose(), "redis://127.0.0.1:6379/0");
    }

    #[test]
    fn malformed_settings_name_the_variable() {
        let err = RedisConfig::from_env(&env(&[("REDIS_PORT", "abc")])).unwrap_err();
        assert_eq!(err.var, "REDIS_PORT");
        assert!(
            err.to_string()
                .starts_with("configuration error: REDIS_PORT:")
        );
        let err = DatabaseConfig::from_env(&env(&[("DATABASE_URL", "mysql://x")])).unwrap_err();
        assert_eq!(err.var, "DATABASE_URL");
        let err = QueueConfig::from_env(&env(&[("QUEUE_PREFIX", "a:b")])).unwrap_err();
        assert_eq!(err.var, "QUEUE_PREFIX");
    }

    #[test]
    fn database_defaults_to_sqlite() {
        let cfg = DatabaseConfig::from_env(&env(&[])).unwrap();
        assert!(cfg.is_sqlite());
        assert_eq!(cfg.url.expose(), DatabaseConfig::DEFAULT_URL);
    }
}
