//! Provider settings as a type: a provider config's `settings` object is parsed
//! once, where it is written (`PATCH providers/{provider}/`, answered 422 naming the
//! field when a key is unknown or a value of the wrong type) and where a job reads
//! it. One set of names serves every provider; each uses the ones docs/providers.md
//! lists for it, and a name means the same, with the same type, wherever it appears.

use serde::{Deserialize, Serialize};

/// Text without NUL (Postgres cannot store it).
const NO_NUL: &str = r"^[^\u0000]*$";

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ProviderSettings {
    /// Stability: `core`, `ultra`, an SD3 model or a v1 engine id; Runway: the video model.
    #[schema(pattern = r"^[^\u0000]*$")]
    pub default_model: Option<String>,
    /// Stability v1: diffusion steps.
    #[schema(minimum = 10, maximum = 150)]
    pub steps: Option<u32>,
    /// Stability v1: prompt strength.
    #[schema(minimum = 0, maximum = 35)]
    pub cfg_scale: Option<f64>,
    /// Stability: one of its style presets.
    #[schema(pattern = r"^[^\u0000]*$")]
    pub style_preset: Option<String>,
    /// Runway: `gen4_image`; Replicate: the image model (`owner/name`).
    #[schema(pattern = r"^[^\u0000]*$")]
    pub image_model: Option<String>,
    /// Replicate: the video model (`owner/name`).
    #[schema(pattern = r"^[^\u0000]*$")]
    pub video_model: Option<String>,
    /// Replicate: a pinned image model version instead of `image_model`.
    #[schema(pattern = r"^[^\u0000]*$")]
    pub image_version: Option<String>,
    /// Replicate: a pinned video model version instead of `video_model`.
    #[schema(pattern = r"^[^\u0000]*$")]
    pub video_version: Option<String>,
    /// Replicate: extra or overriding input fields of the image model.
    #[schema(schema_with = model_input)]
    pub image_input: Option<serde_json::Map<String, serde_json::Value>>,
    /// Replicate: extra or overriding input fields of the video model.
    #[schema(schema_with = model_input)]
    pub video_input: Option<serde_json::Map<String, serde_json::Value>>,
    /// Replicate: where it posts completed predictions (the API's webhook route).
    #[schema(pattern = r"^[^\u0000]*$")]
    pub webhook_url: Option<String>,
    /// Runway: longest clip asked for, in seconds.
    #[schema(minimum = 1, maximum = 60)]
    pub max_duration: Option<u32>,
    /// Runway: running tasks per model across the fleet.
    #[schema(minimum = 1, maximum = 1000)]
    pub max_concurrency: Option<u32>,
    /// Runway, Replicate: how often a task is polled.
    #[schema(minimum = 50, maximum = 600000)]
    pub poll_interval_ms: Option<u64>,
    /// Runway, Replicate: how long a task may take before it is cancelled.
    #[schema(minimum = 1, maximum = 86400)]
    pub deadline_secs: Option<u64>,
    /// local: waits this long before each image and clip.
    #[schema(minimum = 0, maximum = 600000)]
    pub delay_ms: Option<u64>,
    /// local: fails the first N runs of every job.
    #[schema(minimum = 0, maximum = 100)]
    pub fail_attempts: Option<u32>,
    /// local: refuses every request, as a moderation refusal would.
    pub fail_permanently: Option<bool>,
    /// local: refuses, as moderation would, a scene whose prompt contains this text.
    #[schema(pattern = r"^[^\u0000]*$")]
    pub refuse_prompts_containing: Option<String>,
    /// openai: the Chat Completions model that plans scenes (structured output).
    #[schema(pattern = r"^[^\u0000]*$")]
    pub chat_model: Option<String>,
    /// openai: the `/audio/speech` model; elevenlabs: the `model_id`.
    #[schema(pattern = r"^[^\u0000]*$")]
    pub speech_model: Option<String>,
    /// openai: price of a million prompt tokens, a decimal string such as `"0.15"`.
    #[schema(pattern = r"^(?:(?:0|[1-9][0-9]{0,5})(?:\.[0-9]{1,4})?|1000000(?:\.0{1,4})?)$")]
    pub input_token_price: Option<String>,
    /// openai: price of a million completion tokens.
    #[schema(pattern = r"^(?:(?:0|[1-9][0-9]{0,5})(?:\.[0-9]{1,4})?|1000000(?:\.0{1,4})?)$")]
    pub output_token_price: Option<String>,
    /// openai, elevenlabs: price of a million characters of speech.
    #[schema(pattern = r"^(?:(?:0|[1-9][0-9]{0,5})(?:\.[0-9]{1,4})?|1000000(?:\.0{1,4})?)$")]
    pub character_price: Option<String>,
}

/// Extra model input: an object (or null) of [`SettingValue`]s.
fn model_input() -> utoipa::openapi::schema::Object {
    use utoipa::openapi::schema::{ObjectBuilder, SchemaType, Type};
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::Object, Type::Null]))
        .property_names(Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some(NO_NUL)),
        ))
        .additional_properties(Some(utoipa::openapi::Ref::from_schema_name(
            <SettingValue as utoipa::ToSchema>::name(),
        )))
        .build()
}

/// A value inside `settings`: any JSON without NUL in its strings and keys.
pub struct SettingValue;

impl utoipa::PartialSchema for SettingValue {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::Ref;
        use utoipa::openapi::schema::{
            AnyOfBuilder, ArrayBuilder, ObjectBuilder, SchemaType, Type,
        };
        let itself = || Ref::from_schema_name(<SettingValue as utoipa::ToSchema>::name());
        let text = || {
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some(NO_NUL))
        };
        AnyOfBuilder::new()
            .item(ObjectBuilder::new().schema_type(SchemaType::from_iter([
                Type::Null,
                Type::Boolean,
                Type::Number,
            ])))
            .item(text())
            .item(ArrayBuilder::new().items(itself()))
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::Object)
                    .property_names(Some(text()))
                    .additional_properties(Some(itself())),
            )
            .into()
    }
}

impl utoipa::ToSchema for SettingValue {}

/// A setting that is unknown or of the wrong type: `field` is `settings.<key>`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct SettingsError {
    pub field: String,
    pub message: String,
}

/// A Replicate role's model choice: `(version, model, extra input)`.
pub type ModelChoice<'a> = (
    Option<&'a str>,
    Option<&'a str>,
    Option<&'a serde_json::Map<String, serde_json::Value>>,
);

impl ProviderSettings {
    /// Replicate's choice for a role (`image` or `video`).
    pub fn role(&self, role: &str) -> ModelChoice<'_> {
        match role {
            "image" => (
                self.image_version.as_deref(),
                self.image_model.as_deref(),
                self.image_input.as_ref(),
            ),
            _ => (
                self.video_version.as_deref(),
                self.video_model.as_deref(),
                self.video_input.as_ref(),
            ),
        }
    }

    /// Parses a provider config's `settings` object (`null` is no settings).
    pub fn parse(value: &serde_json::Value) -> Result<Self, SettingsError> {
        if value.is_null() {
            return Ok(Self::default());
        }
        if !value.is_object() {
            return Err(SettingsError {
                field: "settings".into(),
                message: "Must be a JSON object.".into(),
            });
        }
        let parsed: Self = serde_path_to_error::deserialize(value).map_err(|err| {
            let path = err.path().to_string();
            let inner = err.inner().to_string();
            let field = match inner.strip_prefix("unknown field `") {
                Some(rest) => format!("settings.{}", rest.split('`').next().unwrap_or("")),
                None if path == "." || path.is_empty() => "settings".to_string(),
                None => format!("settings.{path}"),
            };
            let message = match inner.split_once(", expected one of ") {
                Some(_) => "Unknown setting; docs/providers.md lists each provider's.".into(),
                None => format!("{}.", inner.split(" at line ").next().unwrap_or(&inner)),
            };
            SettingsError { field, message }
        })?;
        parsed.check_ranges()?;
        parsed.check_prices()?;
        Ok(parsed)
    }

    /// A price setting as money (unset: free).
    pub fn price(value: Option<&str>) -> rust_decimal::Decimal {
        value
            .and_then(|v| super::ProviderRates::parse_price(v).ok())
            .unwrap_or_default()
    }

    fn check_prices(&self) -> Result<(), SettingsError> {
        for (name, value) in [
            ("input_token_price", &self.input_token_price),
            ("output_token_price", &self.output_token_price),
            ("character_price", &self.character_price),
        ] {
            if let Some(v) = value
                && let Err(e) = super::ProviderRates::parse_price(v)
            {
                return Err(SettingsError {
                    field: format!("settings.{name}"),
                    message: format!("Must be a price: {}.", e.0),
                });
            }
        }
        Ok(())
    }

    fn check_ranges(&self) -> Result<(), SettingsError> {
        let ranges: [(&str, Option<f64>, f64, f64); 8] = [
            ("steps", self.steps.map(f64::from), 10.0, 150.0),
            ("cfg_scale", self.cfg_scale, 0.0, 35.0),
            ("max_duration", self.max_duration.map(f64::from), 1.0, 60.0),
            (
                "max_concurrency",
                self.max_concurrency.map(f64::from),
                1.0,
                1000.0,
            ),
            (
                "poll_interval_ms",
                self.poll_interval_ms.map(|v| v as f64),
                50.0,
                600_000.0,
            ),
            (
                "deadline_secs",
                self.deadline_secs.map(|v| v as f64),
                1.0,
                86_400.0,
            ),
            ("delay_ms", self.delay_ms.map(|v| v as f64), 0.0, 600_000.0),
            (
                "fail_attempts",
                self.fail_attempts.map(f64::from),
                0.0,
                100.0,
            ),
        ];
        for (name, value, min, max) in ranges {
            if let Some(v) = value
                && !(min..=max).contains(&v)
            {
                return Err(SettingsError {
                    field: format!("settings.{name}"),
                    message: format!("Must be between {min} and {max}."),
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn settings_parse_into_their_type() {
        let s = ProviderSettings::parse(&json!({"default_model": "gen4_turbo", "max_duration": 4}))
            .unwrap();
        assert_eq!(s.max_duration, Some(4));
        assert_eq!(
            ProviderSettings::parse(&json!(null)).unwrap(),
            ProviderSettings::default()
        );
    }

    #[test]
    fn unknown_keys_wrong_types_and_ranges_name_the_field() {
        let err = ProviderSettings::parse(&json!({"max_durration": 4})).unwrap_err();
        assert_eq!(err.field, "settings.max_durration");
        let err = ProviderSettings::parse(&json!({"max_duration": "four"})).unwrap_err();
        assert_eq!(err.field, "settings.max_duration");
        let err = ProviderSettings::parse(&json!({"image_input": 3})).unwrap_err();
        assert_eq!(err.field, "settings.image_input");
        let err = ProviderSettings::parse(&json!({"poll_interval_ms": 1})).unwrap_err();
        assert_eq!(err.field, "settings.poll_interval_ms");
    }
}
