//! The events clients hear: their types, which of them are sent as webhooks, and the
//! Standard Webhooks envelope `{type, timestamp, data}` every channel carries.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};
use uuid::Uuid;

use super::string_enum;

/// Where the API's routes live; event links point below it.
pub const API_PREFIX: &str = "/api/ai-video";

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventType {
    StoryStatusChanged,
    StoryCompleted,
    StoryFailed,
    JobFailed,
    SceneGenerated,
    SceneProgress,
    JobProgress,
}

string_enum!(EventType {
    StoryStatusChanged => "story.status_changed",
    StoryCompleted => "story.completed",
    StoryFailed => "story.failed",
    JobFailed => "job.failed",
    SceneGenerated => "scene.generated",
    SceneProgress => "scene.progress",
    JobProgress => "job.progress",
});

impl EventType {
    /// The types a webhook endpoint can subscribe to. Progress is only streamed.
    pub const WEBHOOK: &'static [EventType] = &[
        EventType::StoryStatusChanged,
        EventType::StoryCompleted,
        EventType::StoryFailed,
        EventType::JobFailed,
        EventType::SceneGenerated,
    ];

    pub fn is_webhook(self) -> bool {
        Self::WEBHOOK.contains(&self)
    }
}

/// Whether an endpoint subscribed to `filter` (empty: every webhook type) hears
/// `event`.
pub fn filter_accepts(filter: &[EventType], event: EventType) -> bool {
    event.is_webhook() && (filter.is_empty() || filter.contains(&event))
}

/// The link to a story's resource, absolute when the deployment's public URL is known.
pub fn story_link(public_url: Option<&str>, story: Uuid) -> String {
    let base = public_url.unwrap_or("").trim_end_matches('/');
    format!("{base}{API_PREFIX}/stories/{story}/")
}

/// The envelope: `{"type", "timestamp", "data"}`, `data` gaining the story's links:
/// `story`, and `preview` and `final` (which redirect to the media) once they exist.
pub fn envelope(
    event_type: &str,
    at: DateTime<Utc>,
    data: &Value,
    public_url: Option<&str>,
) -> Value {
    let mut data = data.clone();
    if let Some(story) = data
        .get("story_id")
        .and_then(Value::as_str)
        .and_then(|s| s.parse::<Uuid>().ok())
        && let Some(object) = data.as_object_mut()
    {
        let base = story_link(public_url, story);
        let mut links = json!({ "story": base });
        for which in ["preview", "final"] {
            if object.get(&format!("{which}_ready")) == Some(&Value::Bool(true)) {
                links[which] = json!(format!("{base}media/{which}/"));
            }
        }
        object.insert("links".into(), links);
    }
    json!({
        "type": event_type,
        "timestamp": at.to_rfc3339_opts(SecondsFormat::Millis, true),
        "data": data,
    })
}

/// A progress fraction (0 to 1) as the whole percentage events carry.
pub fn percent(progress: f64) -> u8 {
    (progress.clamp(0.0, 1.0) * 100.0).floor() as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_filter_takes_webhook_types_only() {
        assert!(filter_accepts(&[], EventType::StoryCompleted));
        assert!(!filter_accepts(&[], EventType::SceneProgress));
        assert!(filter_accepts(
            &[EventType::JobFailed],
            EventType::JobFailed
        ));
        assert!(!filter_accepts(
            &[EventType::JobFailed],
            EventType::StoryCompleted
        ));
    }

    #[test]
    fn the_envelope_links_the_story() {
        let story = Uuid::nil();
        let at = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let v = envelope(
            "story.completed",
            at,
            &json!({"story_id": story, "status": "completed", "preview_ready": true, "final_ready": true}),
            Some("https://video.example/"),
        );
        assert_eq!(v["type"], "story.completed");
        assert_eq!(v["timestamp"], "2023-11-14T22:13:20.000Z");
        assert_eq!(v["data"]["status"], "completed");
        assert_eq!(
            v["data"]["links"]["story"],
            format!("https://video.example/api/ai-video/stories/{story}/")
        );
        assert_eq!(
            v["data"]["links"]["final"],
            format!("https://video.example/api/ai-video/stories/{story}/media/final/")
        );
        let draft = envelope(
            "story.status_changed",
            at,
            &json!({"story_id": story}),
            None,
        );
        assert!(draft["data"]["links"].get("final").is_none());
        assert_eq!(percent(0.426), 42);
        assert_eq!(percent(3.0), 100);
    }
}
