//! Workers for tests: in-process (`ai_video_worker::run` on the test's runtime), or
//! the real `ai-video-worker` binary as a child process that a test can kill.
//! Both get the same environment, built from the test app's settings.

use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use ai_video_shared::storage::StorageBackend;
use ai_video_worker::config::WorkerConfig;
use serde_json::Value;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::{TempDir, TestApp};

/// Knobs a test may turn.
#[derive(Debug, Clone)]
pub struct WorkerTweaks {
    pub concurrency: usize,
    pub lock_ms: u64,
    pub stalled_ms: u64,
    pub grace_secs: u64,
    pub name: String,
    /// Extra environment (provider keys and base URLs, `RUST_LOG`, …).
    pub env: Vec<(String, String)>,
    /// Where a worker process writes its log (stdout and stderr); when `None`,
    /// stdout is dropped and stderr inherited.
    pub log_file: Option<std::path::PathBuf>,
}

impl Default for WorkerTweaks {
    fn default() -> Self {
        Self {
            concurrency: 4,
            lock_ms: 2000,
            stalled_ms: 1000,
            grace_secs: 10,
            name: "test-worker".into(),
            env: Vec::new(),
            log_file: None,
        }
    }
}

/// A worker running on the test's runtime; stopped (gracefully) on drop.
pub struct TestWorker {
    stop: Option<oneshot::Sender<()>>,
    handle: Option<JoinHandle<anyhow::Result<()>>>,
    _work: TempDir,
}

impl TestWorker {
    /// Stops taking jobs, lets the running ones finish, and waits for that.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(handle) = self.handle.take() {
            handle
                .await
                .expect("worker task")
                .expect("worker stops cleanly");
        }
    }
}

impl Drop for TestWorker {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// The `ai-video-worker` binary as a child process.
pub struct WorkerProcess {
    pub child: Child,
    _work: TempDir,
}

impl WorkerProcess {
    /// SIGKILL: the worker dies mid-job without a word to Redis.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then waits for the process to exit.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        self.child.wait().expect("worker exits")
    }
}

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The built `ai-video-worker` binary, next to the test binaries.
pub fn worker_binary() -> std::path::PathBuf {
    binary("ai-video-worker")
}

/// A built binary of the workspace, next to the test binaries.
pub fn binary(name: &str) -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let dir = exe.parent().and_then(|d| d.parent()).expect("target dir");
    let bin = dir.join(name);
    assert!(
        bin.exists(),
        "{} is missing; scripts/test.sh builds it (cargo build --bins)",
        bin.display()
    );
    bin
}

impl TestApp {
    /// The environment a worker of this app runs with.
    pub fn worker_env(&self, tweaks: &WorkerTweaks, work: &TempDir) -> HashMap<String, String> {
        let mut env: HashMap<String, String> = [
            ("DATABASE_URL", self.database_url.clone()),
            ("AUTO_MIGRATE", "false".into()),
            ("REDIS_URL", self.redis_url.clone()),
            ("QUEUE_NAME", self.queue.name.clone()),
            ("QUEUE_PREFIX", self.queue.prefix.clone()),
            ("METRICS_ADDR", "127.0.0.1:0".into()),
            ("WORKER_CONCURRENCY", tweaks.concurrency.to_string()),
            ("WORKER_LOCK_DURATION_MS", tweaks.lock_ms.to_string()),
            ("WORKER_STALLED_INTERVAL_MS", tweaks.stalled_ms.to_string()),
            ("WORKER_SHUTDOWN_GRACE_SECS", tweaks.grace_secs.to_string()),
            ("WORKER_NAME", tweaks.name.clone()),
            ("WORK_DIR", work.path.display().to_string()),
            ("DATABASE_MAX_CONNECTIONS", "16".into()),
            // Webhook retries in tenths of a second, not the specification's hours.
            ("WEBHOOK_POLL_MS", "200".into()),
            ("WEBHOOK_RETRY_SCHEDULE", "200ms,400ms,800ms".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        env.extend(tweaks.env.iter().cloned());
        match &self.storage.backend {
            StorageBackend::Local { dir } => {
                env.insert("STORAGE_DIR".into(), dir.display().to_string());
            }
            StorageBackend::S3(s3) => {
                env.insert("MINIO_ENDPOINT".into(), s3.endpoint.clone());
                env.insert("MINIO_ACCESS_KEY".into(), s3.access_key.expose().into());
                env.insert("MINIO_SECRET_KEY".into(), s3.secret_key.expose().into());
                env.insert("MINIO_BUCKET".into(), s3.bucket.clone());
                env.insert("MINIO_REGION".into(), s3.region.clone());
            }
        }
        env
    }

    /// Starts a worker in this process.
    pub async fn start_worker(&self, tweaks: WorkerTweaks) -> TestWorker {
        self.worker_started();
        let work = TempDir::new();
        let config =
            WorkerConfig::from_env(&self.worker_env(&tweaks, &work)).expect("worker config");
        let (stop, stopped) = oneshot::channel::<()>();
        let handle = tokio::spawn(ai_video_worker::run(config, async {
            let _ = stopped.await;
        }));
        TestWorker {
            stop: Some(stop),
            handle: Some(handle),
            _work: work,
        }
    }

    /// Starts the worker binary as a child process.
    pub fn spawn_worker_process(&self, tweaks: WorkerTweaks) -> WorkerProcess {
        self.worker_started();
        let work = TempDir::new();
        let env = self.worker_env(&tweaks, &work);
        let (stdout, stderr) = match &tweaks.log_file {
            Some(path) => {
                let file = std::fs::File::create(path).expect("worker log file");
                let copy = file.try_clone().expect("worker log file");
                (Stdio::from(file), Stdio::from(copy))
            }
            None => (Stdio::null(), Stdio::inherit()),
        };
        let child = Command::new(worker_binary())
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .envs(env)
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .expect("start ai-video-worker");
        WorkerProcess { child, _work: work }
    }

    /// Polls a story until it reaches `status` (panics after `timeout`, showing the
    /// story and its jobs).
    pub async fn wait_for_status(
        &self,
        token: &str,
        story: &str,
        status: &str,
        timeout: Duration,
    ) -> Value {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let r = self.get(&format!("stories/{story}/"), token).await;
            if r.body["status"] == status {
                return r.body;
            }
            if tokio::time::Instant::now() >= deadline {
                let jobs = self
                    .get(&format!("jobs/?story={story}&page_size=100"), token)
                    .await;
                panic!(
                    "story {story} did not reach {status} in {timeout:?}: {}\njobs: {}",
                    r.text, jobs.text
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Polls until `check` holds for the story (or panics after `timeout`).
    pub async fn wait_for(
        &self,
        token: &str,
        story: &str,
        timeout: Duration,
        check: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let r = self.get(&format!("stories/{story}/"), token).await;
            if check(&r.body) {
                return r.body;
            }
            if tokio::time::Instant::now() >= deadline {
                let jobs = self
                    .get(&format!("jobs/?story={story}&page_size=100"), token)
                    .await;
                panic!(
                    "story {story} did not get there in {timeout:?}: {}\njobs: {}",
                    r.text, jobs.text
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}
