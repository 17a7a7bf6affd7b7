//! The real `ai-video-api` binary as a child process, on this app's database, Redis
//! and queue: a second (or third) replica for promises that must hold fleet-wide.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use ai_video_shared::storage::StorageBackend;

use crate::{TestApp, free_port, tokens};

/// An API process; killed on drop.
pub struct ApiProcess {
    pub child: Child,
    /// `http://127.0.0.1:port`
    pub base: String,
}

impl ApiProcess {
    /// `/api/ai-video/<path>` on this replica.
    pub fn url(&self, path: &str) -> String {
        format!("{}/api/ai-video/{path}", self.base)
    }
}

impl Drop for ApiProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl TestApp {
    /// Starts another API replica with `env` on top of this app's settings, and
    /// waits until it answers.
    pub async fn spawn_api_process(&self, env: &[(&str, &str)]) -> ApiProcess {
        let port = free_port();
        let mut cmd = Command::new(crate::worker::binary("ai-video-api"));
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("RUST_LOG", "warn")
            .env("DATABASE_URL", &self.database_url)
            .env("AUTO_MIGRATE", "false")
            .env("REDIS_URL", &self.redis_url)
            .env("QUEUE_NAME", &self.queue.name)
            .env("QUEUE_PREFIX", &self.queue.prefix)
            .env("JWT_SECRET", tokens::SECRET)
            .env("BIND_ADDR", format!("127.0.0.1:{port}"))
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        if let StorageBackend::Local { dir } = &self.storage.backend {
            cmd.env("STORAGE_DIR", dir);
        }
        let child = cmd.spawn().expect("start ai-video-api");
        let process = ApiProcess {
            child,
            base: format!("http://127.0.0.1:{port}"),
        };
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(r) = self
                .client
                .get(format!("{}/healthz", process.base))
                .send()
                .await
                && r.status().is_success()
            {
                return process;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "ai-video-api did not start on {port}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
