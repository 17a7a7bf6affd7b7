//! `stories/{id}/events/` and `events/`: Server-Sent Events from the event log, and
//! `events/ticket/` for browsers, whose `EventSource` cannot send a header.
//!
//! A stream starts after `Last-Event-ID` (the header, or `?last_event_id=`), else
//! at the newest event: it sends what the log holds after that id in id order, then
//! waits for notices from the hub and reads again. A comment line every
//! `SSE_HEARTBEAT_SECS` keeps proxies from closing an idle stream.

use std::collections::VecDeque;
use std::convert::Infallible;

use ai_video_shared::db::entities::event;
use ai_video_shared::domain::{ErrorCode, envelope};
use ai_video_shared::store::events::{self, Scope};
use ai_video_shared::store::{Viewer, stories};
use axum::Json;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use chrono::{DateTime, Utc};
use futures::Stream;
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast::error::RecvError;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::problems;
use crate::AppState;
use crate::auth::Auth;
use crate::error::{ApiError, ApiResult};
use crate::events::{Subscription, TicketError};
use crate::extract::{ApiPath, ApiQuery};

/// Events read from the log per query.
const PAGE: u64 = 100;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(story_events))
        .routes(routes!(user_events))
        .routes(routes!(issue_ticket))
}

/// `?ticket=` and `?last_event_id=`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StreamQuery {
    /// A ticket from `POST events/ticket/`, instead of the `Authorization` header.
    #[expect(
        dead_code,
        reason = "read by the StreamViewer extractor, documented here"
    )]
    pub ticket: Option<String>,
    /// Resume after this event id (the `Last-Event-ID` header wins).
    #[param(minimum = 0)]
    pub last_event_id: Option<i64>,
}

/// Who a stream is for: the bearer token, or a single-use ticket.
pub struct StreamViewer(pub Viewer);

impl FromRequestParts<AppState> for StreamViewer {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let ticket = parts.uri.query().and_then(|q| {
            form_urlencoded::parse(q.as_bytes())
                .find(|(k, _)| k == "ticket")
                .map(|(_, v)| v.into_owned())
        });
        match ticket {
            Some(ticket)
                if !parts
                    .headers
                    .contains_key(axum::http::header::AUTHORIZATION) =>
            {
                redeem(state, &ticket).await.map(StreamViewer)
            }
            _ => Auth::from_request_parts(parts, state)
                .await
                .map(|Auth(v)| StreamViewer(v)),
        }
    }
}

async fn redeem(state: &AppState, ticket: &str) -> Result<Viewer, ApiError> {
    let refuse = |code, detail: &str| ApiError::new(StatusCode::UNAUTHORIZED, code, detail);
    let now = Utc::now().timestamp();
    let checked = state.tickets.check(ticket, now).map_err(|e| match e {
        TicketError::Expired => refuse(
            ErrorCode::TicketExpired,
            "The ticket has expired; ask for another.",
        ),
        TicketError::Invalid => refuse(ErrorCode::TicketInvalid, "The ticket is not valid."),
    })?;
    let key = format!(
        "{}:{}:ticket:{}",
        state.config.queue.prefix, state.config.queue.name, checked.nonce
    );
    let unavailable = || {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::Unavailable,
            "Tickets cannot be checked while Redis is unavailable; send the Authorization header instead.",
        )
    };
    let mut conn = state
        .redis_client
        .get_multiplexed_async_connection()
        .await
        .map_err(|_| unavailable())?;
    let first: Option<String> = redis::cmd("SET")
        .arg(&key)
        .arg(1)
        .arg("NX")
        .arg("EX")
        .arg((checked.expires - now).max(1) + 60)
        .query_async(&mut conn)
        .await
        .map_err(|_| unavailable())?;
    if first.is_none() {
        return Err(refuse(
            ErrorCode::TicketInvalid,
            "The ticket was already used.",
        ));
    }
    Ok(checked.viewer)
}

/// A ticket for one stream.
#[derive(Debug, Serialize, ToSchema)]
pub struct TicketOut {
    /// Pass as `?ticket=` to `events/` or `stories/{id}/events/`, once.
    pub ticket: String,
    pub expires_at: DateTime<Utc>,
}

/// Issue a short-lived, single-use ticket for an `EventSource`.
#[utoipa::path(post, path = "/events/ticket/", tag = "events",
    responses((status = 201, body = TicketOut), problems::Auth))]
pub async fn issue_ticket(
    State(state): State<AppState>,
    Auth(viewer): Auth,
) -> ApiResult<(StatusCode, Json<TicketOut>)> {
    let (ticket, expires) = state.tickets.issue(&viewer, Utc::now().timestamp());
    Ok((
        StatusCode::CREATED,
        Json(TicketOut {
            ticket,
            expires_at: DateTime::from_timestamp(expires, 0).unwrap_or_default(),
        }),
    ))
}

/// Follow one story: `text/event-stream`, each event with an `id:`, an `event:`
/// (its type) and the `{type, timestamp, data}` envelope as data.
#[utoipa::path(get, path = "/stories/{id}/events/", tag = "events",
    params(("id" = Uuid, Path), StreamQuery,
        ("Last-Event-ID" = Option<i64>, Header, description = "Resume after this event id")),
    responses((status = 200, content_type = "text/event-stream", body = String,
        description = "The story's events, as they happen"),
        problems::Auth, problems::Lookup, problems::Query))]
pub async fn story_events(
    State(state): State<AppState>,
    StreamViewer(viewer): StreamViewer,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(q): ApiQuery<StreamQuery>,
    headers: HeaderMap,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    let story = stories::get(&state.db, &viewer, id).await?;
    let last = last_event_id(&headers).or(q.last_event_id);
    open(state, story.owner_id, Scope::Story(id), last).await
}

/// Follow every story of the viewer.
#[utoipa::path(get, path = "/events/", tag = "events",
    params(StreamQuery,
        ("Last-Event-ID" = Option<i64>, Header, description = "Resume after this event id")),
    responses((status = 200, content_type = "text/event-stream", body = String,
        description = "The viewer's events, as they happen"),
        problems::Auth, problems::Query))]
pub async fn user_events(
    State(state): State<AppState>,
    StreamViewer(viewer): StreamViewer,
    ApiQuery(q): ApiQuery<StreamQuery>,
    headers: HeaderMap,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    let last = last_event_id(&headers).or(q.last_event_id);
    let owner = viewer.user_id.clone();
    open(state, owner, Scope::Owner(viewer.user_id), last).await
}

/// The `Last-Event-ID` header, when it is an id.
fn last_event_id(headers: &HeaderMap) -> Option<i64> {
    headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<i64>().ok())
}

async fn open(
    state: AppState,
    owner: String,
    scope: Scope,
    last: Option<i64>,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    // Subscribed before the starting point is read, so nothing falls in between.
    let heard = state.hub.subscribe(&owner);
    let last = match last {
        Some(id) => id.max(0),
        None => events::newest(&state.db, &scope).await?,
    };
    let follow = Follow {
        db: state.db.clone(),
        config: state.config.clone(),
        scope,
        last,
        heard,
        queue: VecDeque::new(),
    };
    let stream = futures::stream::unfold(follow, |mut f| async move {
        let event = f.next().await?;
        Some((Ok(event), f))
    });
    Ok(Sse::new(stream).keep_alive(
        KeepAlive::new()
            .interval(state.config.sse_heartbeat)
            .text("heartbeat"),
    ))
}

/// One open stream.
struct Follow {
    db: sea_orm::DatabaseConnection,
    config: std::sync::Arc<crate::config::ApiConfig>,
    scope: Scope,
    last: i64,
    heard: Subscription,
    queue: VecDeque<event::Model>,
}

impl Follow {
    /// The next event; `None` ends the stream (the database is gone for good).
    async fn next(&mut self) -> Option<Event> {
        loop {
            if let Some(e) = self.queue.pop_front() {
                self.last = e.id;
                return Some(self.render(&e));
            }
            // Boxed: an idle stream then keeps only the small state of its wait, not
            // room for a query it is not running.
            match Box::pin(events::after(&self.db, &self.scope, self.last, PAGE)).await {
                Ok(found) if !found.is_empty() => {
                    self.queue.extend(found);
                    continue;
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::debug!(error = %e, "cannot read events; retrying");
                    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                    continue;
                }
            }
            self.wait().await?;
        }
    }

    /// Waits for a notice about this scope (or a hint that one may have been missed).
    async fn wait(&mut self) -> Option<()> {
        loop {
            match self.heard.heard.recv().await {
                Ok(Some(n)) if n.id > self.last && self.scope.covers(&n.owner, n.story) => {
                    return Some(());
                }
                Ok(Some(_)) => {}
                Ok(None) | Err(RecvError::Lagged(_)) => return Some(()),
                Err(RecvError::Closed) => return None,
            }
        }
    }

    fn render(&self, e: &event::Model) -> Event {
        let body = envelope(
            &e.event_type,
            e.created_at,
            &e.data,
            self.config.public_url.as_deref(),
        );
        Event::default()
            .id(e.id.to_string())
            .event(e.event_type.clone())
            .data(body.to_string())
    }
}
