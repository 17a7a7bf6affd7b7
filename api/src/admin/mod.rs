//! The admin panel at `/admin/ai_video/`: server-rendered pages (askama templates,
//! one hand-written stylesheet, no JavaScript) for admins signed in with a JWT.
//!
//! Pages read through the same store functions as the REST API, as an admin
//! viewer, and every change goes through the same domain functions and input
//! checks as its REST twin, logged the same way with the admin as actor.

mod charts;
mod dashboard;
mod jobs;
mod pages;
mod providers;
mod quotas;
pub mod session;
mod sign_in;
mod stories;

use askama::Template;
use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};

use crate::AppState;
use crate::error::ApiError;
use ai_video_shared::store::StoreError;

pub use session::Sessions;

/// Where the panel lives (the seed's Django admin path).
pub const BASE: &str = "/admin/ai_video";

const STYLESHEET: &str = include_str!("../../templates/admin/admin.css");

pub fn router(state: AppState) -> Router<AppState> {
    Router::new()
        .route(&format!("{BASE}/"), get(dashboard::page))
        .route(
            &format!("{BASE}/login/"),
            get(sign_in::form).post(sign_in::submit),
        )
        .route(&format!("{BASE}/logout/"), post(sign_in::sign_out))
        .route(&format!("{BASE}/stories/"), get(stories::list))
        .route(&format!("{BASE}/stories/{{id}}/"), get(stories::detail))
        .route(&format!("{BASE}/jobs/"), get(jobs::list))
        .route(&format!("{BASE}/jobs/{{id}}/retry/"), post(jobs::retry))
        .route(&format!("{BASE}/jobs/{{id}}/cancel/"), post(jobs::cancel))
        .route(&format!("{BASE}/providers/"), get(providers::list))
        .route(
            &format!("{BASE}/providers/{{name}}/"),
            get(providers::form).post(providers::save),
        )
        .route(&format!("{BASE}/quotas/"), get(quotas::list))
        .route(
            &format!("{BASE}/quotas/{{user}}/"),
            get(quotas::form).post(quotas::save),
        )
        .route(&format!("{BASE}/admin.css"), get(stylesheet))
        .layer(axum::middleware::from_fn_with_state(state, session::csrf))
}

/// Whether a path belongs to the panel (and so ends with a slash like the API's).
pub fn owns(path: &str) -> bool {
    path == BASE || path.starts_with(&format!("{BASE}/"))
}

async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        STYLESHEET,
    )
        .into_response()
}

/// What every page's frame shows: who is signed in, the section, the CSRF token
/// of its forms.
pub struct Chrome {
    pub user: String,
    pub csrf: String,
    pub section: &'static str,
    pub title: String,
}

impl Chrome {
    pub fn new(
        session: &session::Session,
        section: &'static str,
        title: impl Into<String>,
    ) -> Self {
        Self {
            user: session.user.clone(),
            csrf: session.csrf.clone(),
            section,
            title: title.into(),
        }
    }
}

/// A rendered page with its status; pages are never cached.
pub fn render(status: StatusCode, page: &impl Template) -> Response {
    match page.render() {
        Ok(html) => {
            let mut response = (status, Html(html)).into_response();
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        Err(e) => AdminError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Error",
            format!("The page could not be drawn: {e}"),
        )
        .into_response(),
    }
}

/// A refused or failed page, shown as a page.
#[derive(Debug)]
pub struct AdminError {
    pub status: StatusCode,
    pub title: &'static str,
    pub detail: String,
}

impl AdminError {
    pub fn new(status: StatusCode, title: &'static str, detail: impl Into<String>) -> Self {
        Self {
            status,
            title,
            detail: detail.into(),
        }
    }
}

impl From<ApiError> for AdminError {
    fn from(e: ApiError) -> Self {
        let title = match e.status {
            StatusCode::NOT_FOUND => "Not found",
            StatusCode::FORBIDDEN => "Forbidden",
            StatusCode::UNAUTHORIZED => "Not signed in",
            s if s.is_server_error() => "Error",
            _ => "Refused",
        };
        let mut detail = e.detail;
        for (field, messages) in &e.errors {
            detail.push_str(&format!(" {field}: {}", messages.join(" ")));
        }
        Self::new(e.status, title, detail)
    }
}

impl From<StoreError> for AdminError {
    fn from(e: StoreError) -> Self {
        ApiError::from(e).into()
    }
}

impl IntoResponse for AdminError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::error!(detail = %self.detail, "admin page failed");
        }
        render(
            self.status,
            &pages::Problem {
                title: self.title,
                status: self.status.as_u16(),
                detail: &self.detail,
            },
        )
    }
}

pub type AdminResult<T = Response> = Result<T, AdminError>;

/// Pages of a list: links keep the filters.
pub struct Pager {
    pub page: u64,
    pub pages: u64,
    pub count: u64,
    pub previous: Option<String>,
    pub next: Option<String>,
}

impl Pager {
    /// `query` is the list's filters as `key=value` pairs, without the page.
    pub fn new(path: &str, query: &[(&str, String)], page: u64, size: u64, count: u64) -> Self {
        let pages = count.div_ceil(size).max(1);
        let link = |p: u64| {
            let mut q = form_urlencoded::Serializer::new(String::new());
            for (k, v) in query.iter().filter(|(_, v)| !v.is_empty()) {
                q.append_pair(k, v);
            }
            q.append_pair("page", &p.to_string());
            format!("{path}?{}", q.finish())
        };
        Self {
            page,
            pages,
            count,
            previous: (page > 1).then(|| link(page - 1)),
            next: (page < pages).then(|| link(page + 1)),
        }
    }
}

/// A `?page=` value: a positive number, else the first page.
pub fn page_number(raw: Option<&str>) -> u64 {
    raw.and_then(|p| p.parse::<u64>().ok())
        .filter(|p| (1..=ai_video_shared::store::PageRequest::MAX_PAGE).contains(p))
        .unwrap_or(1)
}

/// An optional filter value: empty means none.
pub fn given(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

/// Refusals of a list's filters, each shown next to its field; a list with any is
/// answered 400 and empty.
#[derive(Default)]
pub struct FilterErrors(Vec<(&'static str, String)>);

impl FilterErrors {
    pub fn add(&mut self, field: &'static str, message: String) {
        self.0.push((field, message));
    }

    pub fn get(&self, field: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(f, _)| *f == field)
            .map(|(_, m)| m.as_str())
    }

    pub fn status(&self) -> StatusCode {
        if self.0.is_empty() {
            StatusCode::OK
        } else {
            StatusCode::BAD_REQUEST
        }
    }

    /// The page `fetch` reads, or none when a filter was refused.
    pub async fn page<T>(
        &self,
        fetch: impl std::future::Future<Output = Result<ai_video_shared::store::Page<T>, StoreError>>,
    ) -> AdminResult<ai_video_shared::store::Page<T>> {
        if self.0.is_empty() {
            Ok(fetch.await?)
        } else {
            Ok(ai_video_shared::store::Page {
                items: Vec::new(),
                count: 0,
            })
        }
    }
}

/// The value of an optional query field, as a form shows it.
pub fn shown(value: &Option<String>) -> &str {
    value.as_deref().unwrap_or("")
}
