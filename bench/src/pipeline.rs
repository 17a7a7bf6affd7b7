//! The full pipeline on Postgres: planning requests through the API's outbox, run
//! by the worker, with every Job row and transition written — in jobs per second.
//! Also the shared set-up of the API benchmarks: a fresh database and the services.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ai_video_api::Api;
use ai_video_api::config::{ApiConfig, JwtConfig};
use ai_video_shared::config::{DatabaseConfig, QueueConfig, RedisConfig, Secret};
use ai_video_shared::db::Money;
use ai_video_shared::db::entities::{scene, story};
use ai_video_shared::domain::{
    AspectRatio, CameraMotion, Language, Provider, RetryPolicy, SceneStatus, StoryStatus,
};
use ai_video_shared::storage::{StorageBackend, StorageConfig};
use anyhow::Context;
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, EntityTrait, Set, Statement};
use tokio::sync::{Semaphore, oneshot};

use crate::report::{Report, Row, num};
use crate::{Bench, cpu};

pub const SECRET: &str = "bench-secret-0123456789abcdef0123456789";

/// A fresh, migrated database on the bench's Postgres; returns its URL.
pub async fn fresh_database(bench: &Bench) -> anyhow::Result<String> {
    let admin_url = bench
        .database_url
        .clone()
        .context("BENCH_DATABASE_URL is not set; run scripts/bench.sh")?;
    let admin = Database::connect(admin_url.as_str()).await?;
    let name = format!("bench_{}", uuid::Uuid::new_v4().simple());
    admin
        .execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await?;
    admin.close().await?;
    let base = admin_url
        .rsplit_once('/')
        .map(|(b, _)| b)
        .unwrap_or(&admin_url);
    let url = format!("{base}/{name}");
    let db = Database::connect(url.as_str()).await?;
    ai_video_shared::db::migrate(&db).await?;
    db.close().await?;
    Ok(url)
}

/// The API and a worker on one database and queue, running until dropped.
pub struct Services {
    pub base: String,
    pub db: DatabaseConnection,
    stop: Vec<oneshot::Sender<()>>,
    _dir: std::path::PathBuf,
}

impl Drop for Services {
    fn drop(&mut self) {
        for stop in self.stop.drain(..) {
            let _ = stop.send(());
        }
    }
}

pub async fn services(bench: &Bench, url: &str, with_worker: bool) -> anyhow::Result<Services> {
    let dir =
        std::env::temp_dir().join(format!("ai-video-bench-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir)?;
    let queue = QueueConfig {
        name: "ai-video".into(),
        prefix: format!("p{}", uuid::Uuid::new_v4().simple()),
    };
    let storage = StorageConfig {
        backend: StorageBackend::Local {
            dir: dir.join("media"),
        },
        base_url: None,
    };
    let config = ApiConfig {
        bind_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        database: DatabaseConfig {
            url: Secret::new(url),
            max_connections: 16,
        },
        redis: RedisConfig {
            url: Secret::new(bench.redis_url()),
        },
        queue: queue.clone(),
        storage,
        jwt: JwtConfig::Hs256(Secret::new(SECRET)),
        jwt_claims: Default::default(),
        media_links: ai_video_api::media_links::MediaSigner::derived(
            SECRET.as_bytes(),
            std::time::Duration::from_secs(86_400),
        ),
        quotas: ai_video_shared::domain::QuotaLimits::unlimited(),
        rate_limits: ai_video_api::ratelimit::RateLimits {
            per_user: 0,
            per_client: 0,
            trust_forwarded_for: false,
        },
        body_limit: 1024 * 1024,
        music_limit: 25 << 20,
        ffprobe: "ffprobe".into(),
        default_image_provider: Provider::Local,
        default_video_provider: Provider::Local,
        job_retry: RetryPolicy::default(),
        replicate_webhook_secret: None,
        auto_migrate: false,
        outbound: Default::default(),
        public_url: None,
        sse_heartbeat: std::time::Duration::from_secs(15),
        ticket_ttl: std::time::Duration::from_secs(60),
    };
    let api = Api::new(config).await?;
    let db = api.state().db.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let (stop_api, stopped) = oneshot::channel::<()>();
    tokio::spawn(api.serve(listener, async {
        let _ = stopped.await;
    }));
    let mut stop = vec![stop_api];
    if with_worker {
        let env: HashMap<String, String> = [
            ("DATABASE_URL", url.to_string()),
            ("REDIS_URL", bench.redis_url()),
            ("QUEUE_NAME", queue.name.clone()),
            ("QUEUE_PREFIX", queue.prefix.clone()),
            ("STORAGE_DIR", dir.join("media").display().to_string()),
            ("WORK_DIR", dir.join("work").display().to_string()),
            ("METRICS_ADDR", "127.0.0.1:0".into()),
            ("WORKER_CONCURRENCY", "64".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let config = ai_video_worker::config::WorkerConfig::from_env(&env)?;
        let (stop_worker, stopped) = oneshot::channel::<()>();
        tokio::spawn(ai_video_worker::run(config, async {
            let _ = stopped.await;
        }));
        stop.push(stop_worker);
    }
    Ok(Services {
        base,
        db,
        stop,
        _dir: dir,
    })
}

/// `n` draft stories of one scene each, owned by `owner`; returns their ids.
pub async fn seed(
    db: &DatabaseConnection,
    owner: &str,
    n: usize,
) -> anyhow::Result<Vec<uuid::Uuid>> {
    let now = chrono::Utc::now();
    let ids: Vec<uuid::Uuid> = (0..n).map(|_| uuid::Uuid::now_v7()).collect();
    for chunk in ids.chunks(500) {
        let stories = chunk.iter().map(|id| story::ActiveModel {
            id: Set(*id),
            owner_id: Set(owner.into()),
            title: Set("Bench".into()),
            synopsis: Set("A quiet harbour at dawn.".into()),
            style: Set("cinematic".into()),
            duration_seconds: Set(7),
            aspect_ratio: Set(AspectRatio::Landscape),
            status: Set(StoryStatus::Draft),
            image_provider: Set(Provider::Local),
            video_provider: Set(Provider::Local),
            language: Set(Language::English),
            film: Set(None),
            bible: Set(None),
            music: Set(None),
            estimated_cost: Set(None),
            cost_estimate: Set(None),
            actual_cost: Set(Money::ZERO),
            preview_key: Set(None),
            final_key: Set(None),
            last_error: Set(None),
            version: Set(1),
            created_at: Set(now),
            updated_at: Set(now),
        });
        story::Entity::insert_many(stories).exec(db).await?;
        let scenes = chunk.iter().map(|id| scene::ActiveModel {
            id: Set(uuid::Uuid::now_v7()),
            story_id: Set(*id),
            position: Set(1),
            duration_seconds: Set(7),
            prompt_text: Set("A quiet harbour at dawn".into()),
            negative_prompt: Set(String::new()),
            prompt_style: Set("cinematic".into()),
            camera_motion: Set(CameraMotion::Static),
            seed: Set(1),
            narration: Set("A quiet harbour at dawn.".into()),
            status: Set(SceneStatus::Pending),
            image_key: Set(None),
            clip_key: Set(None),
            provider: Set(None),
            generation_time_ms: Set(None),
            cost: Set(Money::ZERO),
            error: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
        });
        scene::Entity::insert_many(scenes).exec(db).await?;
    }
    Ok(ids)
}

async fn planned(db: &DatabaseConnection) -> anyhow::Result<i64> {
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT COUNT(*) AS n FROM stories WHERE status = 'planned'",
        ))
        .await?
        .context("a count")?;
    Ok(row.try_get::<i64>("", "n")?)
}

pub async fn run(bench: &Bench, report: &mut Report) -> anyhow::Result<()> {
    bench.flush().await?;
    let url = fresh_database(bench).await?;
    let services = services(bench, &url, true).await?;
    let n = 5000;
    let ids = seed(&services.db, "bench", n).await?;
    let token = ai_video_api::auth::mint(SECRET, "bench", false, 3600, &Default::default())?;
    let client = reqwest::Client::new();
    let gate = Arc::new(Semaphore::new(64));
    let statements = Statements::reset(&services.db).await;
    let meter = cpu::Meter::start(process_trees(bench, &services.db).await?);
    let started = Instant::now();
    let mut requests = Vec::with_capacity(n);
    for id in ids {
        let permit = gate.clone().acquire_owned().await?;
        let (client, token, base) = (client.clone(), token.clone(), services.base.clone());
        requests.push(tokio::spawn(async move {
            let r = client
                .post(format!("{base}/api/ai-video/stories/{id}/transition/"))
                .bearer_auth(token)
                .json(&serde_json::json!({"to": "planning"}))
                .send()
                .await;
            drop(permit);
            r.map(|r| r.status().as_u16()).unwrap_or(0)
        }));
    }
    let mut accepted = 0;
    for r in requests {
        if r.await? == 200 {
            accepted += 1;
        }
    }
    let api_seconds = started.elapsed().as_secs_f64();
    anyhow::ensure!(
        accepted == n,
        "only {accepted} of {n} requests were accepted"
    );
    while (planned(&services.db).await? as usize) < n {
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(600),
            "the pipeline stalled"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let seconds = started.elapsed().as_secs_f64();
    let (used, wall) = meter.stop();
    let per_job = |secs: f64| secs * 1000.0 / n as f64;
    let total: f64 = used.iter().map(|(_, s)| s).sum();
    let mut profile: Vec<String> = used
        .iter()
        .map(|(name, s)| format!("{name} {} ms", num(per_job(*s))))
        .collect();
    if let Some(calls) = statements.read(&services.db).await {
        profile.push(format!(
            "Postgres ran {} statements per job",
            num(calls / n as f64)
        ));
    }
    report.add(Row {
        benchmark: "full pipeline on Postgres".into(),
        setup: format!(
            "{n} planning requests (64 at a time) → outbox → Redis → worker (64 slots) → Job rows and transitions; requests took {} s. CPU per job: {}; all {} ms, so {} cores allow at most {} jobs/s; cores busy {}%",
            num(api_seconds),
            profile.join(", "),
            num(per_job(total)),
            cores(),
            num(cores() as f64 * 1000.0 / per_job(total)),
            num(total / wall / cores() as f64 * 100.0),
        ),
        ai_video: format!("{} jobs/s", num(n as f64 / seconds)),
        peer: "—".into(),
        ratio: "—".into(),
        target: "≥ 2000 jobs/s".into(),
    });
    Ok(())
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// The processes the pipeline runs on: this one (API, worker and the HTTP client),
/// the Postgres cluster and Redis.
async fn process_trees(
    bench: &Bench,
    db: &DatabaseConnection,
) -> anyhow::Result<Vec<(&'static str, cpu::Tree)>> {
    let backend = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT pg_backend_pid() AS pid",
        ))
        .await?
        .context("a backend pid")?
        .try_get::<i32>("", "pid")?;
    let postmaster = cpu::parent_of(backend as u32).context("the postmaster")?;
    let redis_pid = bench.redis_pid().await?;
    Ok(vec![
        (
            "ai-video (API + worker + HTTP client)",
            cpu::Tree::One(std::process::id()),
        ),
        ("Postgres", cpu::Tree::WithChildren(postmaster)),
        ("Redis", cpu::Tree::One(redis_pid)),
    ])
}

/// Statement counts from `pg_stat_statements`, when the server loads it
/// (`scripts/bench.sh` does).
struct Statements {
    available: bool,
}

const STATEMENT_TOTALS: &str = "SELECT COALESCE(SUM(calls), 0)::float8 AS calls \
     FROM pg_stat_statements \
     WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) \
     AND query NOT LIKE '%pg_stat_statements%' AND query NOT LIKE '%COUNT(*) AS n%'";

impl Statements {
    async fn reset(db: &DatabaseConnection) -> Self {
        let available = db
            .execute_unprepared("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
            .await
            .is_ok()
            && db
                .execute_unprepared("SELECT pg_stat_statements_reset()")
                .await
                .is_ok();
        Self { available }
    }

    /// Statements executed since the reset.
    async fn read(&self, db: &DatabaseConnection) -> Option<f64> {
        if !self.available {
            return None;
        }
        let row = db
            .query_one_raw(Statement::from_string(
                db.get_database_backend(),
                STATEMENT_TOTALS,
            ))
            .await
            .ok()??;
        row.try_get::<f64>("", "calls").ok()
    }
}
