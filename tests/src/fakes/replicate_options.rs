//! How a client asks Replicate to treat a new prediction, besides its input:
//! `Prefer: wait[=N]` (block up to N s, 1–60, 60 when bare), `Cancel-After`
//! (a deadline such as `90s`, `5m`, `1h30m` or `500ms`; the real grammar is not
//! documented), and `webhook` with `webhook_events_filter`.

use std::time::Duration;

use axum::http::HeaderMap;
use serde_json::{Value, json};

use super::webhook::{DEFAULT_EVENTS, EVENTS};

/// The options of a create request.
pub(crate) struct CreateOptions {
    pub wait: Option<u64>,
    pub cancel_after: Option<Duration>,
    /// URL and events.
    pub webhook: Option<(String, Vec<String>)>,
}

/// Why the options were refused.
pub(crate) enum Refusal {
    /// A bad header: 400 with this detail.
    Header(String),
    /// Bad body fields: 422 with these `invalid_fields`.
    Fields(Vec<Value>),
}

/// Reads the options of a create request.
pub(crate) fn read(headers: &HeaderMap, body: &Value) -> Result<CreateOptions, Refusal> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let wait = match header("prefer") {
        None => None,
        Some(prefer) => prefer_wait(prefer).map_err(Refusal::Header)?,
    };
    let cancel_after = match header("cancel-after") {
        None => None,
        Some(text) => Some(parse_duration(text.trim()).ok_or_else(|| {
            Refusal::Header(format!(
                "Invalid Cancel-After header {text:?}: use e.g. 90s or 5m"
            ))
        })?),
    };
    let mut bad = Vec::new();
    let url = match &body["webhook"] {
        Value::Null => None,
        Value::String(u) if u.starts_with("https://") || u.starts_with("http://") => {
            Some(u.clone())
        }
        _ => {
            bad.push(json!({"type": "format", "field": "webhook", "description": "Does not match format 'uri'"}));
            None
        }
    };
    let events = match &body["webhook_events_filter"] {
        Value::Null => DEFAULT_EVENTS.map(String::from).to_vec(),
        Value::Array(list)
            if list
                .iter()
                .all(|e| e.as_str().is_some_and(|e| EVENTS.contains(&e))) =>
        {
            list.iter()
                .filter_map(|e| e.as_str().map(String::from))
                .collect()
        }
        _ => {
            let description = format!("Must be a list of {}", EVENTS.join(", "));
            bad.push(json!({"type": "enum", "field": "webhook_events_filter", "description": description}));
            Vec::new()
        }
    };
    if !bad.is_empty() {
        return Err(Refusal::Fields(bad));
    }
    Ok(CreateOptions {
        wait,
        cancel_after,
        webhook: url.map(|u| (u, events)),
    })
}

/// `wait` (60 s) or `wait=N` (1–60) among the header's preferences.
fn prefer_wait(prefer: &str) -> Result<Option<u64>, String> {
    for pref in prefer.split(',').map(str::trim) {
        if pref == "wait" {
            return Ok(Some(60));
        }
        if let Some(n) = pref.strip_prefix("wait=") {
            return match n.parse::<u64>() {
                Ok(n) if (1..=60).contains(&n) => Ok(Some(n)),
                _ => Err(format!(
                    "Invalid Prefer header: wait must be 1 to 60 seconds, got {n}"
                )),
            };
        }
    }
    Ok(None)
}

/// A sequence of `<number><unit>` with units `h`, `m`, `s`, `ms`.
fn parse_duration(text: &str) -> Option<Duration> {
    let mut total = Duration::ZERO;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit())?;
        let n: u64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        total += match &rest[..unit] {
            "h" => Duration::from_secs(n * 3600),
            "m" => Duration::from_secs(n * 60),
            "s" => Duration::from_secs(n),
            "ms" => Duration::from_millis(n),
            _ => return None,
        };
        rest = &rest[unit..];
    }
    (!total.is_zero()).then_some(total)
}
