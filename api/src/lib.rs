//! The ai-video REST API: a thin axum service over the shared domain.
//!
//! Handlers parse and validate input into domain types, check who is asking, call
//! `ai_video_shared::store`, and map the outcome to JSON or problem+json. Work that
//! a request asks for is written to the outbox in the request's transaction; the
//! relay started here pushes it to Redis.

pub mod admin;
pub mod auth;
pub mod config;
pub mod error;
pub mod events;
pub mod extract;
mod idempotency;
pub mod media_links;
pub mod metrics;
pub mod pagination;
pub mod ratelimit;
pub mod routes;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use ai_video_shared::announce::Announcer;
use ai_video_shared::db;
use ai_video_shared::domain::ErrorCode;
use ai_video_shared::outbox::{Relay, RelayHandle};
use ai_video_shared::storage::{self, Storage};
use anyhow::Context;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, Request};
use sea_orm::DatabaseConnection;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower::{Layer, ServiceBuilder};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use crate::auth::Authenticator;
use crate::config::ApiConfig;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub db: DatabaseConnection,
    pub storage: Storage,
    pub auth: Arc<Authenticator>,
    pub relay: RelayHandle,
    pub redis_client: redis::Client,
    pub config: Arc<ApiConfig>,
    /// Where request rate limits are counted.
    pub limiter: Arc<ratelimit::Counter>,
    /// The SSE streams' fan-out of event notices.
    pub hub: events::Hub,
    /// Signs and checks SSE tickets.
    pub tickets: Arc<events::Tickets>,
    /// The webhook endpoints' outbound guard.
    pub outbound: Arc<ai_video_shared::outbound::Outbound>,
    /// The admin panel's sessions.
    pub admin: Arc<admin::Sessions>,
}

impl AppState {
    /// The URL of a stored media object: `STORAGE_BASE_URL/<key>` when set (a CDN
    /// that guards its own links); otherwise a signed, expiring `/media/<key>` link
    /// on this API, which serves the local file or redirects to a freshly
    /// presigned S3 URL (see [`media_links`]).
    pub fn media_url(&self, key: &str) -> String {
        match &self.config.storage.base_url {
            Some(base) => format!("{base}/{key}"),
            None => self
                .config
                .media_links
                .link(key, chrono::Utc::now().timestamp()),
        }
    }

    /// How work asked for through the API is queued: at `priority` (default 5), with
    /// the configured retries, within the owner's budget and quotas.
    pub fn work_options(
        &self,
        priority: Option<ai_video_shared::domain::Priority>,
    ) -> ai_video_shared::store::WorkOptions {
        ai_video_shared::store::WorkOptions {
            priority,
            retry: self.config.job_retry,
            quotas: Some(self.config.quotas),
        }
    }

    /// The providers of a story that names none.
    pub fn default_providers(&self) -> ai_video_shared::store::stories::DefaultProviders {
        ai_video_shared::store::stories::DefaultProviders {
            image: self.config.default_image_provider,
            video: self.config.default_video_provider,
        }
    }

    /// Tells the workers that these jobs were cancelled, so one running them stops
    /// at once. Best effort, off the request path: a worker also finds the
    /// cancellation in the database at its next step.
    pub fn announce_cancelled(&self, queue_ids: Vec<String>) {
        if queue_ids.is_empty() {
            return;
        }
        let client = self.redis_client.clone();
        let channel = ai_video_shared::queue::cancel_channel(&self.config.queue);
        tokio::spawn(async move {
            let publish = async {
                let mut conn = client.get_multiplexed_async_connection().await?;
                for id in &queue_ids {
                    redis::cmd("PUBLISH")
                        .arg(&channel)
                        .arg(id)
                        .query_async::<i64>(&mut conn)
                        .await?;
                }
                Ok::<(), redis::RedisError>(())
            };
            match tokio::time::timeout(Duration::from_secs(2), publish).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::debug!(error = %e, "could not announce cancelled jobs"),
                Err(_) => tracing::debug!("announcing cancelled jobs timed out"),
            }
        });
    }
}

/// Answers 413 from the announced `Content-Length` alone, before reading a byte of
/// the body; bodies without one are cut off at the same limit as they are read.
async fn refuse_oversized(
    config: Arc<ApiConfig>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let limit = config.body_limit_for(req.uri().path());
    let announced = req
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if announced.is_some_and(|n| n > limit as u64) {
        return axum::response::IntoResponse::into_response(error::ApiError::new(
            axum::http::StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::PayloadTooLarge,
            "The request body is larger than this API accepts.",
        ));
    }
    next.run(req).await
}

/// A ready-to-serve API: connected to its database, migrated if configured, with
/// its outbox relay built but not yet running.
pub struct Api {
    state: AppState,
    relay: Relay,
}

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

impl Api {
    pub async fn new(config: ApiConfig) -> anyhow::Result<Self> {
        let db = db::connect(&config.database)
            .await
            .context("cannot connect to the database (DATABASE_URL)")?;
        if config.auto_migrate {
            db::migrate(&db).await.context("cannot apply migrations")?;
        }
        let storage = storage::open(&config.storage)
            .await
            .context("cannot open the media storage")?;
        Self::with_parts(config, db, storage)
    }

    /// Builds the API over an open database connection and media store.
    pub fn with_parts(
        config: ApiConfig,
        db: DatabaseConnection,
        storage: Storage,
    ) -> anyhow::Result<Self> {
        metrics::init();
        let auth = Authenticator::new(&config.jwt, &config.jwt_claims)
            .context("JWT_PUBLIC_KEY is not a valid RSA public key")?;
        let redis_client = redis::Client::open(config.redis.url.expose())
            .context("REDIS_URL is not a valid Redis URL")?;
        let relay = Relay::new(db.clone(), config.redis.clone(), config.queue.clone());
        let state = AppState {
            db,
            storage,
            auth: Arc::new(auth),
            relay: relay.handle(),
            redis_client,
            limiter: Default::default(),
            hub: events::Hub::default(),
            tickets: Arc::new(events::Tickets::derived(
                config.media_links.key(),
                config.ticket_ttl,
            )),
            outbound: Arc::new(config.outbound.clone()),
            admin: Arc::default(),
            config: Arc::new(config),
        };
        Ok(Self { state, relay })
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// The router with its middleware: request ids, tracing, the body limit and the
    /// trailing-slash rule.
    pub fn router(&self) -> axum::Router {
        let state = self.state.clone();
        let config = state.config.clone();
        let limit = config.body_limit;
        routes::router(state).layer(
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
                .layer(
                    TraceLayer::new_for_http().make_span_with(|req: &Request<_>| {
                        let id = req
                            .headers()
                            .get(REQUEST_ID)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("");
                        tracing::info_span!("request", request.id = %id, method = %req.method(),
                            path = %req.uri().path(), user.id = tracing::field::Empty,
                            story.id = tracing::field::Empty, scene.id = tracing::field::Empty,
                            job.id = tracing::field::Empty)
                    }),
                )
                .layer(PropagateRequestIdLayer::new(REQUEST_ID))
                .layer(axum::middleware::from_fn(move |req, next| {
                    refuse_oversized(config.clone(), req, next)
                }))
                .layer(DefaultBodyLimit::max(limit)),
        )
    }

    /// Serves until `shutdown` resolves, then drains in-flight requests and stops
    /// the relay.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let app =
            tower::util::MapRequestLayer::new(routes::add_trailing_slash).layer(self.router());
        let (stop_tx, stop_rx) = watch::channel(false);
        let relay = tokio::spawn(self.relay.run(stop_rx.clone()));
        let config = &self.state.config;
        let announcer = tokio::spawn(
            Announcer::new(self.state.db.clone(), config.redis.clone(), &config.queue).run(stop_rx),
        );
        let listener_task = tokio::spawn(
            self.state
                .hub
                .clone()
                .listen(config.redis.clone(), config.queue.clone()),
        );
        let result = axum::serve(
            listener,
            <_ as axum::ServiceExt<axum::extract::Request>>::into_make_service_with_connect_info::<
                std::net::SocketAddr,
            >(app),
        )
        .with_graceful_shutdown(shutdown)
        .await;
        let _ = stop_tx.send(true);
        listener_task.abort();
        let _ = tokio::time::timeout(Duration::from_secs(5), relay).await;
        let _ = tokio::time::timeout(Duration::from_secs(5), announcer).await;
        result
    }
}
