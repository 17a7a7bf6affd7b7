//! Admin sessions: an admin JWT is exchanged once for a random session id in an
//! HttpOnly, SameSite=Strict cookie. The session lives in Redis (shared by every API
//! replica) under the hash of its id, with its CSRF token and the user, and expires
//! with the token it came from (at most [`MAX_SESSION`]). Signing out deletes it.
//!
//! Every POST carries a CSRF token in its form: the session's, or before signing in
//! the one of the sign-in page, which is also in a cookie (double submit).

use std::time::Duration;

use axum::extract::{FromRequestParts, Request};
use axum::http::header::{COOKIE, HOST, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine;
use redis::AsyncCommands;
use redis::aio::ConnectionManager;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::sync::OnceCell;

use super::{AdminError, BASE};
use crate::AppState;

/// The session cookie.
pub const SESSION_COOKIE: &str = "ai_video_admin_session";
/// The sign-in page's CSRF cookie.
pub const CSRF_COOKIE: &str = "ai_video_admin_csrf";
/// The form field every POST carries (Django's name for it).
pub const CSRF_FIELD: &str = "csrfmiddlewaretoken";
/// The longest a session lives, whatever its token says.
pub const MAX_SESSION: Duration = Duration::from_secs(12 * 3600);

/// Where sessions are kept.
#[derive(Default)]
pub struct Sessions {
    conn: OnceCell<ConnectionManager>,
}

/// A signed-in admin.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Session {
    pub user: String,
    pub csrf: String,
    /// Unix seconds.
    pub expires: i64,
}

impl Session {
    pub fn viewer(&self) -> ai_video_shared::store::Viewer {
        ai_video_shared::store::Viewer {
            user_id: self.user.clone(),
            is_admin: true,
        }
    }
}

/// 32 random bytes, URL-safe.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the operating system's random source works");
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

impl Sessions {
    pub async fn conn(&self, state: &AppState) -> Result<ConnectionManager, AdminError> {
        self.conn
            .get_or_try_init(|| ConnectionManager::new(state.redis_client.clone()))
            .await
            .cloned()
            .map_err(|e| AdminError::unavailable(format!("sessions are kept in Redis: {e}")))
    }

    fn key(state: &AppState, id: &str) -> String {
        let digest = Sha256::digest(id.as_bytes());
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        let q = &state.config.queue;
        format!("{}:{}:admin-session:{hex}", q.prefix, q.name)
    }

    /// Opens a session; its id (the cookie's value) and what it holds.
    pub async fn open(
        &self,
        state: &AppState,
        user: &str,
        token_expires: i64,
    ) -> Result<(String, Session), AdminError> {
        let now = chrono::Utc::now().timestamp();
        let expires = token_expires.min(now + MAX_SESSION.as_secs() as i64);
        let session = Session {
            user: user.to_owned(),
            csrf: random_token(),
            expires,
        };
        let id = random_token();
        let ttl = (expires - now).max(1) as u64;
        let body = serde_json::to_string(&session).unwrap_or_default();
        let mut conn = self.conn(state).await?;
        conn.set_ex::<_, _, ()>(Self::key(state, &id), body, ttl)
            .await
            .map_err(|e| AdminError::unavailable(format!("cannot keep the session: {e}")))?;
        Ok((id, session))
    }

    pub async fn find(&self, state: &AppState, id: &str) -> Result<Option<Session>, AdminError> {
        let mut conn = self.conn(state).await?;
        let body: Option<String> = conn
            .get(Self::key(state, id))
            .await
            .map_err(|e| AdminError::unavailable(format!("cannot read the session: {e}")))?;
        let now = chrono::Utc::now().timestamp();
        Ok(body
            .and_then(|b| serde_json::from_str::<Session>(&b).ok())
            .filter(|s| s.expires > now))
    }

    pub async fn close(&self, state: &AppState, id: &str) -> Result<(), AdminError> {
        let mut conn = self.conn(state).await?;
        conn.del::<_, ()>(Self::key(state, id))
            .await
            .map_err(|e| AdminError::unavailable(format!("cannot end the session: {e}")))
    }
}

/// A cookie of the request.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// Whether the request came to a loopback host, where cookies may go without TLS.
fn loopback(headers: &HeaderMap) -> bool {
    let host = headers
        .get(HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let name = match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    };
    matches!(name, "localhost" | "127.0.0.1" | "[::1]")
}

/// A `Set-Cookie` for the admin pages: HttpOnly, SameSite=Strict, Secure outside
/// loopback; `max_age` 0 removes it.
pub fn set_cookie(headers: &HeaderMap, name: &str, value: &str, max_age: i64) -> HeaderValue {
    let secure = if loopback(headers) { "" } else { "; Secure" };
    let text = format!(
        "{name}={value}; Path={BASE}/; Max-Age={}; HttpOnly; SameSite=Strict{secure}",
        max_age.max(0)
    );
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// Adds a `Set-Cookie` to a response.
pub fn with_cookie(mut response: Response, cookie: HeaderValue) -> Response {
    response.headers_mut().append(SET_COOKIE, cookie);
    response
}

/// The signed-in admin of a page; without a session, a redirect to sign-in.
impl FromRequestParts<AppState> for Session {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        if let Some(session) = parts.extensions.get::<Session>() {
            return Ok(session.clone());
        }
        let found = match cookie(&parts.headers, SESSION_COOKIE) {
            Some(id) => state
                .admin
                .find(state, id)
                .await
                .map_err(IntoResponse::into_response)?,
            None => None,
        };
        match found {
            Some(session) => {
                tracing::Span::current().record("user.id", session.user.as_str());
                Ok(session)
            }
            None => {
                let next = parts
                    .uri
                    .path_and_query()
                    .map_or(BASE, |p| p.as_str())
                    .to_owned();
                let to = if parts.method == Method::GET {
                    format!(
                        "{BASE}/login/?next={}",
                        form_urlencoded::byte_serialize(next.as_bytes()).collect::<String>()
                    )
                } else {
                    format!("{BASE}/login/")
                };
                Err(Redirect::to(&to).into_response())
            }
        }
    }
}

/// Refuses a POST to the admin pages whose form lacks the right CSRF token, with
/// 403; on success the session found is handed to the page.
pub async fn csrf(
    axum::extract::State(state): axum::extract::State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    if request.method() != Method::POST {
        return next.run(request).await;
    }
    let (mut parts, body) = request.into_parts();
    let bytes = match axum::body::to_bytes(body, state.config.body_limit).await {
        Ok(b) => b,
        Err(_) => return AdminError::forbidden("The form is too large.").into_response(),
    };
    let sent = form_urlencoded::parse(&bytes)
        .find(|(k, _)| k == CSRF_FIELD)
        .map(|(_, v)| v.into_owned());
    let signing_in = parts.uri.path() == format!("{BASE}/login/");
    let expected = if signing_in {
        cookie(&parts.headers, CSRF_COOKIE).map(str::to_owned)
    } else {
        match Session::from_request_parts(&mut parts, &state).await {
            Ok(session) => {
                let csrf = session.csrf.clone();
                parts.extensions.insert(session);
                Some(csrf)
            }
            Err(redirect) => return redirect,
        }
    };
    let matches =
        matches!((&sent, &expected), (Some(a), Some(b)) if !b.is_empty() && constant_eq(a, b));
    if !matches {
        let reason = if sent.is_none() {
            "CSRF token missing."
        } else {
            "CSRF token incorrect."
        };
        return AdminError::forbidden(format!(
            "CSRF verification failed. Request aborted. {reason}"
        ))
        .into_response();
    }
    next.run(Request::from_parts(parts, axum::body::Body::from(bytes)))
        .await
}

fn constant_eq(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

impl AdminError {
    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "Forbidden", detail)
    }

    pub fn unavailable(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "Unavailable", detail)
    }
}
