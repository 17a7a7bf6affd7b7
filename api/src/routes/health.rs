//! `/healthz` (the process is alive) and `/readyz` (it can serve: database, Redis
//! and the media storage answer). Kubernetes probes these separately. Both say only
//! whether; the details of a failed check are logged.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use sea_orm::ConnectionTrait;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HealthOut {
    /// `ok` or `unavailable`; which dependency failed, and why, goes to the log
    /// only, never to whoever can reach the public port.
    pub status: &'static str,
}

/// Liveness: answers as long as the process serves requests.
#[utoipa::path(get, path = "/healthz", tag = "health", security(),
    responses((status = 200, body = HealthOut)))]
pub async fn healthz() -> Json<HealthOut> {
    Json(HealthOut { status: "ok" })
}

/// Readiness: the database, Redis and the media storage answer within a second.
#[utoipa::path(get, path = "/readyz", tag = "health", security(),
    responses((status = 200, body = HealthOut), (status = 503, body = HealthOut)))]
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<HealthOut>) {
    let limit = Duration::from_secs(1);
    let db = async {
        match tokio::time::timeout(limit, state.db.execute_unprepared("SELECT 1")).await {
            Ok(Ok(_)) => "ok".to_string(),
            Ok(Err(e)) => format!("error: {e}"),
            Err(_) => "timeout".to_string(),
        }
    };
    let redis = async {
        match tokio::time::timeout(limit, ping_redis(&state)).await {
            Ok(Ok(())) => "ok".to_string(),
            Ok(Err(e)) => format!("error: {e}"),
            Err(_) => "timeout".to_string(),
        }
    };
    let storage = async {
        match tokio::time::timeout(limit, state.storage.check()).await {
            Ok(Ok(())) => "ok".to_string(),
            Ok(Err(e)) => format!("error: {e}"),
            Err(_) => "timeout".to_string(),
        }
    };
    let (database, redis, storage) = tokio::join!(db, redis, storage);
    let ok = database == "ok" && redis == "ok" && storage == "ok";
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    if !ok {
        tracing::warn!(%database, %redis, %storage, "not ready");
    }
    let body = HealthOut {
        status: if ok { "ok" } else { "unavailable" },
    };
    (status, Json(body))
}

async fn ping_redis(state: &AppState) -> Result<(), String> {
    let client = state.redis_client.clone();
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .map_err(|e| format!("{:?}", e.kind()))?;
    let _: String = redis::cmd("PING")
        .query_async(&mut conn)
        .await
        .map_err(|e| format!("{:?}", e.kind()))?;
    Ok(())
}
