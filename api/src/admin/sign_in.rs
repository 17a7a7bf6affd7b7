//! Signing in with an admin token, and signing out.

use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::session::{
    CSRF_COOKIE, SESSION_COOKIE, Session, cookie, random_token, set_cookie, with_cookie,
};
use super::{AdminResult, BASE, pages, render};
use crate::AppState;

#[derive(Deserialize)]
pub struct Next {
    next: Option<String>,
}

/// Where to go after signing in: a page of the panel, never another site.
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with(&format!("{BASE}/")) && !n.contains("//") && !n.contains('\\') => {
            n.to_owned()
        }
        _ => format!("{BASE}/"),
    }
}

/// The sign-in page, with a fresh CSRF token in its form and cookie.
pub async fn form(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<Next>,
) -> AdminResult {
    let next = safe_next(q.next.as_deref());
    if let Some(id) = cookie(&headers, SESSION_COOKIE)
        && state.admin.find(&state, id).await?.is_some()
    {
        return Ok(Redirect::to(&next).into_response());
    }
    Ok(sign_in_page(&headers, StatusCode::OK, &next, None))
}

fn sign_in_page(
    headers: &HeaderMap,
    status: StatusCode,
    next: &str,
    error: Option<&str>,
) -> Response {
    let csrf = random_token();
    let page = pages::SignIn {
        csrf: &csrf,
        next,
        error,
    };
    with_cookie(
        render(status, &page),
        set_cookie(headers, CSRF_COOKIE, &csrf, 3600),
    )
}

#[derive(Deserialize)]
pub struct SignInForm {
    #[serde(default)]
    token: String,
    next: Option<String>,
}

/// Exchanges an admin token for a session.
pub async fn submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<SignInForm>,
) -> AdminResult {
    let next = safe_next(form.next.as_deref());
    let token = form.token.trim();
    let token = token.strip_prefix("Bearer ").unwrap_or(token).trim();
    let (viewer, expires) = match state.auth.verify_until(token) {
        Ok(v) => v,
        Err(e) => {
            return Ok(sign_in_page(
                &headers,
                StatusCode::UNAUTHORIZED,
                &next,
                Some(&e.detail),
            ));
        }
    };
    if !viewer.is_admin {
        tracing::info!(user = %viewer.user_id, "admin sign-in refused: not an admin");
        let message = format!(
            "This token is {}'s, who is not an admin: the panel is for staff only \
             (is_staff or role \"admin\" in the token).",
            viewer.user_id
        );
        return Ok(sign_in_page(
            &headers,
            StatusCode::FORBIDDEN,
            &next,
            Some(&message),
        ));
    }
    let (id, session) = state.admin.open(&state, &viewer.user_id, expires).await?;
    tracing::info!(admin = %viewer.user_id, "admin signed in");
    let max_age = session.expires - chrono::Utc::now().timestamp();
    let response = with_cookie(
        Redirect::to(&next).into_response(),
        set_cookie(&headers, SESSION_COOKIE, &id, max_age),
    );
    Ok(with_cookie(
        response,
        set_cookie(&headers, CSRF_COOKIE, "", 0),
    ))
}

/// Ends the session.
pub async fn sign_out(
    State(state): State<AppState>,
    headers: HeaderMap,
    session: Session,
) -> AdminResult {
    if let Some(id) = cookie(&headers, SESSION_COOKIE) {
        state.admin.close(&state, id).await?;
    }
    tracing::info!(admin = %session.user, "admin signed out");
    Ok(with_cookie(
        Redirect::to(&format!("{BASE}/login/")).into_response(),
        set_cookie(&headers, SESSION_COOKIE, "", 0),
    ))
}
