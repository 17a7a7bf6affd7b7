//! Bodies of the admin endpoints: a provider's configuration and a user's quotas.

use rust_decimal::Decimal;
use serde::Deserialize;
use utoipa::ToSchema;

use super::{FieldErrors, Refusal};
use crate::domain::{ProviderRates, ProviderSettings};
use crate::store::providers::ProviderPatch;
use crate::store::quotas::QuotaPatch;

/// The largest provider rate limit.
const RATE_MAX: i64 = 1_000_000;
/// The largest quota count and budget.
const QUOTA_MAX: i64 = 1_000_000_000;

/// Changes to a provider's configuration.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProviderPatchIn {
    pub is_active: Option<bool>,
    /// 0 (no limit) to 1,000,000.
    #[schema(value_type = Option<u32>, minimum = 0, maximum = 1000000)]
    pub rate_limit_per_minute: Option<i64>,
    /// 0 (no limit) to 1,000,000.
    #[schema(value_type = Option<u32>, minimum = 0, maximum = 1000000)]
    pub rate_limit_per_hour: Option<i64>,
    /// A decimal string such as `"0.0200"`: at most 1,000,000, at most four places.
    #[schema(value_type = Option<String>, pattern = r"^(?:(?:0|[1-9][0-9]{0,5})(?:\.[0-9]{1,4})?|1000000(?:\.0{1,4})?)$")]
    pub cost_per_image: Option<String>,
    /// As `cost_per_image`.
    #[schema(value_type = Option<String>, pattern = r"^(?:(?:0|[1-9][0-9]{0,5})(?:\.[0-9]{1,4})?|1000000(?:\.0{1,4})?)$")]
    pub cost_per_second_video: Option<String>,
    /// Replaces the settings object as a whole: only the settings docs/providers.md
    /// lists, each of its type (keys and secrets come from the environment).
    #[schema(value_type = Option<ProviderSettings>)]
    pub settings: Option<serde_json::Value>,
}

/// Whether a string or key anywhere in `value` holds a NUL character, which the
/// database cannot store.
fn has_nul(value: &serde_json::Value) -> bool {
    match value {
        serde_json::Value::String(s) => s.contains('\0'),
        serde_json::Value::Array(items) => items.iter().any(has_nul),
        serde_json::Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || has_nul(v)),
        _ => false,
    }
}

/// A count from 0 to `max`.
fn count(errors: &mut FieldErrors, field: &str, v: i64, max: i64, zero: &str) -> Option<u32> {
    if (0..=max).contains(&v) {
        Some(v as u32)
    } else {
        errors.add(field, format!("Must be between 0{zero} and {max}."));
        None
    }
}

impl TryFrom<ProviderPatchIn> for ProviderPatch {
    type Error = Refusal;

    fn try_from(input: ProviderPatchIn) -> Result<Self, Refusal> {
        let mut errors = FieldErrors::default();
        let mut limit = |field: &str, v: Option<i64>| {
            v.and_then(|v| count(&mut errors, field, v, RATE_MAX, " (no limit)"))
        };
        let per_minute = limit("rate_limit_per_minute", input.rate_limit_per_minute);
        let per_hour = limit("rate_limit_per_hour", input.rate_limit_per_hour);
        let mut price = |field: &str, value: Option<&str>| {
            value.and_then(|v| errors.check(field, ProviderRates::parse_price(v)))
        };
        let cost_per_image = price("cost_per_image", input.cost_per_image.as_deref());
        let cost_per_second_video = price(
            "cost_per_second_video",
            input.cost_per_second_video.as_deref(),
        );
        if let Some(settings) = &input.settings {
            if has_nul(settings) {
                errors.add(
                    "settings",
                    "Text in settings may not contain NUL characters.",
                );
            } else if let Err(e) = ProviderSettings::parse(settings) {
                errors.add(e.field, e.message);
            }
        }
        errors.finish()?;
        Ok(ProviderPatch {
            is_active: input.is_active,
            rate_limit_per_minute: per_minute,
            rate_limit_per_hour: per_hour,
            cost_per_image,
            cost_per_second_video,
            settings: input.settings,
        })
    }
}

/// Changes to a user's limits: a field left out stays; `null` returns it to the
/// deployment's default.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuotaPatchIn {
    /// Dollars per calendar month, a decimal string such as `"50.00"`.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, nullable, pattern = r"^(?:0|[1-9][0-9]{0,8})(?:\.[0-9]{1,4})?$")]
    pub monthly_budget: Option<Option<String>>,
    /// Previews and renders queued or running at once, 0 to 1,000,000,000.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<u32>, nullable, minimum = 0, maximum = 1000000000)]
    pub max_rendering: Option<Option<i64>>,
    /// Seconds of video asked for per day (UTC), 0 to 1,000,000,000.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<u32>, nullable, minimum = 0, maximum = 1000000000)]
    pub daily_video_seconds: Option<Option<i64>>,
}

/// A field that is present: `null` is `Some(None)`, a value `Some(Some(v))`; a field
/// left out stays `None` (its `default`).
fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// A budget: a decimal string from 0 to [`QUOTA_MAX`] dollars, at most four places.
fn budget(text: &str) -> Option<Decimal> {
    text.parse::<Decimal>()
        .ok()
        .filter(|d| !d.is_sign_negative() && *d <= Decimal::from(QUOTA_MAX) && d.scale() <= 4)
}

impl TryFrom<QuotaPatchIn> for QuotaPatch {
    type Error = Refusal;

    fn try_from(input: QuotaPatchIn) -> Result<Self, Refusal> {
        let mut errors = FieldErrors::default();
        let mut quota = |field: &str, v: Option<Option<i64>>| match v {
            Some(Some(n)) => count(&mut errors, field, n, QUOTA_MAX, "").map(Some),
            Some(None) => Some(None),
            None => None,
        };
        let max_rendering = quota("max_rendering", input.max_rendering);
        let daily_video_seconds = quota("daily_video_seconds", input.daily_video_seconds);
        let monthly_budget = match input.monthly_budget {
            Some(Some(text)) => match budget(&text) {
                Some(d) => Some(Some(d)),
                None => {
                    errors.add(
                        "monthly_budget",
                        "Must be a decimal string from \"0\" to \"1000000000\" with at most 4 decimal places.",
                    );
                    None
                }
            },
            Some(None) => Some(None),
            None => None,
        };
        errors.finish()?;
        Ok(QuotaPatch {
            monthly_budget,
            max_rendering,
            daily_video_seconds,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern(field: &str) -> regex::Regex {
        let schema = <ProviderPatchIn as utoipa::PartialSchema>::schema();
        let json = serde_json::to_value(schema).unwrap();
        regex::Regex::new(json["properties"][field]["pattern"].as_str().unwrap()).unwrap()
    }

    #[test]
    fn the_documented_price_pattern_accepts_what_the_server_accepts() {
        let price = pattern("cost_per_image");
        for text in [
            "0",
            "0.0",
            "0.02",
            "0.0200",
            "7",
            "999999.9999",
            "1000000",
            "1000000.0000",
            "",
            ".5",
            "1.",
            "-1",
            "+1",
            "1e3",
            "01",
            "00",
            "0.00001",
            "1000000.0001",
            "1000001",
            "9999999",
            "12345678",
            " 1",
            "1,5",
            "NaN",
            "1.2.3",
        ] {
            assert_eq!(
                price.is_match(text),
                ProviderRates::parse_price(text).is_ok(),
                "{text:?}"
            );
        }
    }
}
