//! Jobs: filtered list with the error text, retry and cancel.

use ai_video_shared::domain::{JobKind, JobStatus, Provider};
use ai_video_shared::store::PageRequest;
use ai_video_shared::store::jobs::{self, JobFilter};
use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use serde::Deserialize;
use uuid::Uuid;

use super::session::Session;
use super::{
    AdminError, AdminResult, BASE, Chrome, FilterErrors, Pager, given, page_number, render,
};
use crate::AppState;
use crate::routes::jobs::JobOut;

const PAGE_SIZE: u64 = 25;

#[derive(Deserialize, Default)]
pub struct ListQuery {
    kind: Option<String>,
    status: Option<String>,
    provider: Option<String>,
    story: Option<String>,
    page: Option<String>,
    done: Option<String>,
}

#[derive(Template)]
#[template(path = "admin/jobs.html")]
struct JobList {
    chrome: Chrome,
    query: ListQuery,
    kinds: &'static [JobKind],
    statuses: &'static [JobStatus],
    providers: &'static [Provider],
    errors: FilterErrors,
    notice: Option<&'static str>,
    jobs: Vec<JobOut>,
    pager: Pager,
    back: String,
}

/// A filter value that must parse as `T`.
fn parsed<T: std::str::FromStr>(
    field: &'static str,
    raw: &Option<String>,
    what: &str,
    errors: &mut FilterErrors,
) -> Option<T> {
    let raw = given(raw)?;
    match raw.parse() {
        Ok(v) => Some(v),
        Err(_) => {
            errors.add(field, format!("\"{raw}\" is not {what}."));
            None
        }
    }
}

pub async fn list(
    State(state): State<AppState>,
    session: Session,
    uri: axum::http::Uri,
    Query(q): Query<ListQuery>,
) -> AdminResult {
    let mut errors = FilterErrors::default();
    let filter = JobFilter {
        kind: parsed("kind", &q.kind, "a job kind", &mut errors),
        status: parsed("status", &q.status, "a job status", &mut errors),
        provider: parsed("provider", &q.provider, "a provider", &mut errors),
        story: parsed("story", &q.story, "a story id", &mut errors),
    };
    let page = PageRequest {
        page: page_number(q.page.as_deref()),
        page_size: PAGE_SIZE,
    };
    let viewer = session.viewer();
    let found = errors
        .page(jobs::list(&state.db, &viewer, filter, page))
        .await?;
    let kept = [
        ("kind", q.kind.clone().unwrap_or_default()),
        ("status", q.status.clone().unwrap_or_default()),
        ("provider", q.provider.clone().unwrap_or_default()),
        ("story", q.story.clone().unwrap_or_default()),
    ];
    let status = errors.status();
    let notice = match q.done.as_deref() {
        Some("retried") => Some("The job was queued again as a new job."),
        Some("cancelled") => Some("The job was cancelled."),
        _ => None,
    };
    let back = uri
        .path_and_query()
        .map_or_else(|| format!("{BASE}/jobs/"), |p| p.as_str().to_owned());
    let list = JobList {
        chrome: Chrome::new(&session, "jobs", "Jobs"),
        pager: Pager::new(
            &format!("{BASE}/jobs/"),
            &kept,
            page.page,
            PAGE_SIZE,
            found.count,
        ),
        jobs: found
            .items
            .into_iter()
            .map(|j| JobOut::new(j, &state))
            .collect(),
        query: q,
        kinds: JobKind::ALL,
        statuses: JobStatus::ALL,
        providers: Provider::ALL,
        errors,
        notice,
        back,
    };
    Ok(render(status, &list))
}

#[derive(Deserialize)]
pub struct Action {
    next: Option<String>,
}

fn job_id(raw: &str) -> Result<Uuid, AdminError> {
    raw.parse()
        .map_err(|_| AdminError::new(StatusCode::NOT_FOUND, "Not found", "No such job."))
}

/// Back to the page the action came from, with what was done.
fn back_to(next: Option<&str>, done: &str) -> axum::response::Response {
    let base = match next {
        Some(n) if n.starts_with(&format!("{BASE}/")) && !n.contains("//") => n,
        _ => "/admin/ai_video/jobs/",
    };
    let kept: Vec<(String, String)> = base
        .split_once('?')
        .map(|(_, q)| {
            form_urlencoded::parse(q.as_bytes())
                .filter(|(k, _)| k != "done")
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect()
        })
        .unwrap_or_default();
    let path = base.split('?').next().unwrap_or(base);
    let mut q = form_urlencoded::Serializer::new(String::new());
    q.extend_pairs(kept);
    q.append_pair("done", done);
    Redirect::to(&format!("{path}?{}", q.finish())).into_response()
}

/// Runs a failed or cancelled job again, as `POST jobs/{id}/retry/` does.
pub async fn retry(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
) -> AdminResult {
    let id = job_id(&id)?;
    let job = jobs::retry(
        &state.db,
        &session.viewer(),
        id,
        state.config.job_retry,
        Some(state.config.quotas),
    )
    .await?;
    state.relay.wake();
    tracing::info!(job.id = %job.id, retry_of = %id, admin = %session.user, "job retried");
    // The story's jobs, where the new one shows beside the one it retries.
    let story = format!("{BASE}/jobs/?story={}", job.story_id);
    Ok(back_to(Some(&story), "retried"))
}

/// Cancels a job, as `POST jobs/{id}/cancel/` does.
pub async fn cancel(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
    Form(form): Form<Action>,
) -> AdminResult {
    let id = job_id(&id)?;
    let cancelled = jobs::cancel(&state.db, &session.viewer(), id).await?;
    tracing::info!(job.id = %cancelled.job.id, admin = %session.user, "job cancelled");
    state.announce_cancelled(cancelled.queue_ids);
    Ok(back_to(form.next.as_deref(), "cancelled"))
}
