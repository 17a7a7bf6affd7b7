//! The worker's settings, read once from the environment and checked before it
//! takes any job. A missing or malformed setting stops start-up with one line
//! naming it.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use ai_video_shared::config::{
    ConfigError, DatabaseConfig, Env, QueueConfig, RedisConfig, parse_or,
};
use ai_video_shared::storage::StorageConfig;

use crate::bridge::BridgeConfig;
use crate::jobs::RenderSettings;
use crate::media::Ffmpeg;
use crate::providers::ProviderKeys;
use crate::webhooks::WebhookConfig;

#[derive(Debug, Clone)]
pub struct WorkerConfig {
    pub database: DatabaseConfig,
    pub auto_migrate: bool,
    pub bridge: BridgeConfig,
    pub storage: StorageConfig,
    /// Where `/metrics`, `/healthz` and `/readyz` are served (`METRICS_ADDR`).
    pub metrics_addr: SocketAddr,
    /// How long SIGTERM waits for running jobs (`WORKER_SHUTDOWN_GRACE_SECS`).
    pub shutdown_grace: Duration,
    /// How often the database and Redis are reconciled (`WORKER_RECONCILE_INTERVAL_SECS`).
    pub reconcile_interval: Duration,
    pub ffmpeg: Ffmpeg,
    pub render: RenderSettings,
    /// Temporary files of running jobs (`WORK_DIR`).
    pub work_dir: PathBuf,
    /// Keys and base URLs of the remote providers.
    pub providers: ProviderKeys,
    /// Webhook delivery and its retries.
    pub webhooks: WebhookConfig,
    /// How long events are kept (`EVENTS_RETENTION_DAYS`); one still to be delivered
    /// is kept until it is.
    pub events_retention: Duration,
}

impl WorkerConfig {
    pub fn from_env(env: &dyn Env) -> Result<Self, ConfigError> {
        let database = DatabaseConfig::from_env(env)?;
        let concurrency: usize = parse_or(env, "WORKER_CONCURRENCY", 64)?;
        if concurrency == 0 {
            return Err(ConfigError::new("WORKER_CONCURRENCY", "must be at least 1"));
        }
        let ms = |var: &str, default: u64| -> Result<Duration, ConfigError> {
            let v: u64 = parse_or(env, var, default)?;
            if v == 0 {
                return Err(ConfigError::new(var, "must be greater than 0"));
            }
            Ok(Duration::from_millis(v))
        };
        let name = env
            .var("WORKER_NAME")
            .or_else(|| env.var("HOSTNAME"))
            .unwrap_or_else(|| format!("worker-{}", std::process::id()));
        Ok(Self {
            auto_migrate: parse_or(env, "AUTO_MIGRATE", database.is_sqlite())?,
            database,
            bridge: BridgeConfig {
                redis: RedisConfig::from_env(env)?,
                queue: QueueConfig::from_env(env)?,
                concurrency,
                lock_duration: ms("WORKER_LOCK_DURATION_MS", 10_000)?,
                stalled_interval: ms("WORKER_STALLED_INTERVAL_MS", 5_000)?,
                max_stalled_count: parse_or(env, "WORKER_MAX_STALLED_COUNT", 2)?,
                name,
            },
            storage: StorageConfig::from_env(env)?,
            metrics_addr: parse_or(
                env,
                "METRICS_ADDR",
                SocketAddr::from(([127, 0, 0, 1], 9091)),
            )?,
            shutdown_grace: Duration::from_secs(parse_or(env, "WORKER_SHUTDOWN_GRACE_SECS", 30)?),
            reconcile_interval: Duration::from_secs(
                parse_or(env, "WORKER_RECONCILE_INTERVAL_SECS", 15u64)?.max(1),
            ),
            ffmpeg: Ffmpeg {
                ffmpeg: env
                    .var("FFMPEG_BIN")
                    .unwrap_or_else(|| "ffmpeg".into())
                    .into(),
                ffprobe: env
                    .var("FFPROBE_BIN")
                    .unwrap_or_else(|| "ffprobe".into())
                    .into(),
                espeak: env
                    .var("ESPEAK_BIN")
                    .unwrap_or_else(|| "espeak-ng".into())
                    .into(),
            },
            render: RenderSettings {
                preview_long_side: parse_or(env, "PREVIEW_LONG_SIDE", 640)?,
                final_long_side: parse_or(env, "FINAL_LONG_SIDE", 1280)?,
                fps: parse_or(env, "VIDEO_FPS", 24)?,
            },
            work_dir: env
                .var("WORK_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| std::env::temp_dir().join("ai-video-work")),
            providers: ProviderKeys::from_env(env)?,
            webhooks: WebhookConfig::from_env(env)?,
            events_retention: Duration::from_secs(
                parse_or(env, "EVENTS_RETENTION_DAYS", 30u64)?.clamp(1, 3650) * 86_400,
            ),
        })
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
    fn defaults_suit_io_bound_work_and_quick_recovery() {
        let cfg = WorkerConfig::from_env(&env(&[])).unwrap();
        assert_eq!(cfg.bridge.concurrency, 64);
        assert_eq!(cfg.bridge.lock_duration, Duration::from_secs(10));
        assert_eq!(cfg.metrics_addr.to_string(), "127.0.0.1:9091");
        assert_eq!(cfg.render.fps, 24);
    }

    #[test]
    fn bad_values_name_their_variable() {
        for (var, value) in [
            ("WORKER_CONCURRENCY", "0"),
            ("WORKER_CONCURRENCY", "many"),
            ("WORKER_LOCK_DURATION_MS", "0"),
            ("METRICS_ADDR", "nowhere"),
        ] {
            let err = WorkerConfig::from_env(&env(&[(var, value)])).unwrap_err();
            assert_eq!(err.var, var);
        }
    }
}
