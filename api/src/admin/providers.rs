//! Providers: switches, limits, unit costs and settings, checked by the same rules
//! as `PATCH providers/{provider}/`, with each refusal shown next to its field.

use std::collections::HashMap;

use ai_video_shared::domain::Provider;
use ai_video_shared::input::ProviderPatchIn;
use ai_video_shared::store::PageRequest;
use ai_video_shared::store::providers::{self, ProviderPatch};
use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use serde::Deserialize;

use super::session::Session;
use super::{AdminError, AdminResult, BASE, Chrome, render};
use crate::AppState;
use crate::routes::providers::ProviderOut;

#[derive(Deserialize)]
pub struct ListQuery {
    saved: Option<String>,
}

#[derive(Template)]
#[template(path = "admin/providers.html")]
struct ProviderList {
    chrome: Chrome,
    providers: Vec<ProviderOut>,
    saved: Option<Provider>,
}

pub async fn list(
    State(state): State<AppState>,
    session: Session,
    Query(q): Query<ListQuery>,
) -> AdminResult {
    let all = PageRequest {
        page: 1,
        page_size: PageRequest::MAX_SIZE,
    };
    let found = providers::list(&state.db, all).await?;
    let page = ProviderList {
        chrome: Chrome::new(&session, "providers", "Providers"),
        providers: found.items.into_iter().map(ProviderOut::from).collect(),
        saved: q.saved.and_then(|s| s.parse().ok()),
    };
    Ok(render(StatusCode::OK, &page))
}

/// The form's values, as shown (what was stored, or what was sent back refused).
#[derive(Default)]
struct Values {
    is_active: bool,
    rate_limit_per_minute: String,
    rate_limit_per_hour: String,
    cost_per_image: String,
    cost_per_second_video: String,
    settings: String,
}

#[derive(Template)]
#[template(path = "admin/provider.html")]
struct ProviderForm {
    chrome: Chrome,
    provider: Provider,
    values: Values,
    errors: HashMap<String, String>,
}

impl ProviderForm {
    fn error(&self, field: &str) -> Option<&str> {
        self.errors.get(field).map(String::as_str)
    }

    /// Refusals of the settings, of the whole or of one of its keys.
    fn settings_error(&self) -> Option<String> {
        let mut found: Vec<String> = self
            .errors
            .iter()
            .filter(|(field, _)| field.starts_with("settings"))
            .map(|(field, message)| match field.strip_prefix("settings.") {
                Some(key) => format!("{key}: {message}"),
                None => message.clone(),
            })
            .collect();
        found.sort();
        (!found.is_empty()).then(|| found.join(" "))
    }
}

fn provider_of(name: &str) -> Result<Provider, AdminError> {
    name.parse()
        .map_err(|_| AdminError::new(StatusCode::NOT_FOUND, "Not found", "No such provider."))
}

pub async fn form(
    State(state): State<AppState>,
    session: Session,
    Path(name): Path<String>,
) -> AdminResult {
    let provider = provider_of(&name)?;
    let stored = ProviderOut::from(providers::get(&state.db, provider).await?);
    let values = Values {
        is_active: stored.is_active,
        rate_limit_per_minute: stored.rate_limit_per_minute.to_string(),
        rate_limit_per_hour: stored.rate_limit_per_hour.to_string(),
        cost_per_image: stored.cost_per_image.to_string(),
        cost_per_second_video: stored.cost_per_second_video.to_string(),
        settings: serde_json::to_string_pretty(&stored.settings).unwrap_or_default(),
    };
    let page = ProviderForm {
        chrome: Chrome::new(&session, "providers", format!("Provider {provider}")),
        provider,
        values,
        errors: HashMap::new(),
    };
    Ok(render(StatusCode::OK, &page))
}

#[derive(Deserialize)]
pub struct Submitted {
    is_active: Option<String>,
    #[serde(default)]
    rate_limit_per_minute: String,
    #[serde(default)]
    rate_limit_per_hour: String,
    #[serde(default)]
    cost_per_image: String,
    #[serde(default)]
    cost_per_second_video: String,
    #[serde(default)]
    settings: String,
}

/// The form read into the REST API's input; what cannot even be read is refused
/// by field, with the words DRF uses.
fn input_of(form: &Submitted, errors: &mut HashMap<String, String>) -> ProviderPatchIn {
    let mut number = |field: &str, raw: &str| match raw.trim().parse::<i64>() {
        Ok(v) => Some(v),
        Err(_) => {
            errors.insert(field.into(), "A valid integer is required.".into());
            None
        }
    };
    let per_minute = number("rate_limit_per_minute", &form.rate_limit_per_minute);
    let per_hour = number("rate_limit_per_hour", &form.rate_limit_per_hour);
    let settings = match serde_json::from_str(&form.settings) {
        Ok(v) => Some(v),
        Err(_) => {
            errors.insert("settings".into(), "Value must be valid JSON.".into());
            None
        }
    };
    ProviderPatchIn {
        is_active: Some(form.is_active.is_some()),
        rate_limit_per_minute: per_minute,
        rate_limit_per_hour: per_hour,
        cost_per_image: Some(form.cost_per_image.trim().to_owned()),
        cost_per_second_video: Some(form.cost_per_second_video.trim().to_owned()),
        settings,
    }
}

pub async fn save(
    State(state): State<AppState>,
    session: Session,
    Path(name): Path<String>,
    Form(form): Form<Submitted>,
) -> AdminResult {
    let provider = provider_of(&name)?;
    let mut errors = HashMap::new();
    let input = input_of(&form, &mut errors);
    let patch = match ProviderPatch::try_from(input) {
        Ok(patch) if errors.is_empty() => Some(patch),
        Ok(_) => None,
        Err(refusal) => {
            for (field, message) in refusal.0 {
                errors.entry(field).or_insert(message);
            }
            None
        }
    };
    let Some(patch) = patch else {
        let page = ProviderForm {
            chrome: Chrome::new(&session, "providers", format!("Provider {provider}")),
            provider,
            values: Values {
                is_active: form.is_active.is_some(),
                rate_limit_per_minute: form.rate_limit_per_minute,
                rate_limit_per_hour: form.rate_limit_per_hour,
                cost_per_image: form.cost_per_image,
                cost_per_second_video: form.cost_per_second_video,
                settings: form.settings,
            },
            errors,
        };
        return Ok(render(StatusCode::UNPROCESSABLE_ENTITY, &page));
    };
    providers::update(&state.db, provider, patch).await?;
    tracing::info!(provider = %provider, admin = %session.user, "provider configuration changed");
    Ok(Redirect::to(&format!("{BASE}/providers/?saved={provider}")).into_response())
}
