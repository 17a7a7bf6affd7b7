//! Bodies of the webhook endpoints: registering, changing and rotating a receiver.

use serde::Deserialize;
use utoipa::ToSchema;

use super::{Checked, FieldErrors, Refusal};
use crate::domain::EventType;
use crate::store::webhooks::{EndpointPatch, NewEndpoint};

/// The longest endpoint URL.
pub const URL_MAX: usize = 2048;
/// The longest description.
pub const DESCRIPTION_MAX: usize = 500;
/// The longest grace during which a rotated secret still signs (seconds).
pub const GRACE_MAX_SECS: i64 = 7 * 24 * 3600;

/// An event type an endpoint can subscribe to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WebhookEvent(pub EventType);

impl<'de> Deserialize<'de> for WebhookEvent {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let t = EventType::deserialize(d)?;
        if t.is_webhook() {
            Ok(Self(t))
        } else {
            Err(serde::de::Error::custom(format!(
                "\"{t}\" is streamed only; webhooks carry: {}",
                EventType::WEBHOOK
                    .iter()
                    .map(|t| t.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )))
        }
    }
}

impl utoipa::PartialSchema for WebhookEvent {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::schema::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .enum_values(Some(EventType::WEBHOOK.iter().map(|t| t.as_str())))
            .into()
    }
}

impl ToSchema for WebhookEvent {}

/// A new endpoint.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EndpointIn {
    /// Where deliveries are POSTed: `https://`, or `http://` to a host in
    /// `OUTBOUND_ALLOW_HOSTS`; never an internal address unless allowed there.
    #[schema(max_length = 2048, pattern = r"^https?://[^\s/?#@]+([/?#][^\s]*)?$")]
    pub url: String,
    /// The event types delivered; empty or absent means every type.
    #[serde(default)]
    #[schema(value_type = Vec<WebhookEvent>)]
    pub events: Vec<Checked<WebhookEvent>>,
    #[serde(default)]
    #[schema(max_length = 500)]
    pub description: String,
    #[serde(default = "enabled")]
    #[schema(default = true)]
    pub enabled: bool,
}

fn enabled() -> bool {
    true
}

/// Changes to an endpoint; absent fields stay as they are.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EndpointPatchIn {
    #[schema(max_length = 2048, pattern = r"^https?://[^\s/?#@]+([/?#][^\s]*)?$")]
    pub url: Option<String>,
    #[schema(value_type = Option<Vec<WebhookEvent>>)]
    pub events: Option<Vec<Checked<WebhookEvent>>>,
    #[schema(max_length = 500)]
    pub description: Option<String>,
    /// Enabling an endpoint the system disabled clears the reason.
    pub enabled: Option<bool>,
}

/// A rotation.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateIn {
    /// How long the old secret keeps signing beside the new one, 0 to 604800
    /// seconds; 86400 (a day) when absent.
    #[schema(value_type = Option<u32>, minimum = 0, maximum = 604800)]
    pub grace_seconds: Option<i64>,
}

impl RotateIn {
    pub fn grace(&self) -> Result<chrono::Duration, Refusal> {
        let secs = self.grace_seconds.unwrap_or(86_400);
        if (0..=GRACE_MAX_SECS).contains(&secs) {
            Ok(chrono::Duration::seconds(secs))
        } else {
            Err(Refusal::field(
                "grace_seconds",
                format!("Must be between 0 and {GRACE_MAX_SECS}."),
            ))
        }
    }
}

fn url(errors: &mut FieldErrors, value: &str) -> Option<url::Url> {
    errors.text("url", value, URL_MAX, true);
    if value.chars().any(char::is_whitespace) {
        errors.add("url", "Must not contain spaces.");
        return None;
    }
    match url::Url::parse(value) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => {
            if !u.username().is_empty() || u.password().is_some() {
                errors.add("url", "Must not carry credentials.");
                return None;
            }
            Some(u)
        }
        Ok(_) => {
            errors.add("url", "Must be an http:// or https:// URL naming a host.");
            None
        }
        Err(e) => {
            errors.add("url", format!("Enter a valid URL ({e})."));
            None
        }
    }
}

fn events(errors: &mut FieldErrors, values: Vec<Checked<WebhookEvent>>) -> Vec<EventType> {
    let mut out: Vec<EventType> = Vec::new();
    for (i, value) in values.into_iter().enumerate() {
        if let Some(WebhookEvent(t)) = errors.take(&format!("events[{i}]"), value)
            && !out.contains(&t)
        {
            out.push(t);
        }
    }
    out
}

impl TryFrom<EndpointIn> for NewEndpoint {
    type Error = Refusal;

    fn try_from(input: EndpointIn) -> Result<Self, Refusal> {
        let mut errors = FieldErrors::default();
        let url = url(&mut errors, &input.url);
        let events = events(&mut errors, input.events);
        errors.text("description", &input.description, DESCRIPTION_MAX, false);
        errors.finish()?;
        Ok(NewEndpoint {
            url: url.expect("checked above"),
            events,
            description: input.description,
            enabled: input.enabled,
        })
    }
}

impl TryFrom<EndpointPatchIn> for EndpointPatch {
    type Error = Refusal;

    fn try_from(input: EndpointPatchIn) -> Result<Self, Refusal> {
        let mut errors = FieldErrors::default();
        let url = input.url.as_deref().and_then(|u| url(&mut errors, u));
        let events = input.events.map(|e| events(&mut errors, e));
        if let Some(d) = &input.description {
            errors.text("description", d, DESCRIPTION_MAX, false);
        }
        errors.finish()?;
        Ok(EndpointPatch {
            url,
            events,
            description: input.description,
            enabled: input.enabled,
        })
    }
}
