//! The dashboard: stories by status, the last day's jobs by status, success rate,
//! generation time, queue wait, what was spent, and the queue's depth.

use ai_video_shared::domain::{JobStatus, StoryStatus};
use ai_video_shared::store::{dashboard, statistics};
use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use rust_decimal::Decimal;

use super::charts::{BarChart, Ring};
use super::session::Session;
use super::{AdminResult, Chrome, render};
use crate::AppState;

#[derive(Template)]
#[template(path = "admin/dashboard.html")]
struct Dashboard {
    chrome: Chrome,
    stories: BarChart,
    stories_total: u64,
    jobs: BarChart,
    jobs_total: u64,
    success: Ring,
    generation_seconds: Option<f64>,
    queue_wait_seconds: Option<f64>,
    cost_today: Decimal,
    cost_this_month: Decimal,
    /// `None` when Redis could not be read.
    queue: Option<Vec<(&'static str, u64)>>,
}

fn story_class(s: StoryStatus) -> &'static str {
    match s {
        StoryStatus::Completed => "ok",
        StoryStatus::Failed => "bad",
        StoryStatus::Draft | StoryStatus::Planned | StoryStatus::Archived => "idle",
        _ => "busy",
    }
}

fn job_class(s: JobStatus) -> &'static str {
    match s {
        JobStatus::Succeeded => "ok",
        JobStatus::Failed => "bad",
        JobStatus::Cancelled => "idle",
        _ => "busy",
    }
}

pub async fn page(State(state): State<AppState>, session: Session) -> AdminResult {
    // The figures are read at once, each on its own connection.
    let viewer = session.viewer();
    let depth = async {
        let mut conn = state.admin.conn(&state).await.ok()?;
        ai_video_shared::queue::depth(&mut conn, &state.config.queue)
            .await
            .map_err(|e| tracing::warn!(error = %e, "cannot read the queue's depth"))
            .ok()
    };
    let (overview, figures, queue) = tokio::join!(
        dashboard::overview(&state.db),
        statistics::statistics(&state.db, &viewer, None),
        depth
    );
    let (overview, figures) = (overview?, figures?.overall);
    let stories_total = overview.stories_by_status.iter().map(|s| s.1).sum();
    let jobs_total = overview.jobs_by_status.iter().map(|s| s.1).sum();
    let page = Dashboard {
        chrome: Chrome::new(&session, "dashboard", "Dashboard"),
        stories: BarChart::new(
            "Stories by status",
            overview
                .stories_by_status
                .iter()
                .map(|(s, n)| (s.as_str().to_owned(), *n, story_class(*s)))
                .collect(),
        ),
        stories_total,
        jobs: BarChart::new(
            "Jobs of the last 24 hours by status",
            overview
                .jobs_by_status
                .iter()
                .map(|(s, n)| (s.as_str().to_owned(), *n, job_class(*s)))
                .collect(),
        ),
        jobs_total,
        success: Ring::new(figures.success_rate),
        generation_seconds: figures.average_generation_time_seconds,
        queue_wait_seconds: figures.average_queue_wait_seconds,
        cost_today: overview.cost_today,
        cost_this_month: overview.cost_this_month,
        queue,
    };
    Ok(render(StatusCode::OK, &page))
}
