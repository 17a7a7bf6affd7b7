//! Quotas: every user's budget and quotas with what they used, and a form that
//! changes them by the rules of `PATCH quotas/{user}/`.

use std::collections::HashMap;

use ai_video_shared::input::QuotaPatchIn;
use ai_video_shared::store::PageRequest;
use ai_video_shared::store::quotas::{self, QuotaPatch, Usage};
use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use serde::Deserialize;

use super::session::Session;
use super::{AdminError, AdminResult, BASE, Chrome, Pager, page_number, render};
use crate::AppState;
use crate::routes::quotas::usage_of;

const PAGE_SIZE: u64 = 20;

#[derive(Deserialize)]
pub struct ListQuery {
    page: Option<String>,
    saved: Option<String>,
}

#[derive(Template)]
#[template(path = "admin/quotas.html")]
struct QuotaList {
    chrome: Chrome,
    users: Vec<Usage>,
    pager: Pager,
    saved: Option<String>,
}

pub async fn list(
    State(state): State<AppState>,
    session: Session,
    Query(q): Query<ListQuery>,
) -> AdminResult {
    let page = PageRequest {
        page: page_number(q.page.as_deref()),
        page_size: PAGE_SIZE,
    };
    let found = quotas::users(&state.db, page).await?;
    let users = quotas::usages(&state.db, &found.items, state.config.quotas).await?;
    let list = QuotaList {
        chrome: Chrome::new(&session, "quotas", "Quotas"),
        pager: Pager::new(
            &format!("{BASE}/quotas/"),
            &[],
            page.page,
            PAGE_SIZE,
            found.count,
        ),
        saved: q.saved.filter(|u| found.items.contains(u)),
        users,
    };
    Ok(render(StatusCode::OK, &list))
}

#[derive(Default)]
struct Values {
    monthly_budget: String,
    max_rendering: String,
    daily_video_seconds: String,
}

#[derive(Template)]
#[template(path = "admin/quota.html")]
struct QuotaForm {
    chrome: Chrome,
    usage: Usage,
    values: Values,
    errors: HashMap<String, String>,
}

impl QuotaForm {
    fn error(&self, field: &str) -> Option<&str> {
        self.errors.get(field).map(String::as_str)
    }
}

/// A user id a token could carry.
fn user_of(raw: &str) -> Result<&str, AdminError> {
    if raw.is_empty() || raw.len() > 255 || raw.chars().any(char::is_control) {
        return Err(AdminError::new(
            StatusCode::NOT_FOUND,
            "Not found",
            "No such user.",
        ));
    }
    Ok(raw)
}

pub async fn form(
    State(state): State<AppState>,
    session: Session,
    Path(user): Path<String>,
) -> AdminResult {
    let usage = usage_of(&state, user_of(&user)?).await?;
    let values = Values {
        monthly_budget: usage.limits.monthly_budget.to_string(),
        max_rendering: usage.limits.max_rendering.to_string(),
        daily_video_seconds: usage.limits.daily_video_seconds.to_string(),
    };
    let page = QuotaForm {
        chrome: Chrome::new(&session, "quotas", format!("Quotas of {user}")),
        usage,
        values,
        errors: HashMap::new(),
    };
    Ok(render(StatusCode::OK, &page))
}

#[derive(Deserialize)]
pub struct Submitted {
    #[serde(default)]
    monthly_budget: String,
    #[serde(default)]
    max_rendering: String,
    #[serde(default)]
    daily_video_seconds: String,
}

/// An empty field returns the user to the default; anything else must be a whole
/// number.
fn count(field: &str, raw: &str, errors: &mut HashMap<String, String>) -> Option<Option<i64>> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Some(None);
    }
    match raw.parse() {
        Ok(v) => Some(Some(v)),
        Err(_) => {
            errors.insert(field.into(), "A valid integer is required.".into());
            None
        }
    }
}

pub async fn save(
    State(state): State<AppState>,
    session: Session,
    Path(user): Path<String>,
    Form(form): Form<Submitted>,
) -> AdminResult {
    let user = user_of(&user)?;
    let mut errors = HashMap::new();
    let budget = form.monthly_budget.trim();
    let input = QuotaPatchIn {
        monthly_budget: Some((!budget.is_empty()).then(|| budget.to_owned())),
        max_rendering: count("max_rendering", &form.max_rendering, &mut errors),
        daily_video_seconds: count(
            "daily_video_seconds",
            &form.daily_video_seconds,
            &mut errors,
        ),
    };
    let change = match QuotaPatch::try_from(input) {
        Ok(change) if errors.is_empty() => Some(change),
        Ok(_) => None,
        Err(refusal) => {
            for (field, message) in refusal.0 {
                errors.entry(field).or_insert(message);
            }
            None
        }
    };
    let Some(change) = change else {
        let page = QuotaForm {
            chrome: Chrome::new(&session, "quotas", format!("Quotas of {user}")),
            usage: usage_of(&state, user).await?,
            values: Values {
                monthly_budget: form.monthly_budget,
                max_rendering: form.max_rendering,
                daily_video_seconds: form.daily_video_seconds,
            },
            errors,
        };
        return Ok(render(StatusCode::UNPROCESSABLE_ENTITY, &page));
    };
    quotas::patch(&state.db, user, change).await?;
    tracing::info!(user = %user, admin = %session.user, "quota changed");
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("saved", user)
        .finish();
    Ok(Redirect::to(&format!("{BASE}/quotas/?{query}")).into_response())
}
