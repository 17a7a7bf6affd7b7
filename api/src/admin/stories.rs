//! Stories: a filtered, searchable, sortable list, and one story with its scenes,
//! videos, transition log and jobs.

use ai_video_shared::domain::StoryStatus;
use ai_video_shared::store::jobs::JobFilter;
use ai_video_shared::store::scenes::SceneFilter;
use ai_video_shared::store::stories::{StoryFilter, StoryOrder};
use ai_video_shared::store::{PageRequest, jobs, scenes, stories};
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use chrono::{DateTime, Days, NaiveDate, Utc};
use serde::Deserialize;
use uuid::Uuid;

use super::session::Session;
use super::{AdminError, AdminResult, Chrome, FilterErrors, Pager, given, page_number, render};
use crate::AppState;
use crate::routes::jobs::JobOut;
use crate::routes::scenes::SceneOut;
use crate::routes::stories::{StoryOut, TransitionLogOut};

const PAGE_SIZE: u64 = 25;

#[derive(Deserialize, Default)]
pub struct ListQuery {
    status: Option<String>,
    owner: Option<String>,
    q: Option<String>,
    created_from: Option<String>,
    created_to: Option<String>,
    o: Option<String>,
    page: Option<String>,
}

#[derive(Template)]
#[template(path = "admin/stories.html")]
struct StoryList {
    chrome: Chrome,
    query: ListQuery,
    statuses: &'static [StoryStatus],
    orders: &'static [(StoryOrder, &'static str)],
    order: &'static str,
    errors: FilterErrors,
    stories: Vec<StoryOut>,
    pager: Pager,
}

fn day(field: &'static str, raw: Option<&str>, errors: &mut FilterErrors) -> Option<NaiveDate> {
    let raw = raw?;
    match NaiveDate::parse_from_str(raw, "%Y-%m-%d") {
        Ok(d) => Some(d),
        Err(_) => {
            errors.add(field, format!("\"{raw}\" is not a date (YYYY-MM-DD)."));
            None
        }
    }
}

fn start_of(day: NaiveDate) -> DateTime<Utc> {
    day.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc()
}

/// The filter a list query asks for, and what is wrong with it.
fn filter_of(q: &ListQuery) -> (StoryFilter, FilterErrors) {
    let mut errors = FilterErrors::default();
    let status = given(&q.status).and_then(|s| match s.parse::<StoryStatus>() {
        Ok(s) => Some(s),
        Err(_) => {
            errors.add("status", format!("\"{s}\" is not a story status."));
            None
        }
    });
    let from = day("created_from", given(&q.created_from), &mut errors);
    let to = day("created_to", given(&q.created_to), &mut errors);
    let order = match given(&q.o) {
        None => StoryOrder::Newest,
        Some(o) => StoryOrder::parse(o).unwrap_or_else(|| {
            errors.add("o", format!("\"{o}\" is not an order."));
            StoryOrder::Newest
        }),
    };
    let filter = StoryFilter {
        status,
        owner: given(&q.owner).map(str::to_owned),
        title: given(&q.q).map(str::to_owned),
        created_from: from.map(start_of),
        created_before: to
            .and_then(|d| d.checked_add_days(Days::new(1)))
            .map(start_of),
        order,
    };
    (filter, errors)
}

pub async fn list(
    State(state): State<AppState>,
    session: Session,
    Query(q): Query<ListQuery>,
) -> AdminResult {
    let (filter, errors) = filter_of(&q);
    let page = PageRequest {
        page: page_number(q.page.as_deref()),
        page_size: PAGE_SIZE,
    };
    let order = filter.order.name();
    let viewer = session.viewer();
    let found = errors
        .page(stories::list(&state.db, &viewer, filter, page))
        .await?;
    let kept = [
        ("status", q.status.clone().unwrap_or_default()),
        ("owner", q.owner.clone().unwrap_or_default()),
        ("q", q.q.clone().unwrap_or_default()),
        ("created_from", q.created_from.clone().unwrap_or_default()),
        ("created_to", q.created_to.clone().unwrap_or_default()),
        ("o", q.o.clone().unwrap_or_default()),
    ];
    let status = errors.status();
    let list = StoryList {
        chrome: Chrome::new(&session, "stories", "Stories"),
        pager: Pager::new(
            &format!("{}/stories/", super::BASE),
            &kept,
            page.page,
            PAGE_SIZE,
            found.count,
        ),
        stories: found
            .items
            .into_iter()
            .map(|s| StoryOut::from_model(s, &state))
            .collect(),
        query: q,
        statuses: StoryStatus::ALL,
        orders: &StoryOrder::ALL,
        order,
        errors,
    };
    Ok(render(status, &list))
}

#[derive(Template)]
#[template(path = "admin/story.html")]
struct StoryPage {
    chrome: Chrome,
    story: StoryOut,
    scenes: Vec<SceneOut>,
    transitions: Vec<TransitionLogOut>,
    jobs: Vec<JobOut>,
    jobs_count: u64,
    /// Where a job's retry or cancel returns to.
    back: String,
}

pub async fn detail(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
) -> AdminResult {
    let id: Uuid = id
        .parse()
        .map_err(|_| AdminError::new(StatusCode::NOT_FOUND, "Not found", "No such story."))?;
    let viewer = session.viewer();
    let all = PageRequest {
        page: 1,
        page_size: PageRequest::MAX_SIZE,
    };
    let story = stories::get(&state.db, &viewer, id).await?;
    let scene_filter = SceneFilter {
        story: Some(id),
        status: None,
    };
    let scenes = scenes::list(&state.db, &viewer, scene_filter, all).await?;
    let log = stories::transitions(&state.db, &viewer, id, all).await?;
    let job_filter = JobFilter {
        story: Some(id),
        ..JobFilter::default()
    };
    let story_jobs = jobs::list(&state.db, &viewer, job_filter, all).await?;
    let page = StoryPage {
        chrome: Chrome::new(&session, "stories", story.title.clone()),
        story: StoryOut::from_model(story, &state),
        scenes: scenes
            .items
            .into_iter()
            .map(|s| SceneOut::from_model(s, &state))
            .collect(),
        transitions: log.items.into_iter().map(Into::into).collect(),
        jobs_count: story_jobs.count,
        back: format!("{}/stories/{id}/", super::BASE),
        jobs: story_jobs
            .items
            .into_iter()
            .map(|j| JobOut::new(j, &state))
            .collect(),
    };
    Ok(render(StatusCode::OK, &page))
}
