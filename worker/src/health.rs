//! The worker's own HTTP endpoints on `METRICS_ADDR`: `/metrics` (Prometheus),
//! `/healthz` (alive) and `/readyz` (database, Redis and storage answer, and Redis
//! will not evict queued jobs: its `maxmemory-policy` is `noeviction`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use ai_video_shared::config::{QueueConfig, RedisConfig};
use ai_video_shared::queue::QueueClient;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use sea_orm::ConnectionTrait;
use serde_json::{Value, json};

use crate::jobs::WorkerState;

#[derive(Clone)]
struct Probe {
    state: Arc<WorkerState>,
    redis: redis::Client,
    redis_config: RedisConfig,
    queue_config: QueueConfig,
    queue: Arc<tokio::sync::OnceCell<QueueClient>>,
}

/// Serves the probes until `shutdown` resolves.
pub async fn serve(
    addr: SocketAddr,
    state: Arc<WorkerState>,
    redis: RedisConfig,
    queue: QueueConfig,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let probe = Probe {
        state,
        redis: redis::Client::open(redis.url.expose())?,
        redis_config: redis,
        queue_config: queue,
        queue: Arc::new(tokio::sync::OnceCell::new()),
    };
    let app = axum::Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { Json(json!({"status": "ok"})) }))
        .route("/readyz", get(readyz))
        .with_state(probe);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {addr} (METRICS_ADDR): {e}"))?;
    tracing::info!(%addr, "worker probes listening");
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await?;
    Ok(())
}

async fn metrics(State(probe): State<Probe>) -> impl axum::response::IntoResponse {
    let queue = probe
        .queue
        .get_or_try_init(|| QueueClient::connect(&probe.redis_config, &probe.queue_config))
        .await;
    if let Ok(Ok(n)) = tokio::time::timeout(
        Duration::from_secs(1),
        ai_video_shared::store::jobs::stuck(&probe.state.db),
    )
    .await
    {
        crate::metrics::jobs_stuck(n);
    }
    if let Ok(client) = queue {
        let _ = tokio::time::timeout(
            Duration::from_secs(1),
            crate::metrics::record_queue_depth(client.queue()),
        )
        .await;
    }
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        crate::metrics::render(),
    )
}

/// Redis's `maxmemory-policy`, where `CONFIG GET` is allowed (some managed Redis
/// services refuse it; then nothing is known and nothing is reported).
async fn eviction_policy(conn: &mut redis::aio::MultiplexedConnection) -> Option<String> {
    let reply: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("maxmemory-policy")
        .query_async(conn)
        .await
        .ok()?;
    reply.into_iter().nth(1)
}

async fn readyz(State(probe): State<Probe>) -> (StatusCode, Json<Value>) {
    let limit = Duration::from_secs(1);
    let check = |r: Result<Result<(), String>, tokio::time::error::Elapsed>| match r {
        Ok(Ok(())) => "ok".to_string(),
        Ok(Err(e)) => format!("error: {e}"),
        Err(_) => "timeout".to_string(),
    };
    let db = tokio::time::timeout(limit, async {
        probe
            .state
            .db
            .execute_unprepared("SELECT 1")
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    });
    let redis = tokio::time::timeout(limit, async {
        let mut conn = probe
            .redis
            .get_multiplexed_async_connection()
            .await
            .map_err(|e| format!("{:?}", e.kind()))?;
        redis::cmd("PING")
            .query_async::<String>(&mut conn)
            .await
            .map_err(|e| format!("{:?}", e.kind()))?;
        // A Redis that may evict keys silently loses queued jobs.
        match eviction_policy(&mut conn).await {
            Some(policy) if policy != "noeviction" => {
                crate::metrics::redis_evicting(true);
                Err(format!(
                    "maxmemory-policy is {policy}, which can evict queued jobs; set noeviction"
                ))
            }
            _ => {
                crate::metrics::redis_evicting(false);
                Ok(())
            }
        }
    });
    let storage = tokio::time::timeout(limit, async {
        probe.state.storage.check().await.map_err(|e| e.to_string())
    });
    let (db, redis, storage) = tokio::join!(db, redis, storage);
    let checks = json!({"database": check(db), "redis": check(redis), "storage": check(storage)});
    let ok = checks
        .as_object()
        .is_some_and(|c| c.values().all(|v| v == "ok"));
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(json!({"status": if ok { "ok" } else { "unavailable" }, "checks": checks})),
    )
}
