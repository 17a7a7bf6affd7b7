//! Request rate limits, fleet-wide: per user and per client address, counted in Redis
//! so that every API replica enforces the same budget.
//!
//! Each limit is a fixed window of [`WINDOW`]: a count per (scope, id, window) that
//! Redis expires with the window. Every answer carries the IETF headers
//! (draft-ietf-httpapi-ratelimit-headers): `RateLimit-Policy` lists the policies, and
//! `RateLimit` the one closest to its limit with what remains (`r`) and the seconds
//! until its window resets (`t`). Over a limit the answer is `429 throttled` with
//! `Retry-After`. Probes and metrics are never limited. A Redis that cannot be reached
//! lets requests through (the outage shows on `/readyz`), rather than taking the API
//! down with it.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use redis::aio::ConnectionManager;
use tokio::sync::OnceCell;

use crate::AppState;
use crate::error::ApiError;

use ai_video_shared::domain::ErrorCode;

/// The length of a limit's window.
pub const WINDOW: Duration = Duration::from_secs(60);

const RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");
const RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");

/// The limits, per minute; 0 turns one off.
#[derive(Debug, Clone, Copy)]
pub struct RateLimits {
    /// `RATE_LIMIT_USER_PER_MINUTE`: requests of one authenticated user.
    pub per_user: u32,
    /// `RATE_LIMIT_CLIENT_PER_MINUTE`: requests from one client address.
    pub per_client: u32,
    /// `RATE_LIMIT_TRUST_FORWARDED_FOR`: take the client address from the last
    /// `X-Forwarded-For` entry (set it behind an ingress that appends it).
    pub trust_forwarded_for: bool,
}

impl Default for RateLimits {
    fn default() -> Self {
        Self {
            per_user: 600,
            per_client: 1200,
            trust_forwarded_for: false,
        }
    }
}

/// The Redis connection the limits count on, opened on first use.
#[derive(Default)]
pub struct Counter {
    conn: OnceCell<ConnectionManager>,
}

/// One limit as counted for one request.
struct Count {
    name: &'static str,
    limit: u32,
    used: u64,
    reset: Duration,
}

impl Count {
    fn remaining(&self) -> u64 {
        u64::from(self.limit).saturating_sub(self.used)
    }
}

const SCRIPT: &str = r"
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('PTTL', KEYS[1])
return {n, ttl}
";

impl Counter {
    async fn conn(&self, state: &AppState) -> Option<ConnectionManager> {
        self.conn
            .get_or_try_init(|| ConnectionManager::new(state.redis_client.clone()))
            .await
            .map_err(|e| tracing::warn!(error = %e, "rate limits not counted: Redis unreachable"))
            .ok()
            .cloned()
    }

    async fn count(
        &self,
        state: &AppState,
        name: &'static str,
        id: &str,
        limit: u32,
    ) -> Option<Count> {
        let mut conn = self.conn(state).await?;
        let window = WINDOW.as_millis() as u64;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or_default();
        let key = format!(
            "{}:{}:ratelimit:{name}:{id}:{}",
            state.config.queue.prefix,
            state.config.queue.name,
            now / window
        );
        let counted: Result<(u64, i64), _> = redis::Script::new(SCRIPT)
            .key(&key)
            .arg(window)
            .invoke_async(&mut conn)
            .await;
        match counted {
            Ok((used, ttl)) => Some(Count {
                name,
                limit,
                used,
                reset: Duration::from_millis(ttl.max(0) as u64),
            }),
            Err(e) => {
                tracing::warn!(error = %e, "rate limit not counted");
                None
            }
        }
    }
}

fn exempt(path: &str) -> bool {
    matches!(path, "/healthz" | "/readyz" | "/metrics")
}

fn client_address(request: &Request, trust_forwarded_for: bool) -> Option<IpAddr> {
    if trust_forwarded_for
        && let Some(ip) = request
            .headers()
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.rsplit(',').next())
            .and_then(|v| v.trim().parse().ok())
    {
        return Some(ip);
    }
    request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
}

pub async fn layer(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let limits = state.config.rate_limits;
    if exempt(request.uri().path()) {
        return next.run(request).await;
    }
    let user = (limits.per_user > 0)
        .then(|| crate::auth::bearer_viewer(&state, request.headers()))
        .flatten();
    let client = (limits.per_client > 0)
        .then(|| client_address(&request, limits.trust_forwarded_for))
        .flatten();
    let mut counts = Vec::new();
    if let Some(viewer) = &user
        && let Some(c) = state
            .limiter
            .count(&state, "user", &viewer.user_id, limits.per_user)
            .await
    {
        counts.push(c);
    }
    if let Some(ip) = client
        && let Some(c) = state
            .limiter
            .count(&state, "client", &ip.to_string(), limits.per_client)
            .await
    {
        counts.push(c);
    }
    let Some(tightest) = counts.iter().min_by_key(|c| c.remaining()) else {
        return next.run(request).await;
    };
    let policy = counts
        .iter()
        .map(|c| format!("\"{}\";q={};w={}", c.name, c.limit, WINDOW.as_secs()))
        .collect::<Vec<_>>()
        .join(", ");
    let reset = tightest.reset.as_secs().max(1);
    let current = format!("\"{}\";r={};t={reset}", tightest.name, tightest.remaining());
    let over = counts.iter().find(|c| c.used > u64::from(c.limit));
    let mut response = match over {
        Some(c) => {
            let mut refused = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                ErrorCode::Throttled,
                format!(
                    "Request was throttled: more than {} requests a minute ({} limit). Expected available in {} seconds.",
                    c.limit,
                    c.name,
                    c.reset.as_secs().max(1)
                ),
            )
            .into_response();
            if let Ok(v) = HeaderValue::from_str(&c.reset.as_secs().max(1).to_string()) {
                refused.headers_mut().insert(header::RETRY_AFTER, v);
            }
            refused
        }
        None => next.run(request).await,
    };
    let headers = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&policy) {
        headers.insert(RATELIMIT_POLICY, v);
    }
    if let Ok(v) = HeaderValue::from_str(&current) {
        headers.insert(RATELIMIT, v);
    }
    response
}
