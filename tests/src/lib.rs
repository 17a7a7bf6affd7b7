//! Harness for the black-box tests: each test gets its own database (a Postgres
//! database cloned from a migrated template, or a fresh SQLite file), its own Redis
//! key prefix, and the API serving on a free port, so tests run in parallel without
//! seeing each other.
//!
//! The servers come from the environment that `scripts/test.sh` sets up:
//! `TEST_DATABASE_URL` (a Postgres superuser URL) and `TEST_REDIS_URL`.

pub mod api_process;
pub mod browser;
pub mod cli;
mod databases;
pub mod fakes;
pub mod files;
pub mod fixtures;
pub mod http;
pub mod node;
pub mod postgres_server;
pub mod providers;
pub mod receiver;
pub mod redis_server;
pub mod sound;
pub mod sse;
mod stories;
pub mod tokens;
pub mod webhook_receiver;
pub mod worker;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use ai_video_api::Api;
use ai_video_api::config::{ApiConfig, JwtClaims, JwtConfig};
use ai_video_shared::config::{DatabaseConfig, QueueConfig, RedisConfig, Secret};
use ai_video_shared::domain::{Provider, RetryPolicy};
use ai_video_shared::storage::{S3Config, StorageBackend, StorageConfig};
use sea_orm::{ConnectionTrait, DatabaseConnection};
use tokio::sync::oneshot;
use uuid::Uuid;

pub use databases::{empty_postgres_database, with_db};
pub use http::Response;
pub use tokens::Tokens;

/// The database a test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

/// Where a test app keeps media.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Media {
    /// A private local directory.
    Local,
    /// A private bucket on the S3-compatible server of `TEST_S3_ENDPOINT`.
    S3,
}

/// How to start a test app.
#[derive(Debug, Clone)]
pub struct Options {
    pub backend: Backend,
    /// Redis to use instead of `TEST_REDIS_URL`.
    pub redis_url: Option<String>,
    pub jwt: Option<JwtConfig>,
    pub media: Media,
    pub job_retry: RetryPolicy,
    /// A Postgres server (superuser URL) to use instead of `TEST_DATABASE_URL`.
    pub postgres_url: Option<String>,
    pub jwt_claims: JwtClaims,
    /// How long media links live (24 h when `None`).
    pub media_ttl: Option<Duration>,
    /// `OUTBOUND_ALLOW_HOSTS` of the API (where webhook endpoints may point).
    pub outbound_allow_hosts: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            backend: Backend::Postgres,
            redis_url: None,
            jwt: None,
            media: Media::Local,
            job_retry: RetryPolicy::default(),
            postgres_url: None,
            jwt_claims: JwtClaims::default(),
            media_ttl: None,
            outbound_allow_hosts: None,
        }
    }
}

/// A running API with its own database and queue prefix.
pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub db: DatabaseConnection,
    pub queue: QueueConfig,
    pub redis_url: String,
    pub tokens: Tokens,
    pub backend: Backend,
    pub database_url: String,
    pub storage: StorageConfig,
    stop: Option<oneshot::Sender<()>>,
    /// Whether a worker ran for this app: then the app checks, when dropped, that
    /// the test left no unfinished work behind.
    worked: AtomicBool,
    unfinished_ok: AtomicBool,
    _dirs: Vec<TempDir>,
}

/// A TCP port on 127.0.0.1 that nothing listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("a free port")
        .local_addr()
        .expect("addr")
        .port()
}

pub fn env_var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set; run the tests through scripts/test.sh, which starts the servers")
    })
}

impl TestApp {
    /// The API on Postgres.
    pub async fn spawn() -> Self {
        Self::spawn_with(Options::default()).await
    }

    /// The API on SQLite.
    pub async fn spawn_sqlite() -> Self {
        Self::spawn_with(Options {
            backend: Backend::Sqlite,
            ..Options::default()
        })
        .await
    }

    pub async fn spawn_on(backend: Backend) -> Self {
        Self::spawn_with(Options {
            backend,
            ..Options::default()
        })
        .await
    }

    pub async fn spawn_with(opts: Options) -> Self {
        log_to_test_output();
        let (database, sqlite_dir) = match opts.backend {
            Backend::Postgres => {
                let admin = opts
                    .postgres_url
                    .clone()
                    .unwrap_or_else(|| env_var("TEST_DATABASE_URL"));
                (databases::fresh_postgres_database(&admin).await, None)
            }
            Backend::Sqlite => {
                let dir = TempDir::new();
                let url = format!("sqlite://{}/ai-video.db?mode=rwc", dir.path.display());
                (url, Some(dir))
            }
        };
        let mut dirs: Vec<TempDir> = sqlite_dir.into_iter().collect();
        let storage = match opts.media {
            Media::Local => {
                let dir = TempDir::new();
                let backend = StorageBackend::Local {
                    dir: dir.path.join("media"),
                };
                dirs.push(dir);
                StorageConfig {
                    backend,
                    base_url: None,
                }
            }
            Media::S3 => StorageConfig {
                backend: StorageBackend::S3(S3Config {
                    endpoint: env_var("TEST_S3_ENDPOINT"),
                    access_key: Secret::new("test"),
                    secret_key: Secret::new("test"),
                    bucket: format!("t-{}", Uuid::new_v4().simple()),
                    region: "us-east-1".into(),
                }),
                base_url: None,
            },
        };
        let redis_url = opts.redis_url.unwrap_or_else(|| env_var("TEST_REDIS_URL"));
        let queue = QueueConfig {
            name: "ai-video".into(),
            prefix: format!("t{}", Uuid::new_v4().simple()),
        };
        let config = ApiConfig {
            bind_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            database: DatabaseConfig {
                url: Secret::new(database.clone()),
                max_connections: 5,
            },
            redis: RedisConfig {
                url: Secret::new(redis_url.clone()),
            },
            queue: queue.clone(),
            storage: storage.clone(),
            jwt: opts
                .jwt
                .unwrap_or_else(|| JwtConfig::Hs256(Secret::new(tokens::SECRET))),
            jwt_claims: opts.jwt_claims.clone(),
            media_links: tokens::media_signer(
                opts.media_ttl.unwrap_or(Duration::from_secs(86_400)),
            ),
            // The default budget, with room for the many previews some tests run at once.
            quotas: ai_video_shared::domain::QuotaLimits {
                max_rendering: 1000,
                daily_video_seconds: 1_000_000,
                ..Default::default()
            },
            // Off in-process: the rate-limit tests run API processes of their own.
            rate_limits: ai_video_api::ratelimit::RateLimits {
                per_user: 0,
                per_client: 0,
                trust_forwarded_for: false,
            },
            body_limit: 1024 * 1024,
            // Small, so a test can exceed it cheaply.
            music_limit: 2 << 20,
            ffprobe: "ffprobe".into(),
            default_image_provider: Provider::Local,
            default_video_provider: Provider::Local,
            job_retry: opts.job_retry,
            replicate_webhook_secret: Some(Secret::new(tokens::WEBHOOK_SECRET)),
            auto_migrate: opts.backend == Backend::Sqlite,
            outbound: ai_video_shared::outbound::Outbound::from_env(
                &std::collections::HashMap::from_iter(
                    opts.outbound_allow_hosts
                        .iter()
                        .map(|h| ("OUTBOUND_ALLOW_HOSTS".to_string(), h.clone())),
                ),
                &[],
            )
            .expect("OUTBOUND_ALLOW_HOSTS"),
            public_url: None,
            sse_heartbeat: Duration::from_secs(1),
            ticket_ttl: Duration::from_secs(2),
        };
        let api = Api::new(config).await.expect("the API starts");
        let db = api.state().db.clone();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (stop, stopped) = oneshot::channel();
        tokio::spawn(api.serve(listener, async {
            let _ = stopped.await;
        }));
        Self {
            base: format!("http://{addr}"),
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("client"),
            db,
            queue,
            redis_url,
            tokens: Tokens::hs256(),
            backend: opts.backend,
            database_url: database,
            storage,
            stop: Some(stop),
            worked: AtomicBool::new(false),
            unfinished_ok: AtomicBool::new(false),
            _dirs: dirs,
        }
    }

    /// Says that this test leaves work unfinished on purpose (it stops mid-run, or
    /// checks what a stopped queue holds), so the end-of-test check is skipped.
    pub fn allow_unfinished(&self) {
        self.unfinished_ok.store(true, Ordering::Relaxed);
    }

    pub(crate) fn worker_started(&self) {
        self.worked.store(true, Ordering::Relaxed);
    }

    /// `/api/ai-video/<path>`.
    pub fn url(&self, path: &str) -> String {
        if path.starts_with('/') {
            format!("{}{path}", self.base)
        } else {
            format!("{}/api/ai-video/{path}", self.base)
        }
    }

    pub async fn redis(&self) -> redis::aio::MultiplexedConnection {
        redis::Client::open(self.redis_url.as_str())
            .expect("redis url")
            .get_multiplexed_async_connection()
            .await
            .expect("redis connection")
    }

    /// The Redis key of a BullMQ job hash.
    pub fn job_key(&self, queue_id: &str) -> String {
        ai_video_shared::queue::job_key(&self.queue, queue_id)
    }

    /// The fields of a BullMQ job hash, waiting up to `wait` for it to appear.
    pub async fn queued_job(
        &self,
        queue_id: &str,
        wait: Duration,
    ) -> Option<std::collections::HashMap<String, String>> {
        let mut redis = self.redis().await;
        let key = self.job_key(queue_id);
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let fields: std::collections::HashMap<String, String> = redis::cmd("HGETALL")
                .arg(&key)
                .query_async(&mut redis)
                .await
                .expect("HGETALL");
            if !fields.is_empty() {
                return Some(fields);
            }
            if tokio::time::Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Rows left in the outbox.
    pub async fn outbox_len(&self) -> i64 {
        let row = self
            .db
            .query_one_raw(sea_orm::Statement::from_string(
                self.db.get_database_backend(),
                "SELECT COUNT(*) AS n FROM job_outbox",
            ))
            .await
            .expect("count outbox")
            .expect("a row");
        row.try_get::<i64>("", "n").expect("n")
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let check = self.worked.load(Ordering::Relaxed)
            && !self.unfinished_ok.load(Ordering::Relaxed)
            && !std::thread::panicking();
        let url = self.database_url.clone();
        let backend = self.backend;
        // The check and the clean-up need a runtime of their own: drop is not async.
        let left = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let left = if check {
                    databases::unfinished_work(&url).await
                } else {
                    None
                };
                if backend == Backend::Postgres {
                    databases::drop_postgres_database(&url).await;
                }
                left
            })
        })
        .join()
        .unwrap_or_default();
        if let Some(left) = left {
            panic!("the test left unfinished work behind: {left}");
        }
    }
}

/// A directory removed on drop, even when the test panics.
pub struct TempDir {
    pub path: std::path::PathBuf,
}

impl TempDir {
    pub fn new() -> Self {
        let path = std::env::temp_dir().join(format!("ai-video-test-{}", Uuid::new_v4().simple()));
        std::fs::create_dir_all(&path).expect("temp dir");
        Self { path }
    }
}

impl Default for TempDir {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

impl TestApp {
    /// Moves a story to `status` directly in the database, as a worker would have:
    /// for tests of endpoints that need a later phase before the worker exists.
    pub async fn force_status(&self, story_id: &str, status: &str) {
        let sql = format!(
            "UPDATE stories SET status = '{status}' WHERE id = {}",
            self.uuid_literal(story_id)
        );
        self.db
            .execute_unprepared(&sql)
            .await
            .expect("update story status");
    }

    /// A UUID literal in this backend's storage format (SQLite keeps UUIDs as blobs).
    pub fn uuid_literal(&self, id: &str) -> String {
        match self.backend {
            Backend::Postgres => format!("'{id}'"),
            Backend::Sqlite => format!("X'{}'", id.replace('-', "")),
        }
    }

    /// A story with `scenes` scenes of 7 s, for `token`; returns its id and scene ids.
    pub async fn story_with_scenes(&self, token: &str, scenes: usize) -> (String, Vec<String>) {
        let story = self
            .create_story(token, "Fixture", (scenes as i64 * 7).max(1))
            .await;
        let id = story["id"].as_str().expect("id").to_string();
        let list: Vec<serde_json::Value> = (0..scenes)
            .map(|i| serde_json::json!({"duration_seconds": 7, "prompt": {"text": format!("Scene {i}")}}))
            .collect();
        let ids = self.bulk_scenes(token, &id, list).await;
        (id, ids)
    }
}

impl TestApp {
    /// Asks for planning of `story` as `token`.
    pub async fn start_planning(&self, token: &str, story: &str) -> Response {
        self.post(
            &format!("stories/{story}/transition/"),
            token,
            serde_json::json!({"to": "planning"}),
        )
        .await
    }

    /// The members of one of BullMQ's sorted sets of this queue (`prioritized`,
    /// `waiting-children`, …), lowest score first.
    pub async fn queue_set(&self, set: &str) -> Vec<String> {
        let mut redis = self.redis().await;
        let key = format!("{}:{}:{set}", self.queue.prefix, self.queue.name);
        redis::cmd("ZRANGE")
            .arg(key)
            .arg(0)
            .arg(-1)
            .query_async(&mut redis)
            .await
            .expect("ZRANGE")
    }
}

impl TestApp {
    /// Every object key in this app's media store, sorted.
    pub async fn stored_keys(&self) -> Vec<String> {
        use ai_video_shared::storage::StorageBackend;
        let mut keys = Vec::new();
        match &self.storage.backend {
            StorageBackend::Local { dir } => {
                let mut stack = vec![dir.clone()];
                while let Some(d) = stack.pop() {
                    for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
                        let path = entry.path();
                        if path.is_dir() {
                            stack.push(path);
                        } else if let Ok(rel) = path.strip_prefix(dir) {
                            keys.push(rel.display().to_string());
                        }
                    }
                }
            }
            StorageBackend::S3(s3) => {
                let config = aws_sdk_s3::Config::builder()
                    .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
                    .region(aws_sdk_s3::config::Region::new(s3.region.clone()))
                    .endpoint_url(&s3.endpoint)
                    .force_path_style(true)
                    .credentials_provider(aws_sdk_s3::config::Credentials::new(
                        "test", "test", None, None, "tests",
                    ))
                    .build();
                let client = aws_sdk_s3::Client::from_conf(config);
                let listed = client
                    .list_objects_v2()
                    .bucket(&s3.bucket)
                    .send()
                    .await
                    .expect("list objects");
                keys.extend(
                    listed
                        .contents()
                        .iter()
                        .filter_map(|o| o.key().map(String::from)),
                );
            }
        }
        keys.sort();
        keys
    }
}

impl TestApp {
    /// Replaces the `local` provider's settings (delay, failures).
    pub async fn set_local_settings(&self, settings: serde_json::Value) {
        let sql = format!(
            "UPDATE ai_provider_configs SET settings = '{}' WHERE provider = 'local'",
            settings.to_string().replace('\'', "''")
        );
        self.db
            .execute_unprepared(&sql)
            .await
            .expect("update local settings");
        // Workers re-read provider configurations at most once a second.
        tokio::time::sleep(Duration::from_millis(1100)).await;
    }

    /// A story with `scenes` scenes of `seconds` each, moved to `planned` directly
    /// (as if planning had run); returns its id and scene ids.
    pub async fn planned_story(
        &self,
        token: &str,
        scenes: usize,
        seconds: i64,
    ) -> (String, Vec<String>) {
        let story = self
            .create_story(token, "Planned", (scenes as i64 * seconds).max(1))
            .await;
        let id = story["id"].as_str().expect("id").to_string();
        let list: Vec<serde_json::Value> = (0..scenes)
            .map(|i| serde_json::json!({"duration_seconds": seconds, "prompt": {"text": format!("Scene {i}"), "seed": i}}))
            .collect();
        let r = self
            .post(
                "scenes/bulk_create/",
                token,
                serde_json::json!({"story": id, "scenes": list}),
            )
            .await;
        r.assert_status(201);
        let ids = r.body["results"]
            .as_array()
            .expect("results")
            .iter()
            .map(|s| s["id"].as_str().expect("id").to_string())
            .collect();
        self.force_status(&id, "planned").await;
        (id, ids)
    }

    /// Waits for a job row to reach `status`.
    pub async fn wait_for_job(
        &self,
        token: &str,
        job: &str,
        status: &str,
        timeout: Duration,
    ) -> serde_json::Value {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let r = self.get(&format!("jobs/{job}/"), token).await;
            if r.body["status"] == status {
                return r.body;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "job {job} did not reach {status}: {}",
                r.text
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl TestApp {
    /// A plain Redis string value.
    pub async fn queued_key(&self, key: &str) -> Option<String> {
        let mut redis = self.redis().await;
        redis::cmd("GET")
            .arg(key)
            .query_async(&mut redis)
            .await
            .expect("GET")
    }
}

/// The API's and in-process workers' logs go to the test's output (shown when it
/// fails), filtered by RUST_LOG (warnings by default).
fn log_to_test_output() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let filter = tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_test_writer()
            .try_init();
    });
}
