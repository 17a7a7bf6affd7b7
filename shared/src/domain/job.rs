//! Jobs: the kinds of queued work, their lifecycle and their priority.

use serde::{Deserialize, Serialize};

use super::{Invalid, string_enum};

/// A kind of queued work. Each kind has its queue name and default options here, in
/// one list, so the API and the worker agree on them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobKind {
    /// Auto scenes and cost estimate; planning → planned.
    PlanStory,
    /// Keyframe image then clip for one scene.
    GenerateScene,
    /// Assembles the low-resolution preview once every scene job has succeeded.
    GeneratePreview,
    /// Assembles the final video once every full-quality scene job has succeeded.
    RenderFinal,
}

string_enum!(JobKind {
    PlanStory => "plan_story",
    GenerateScene => "generate_scene",
    GeneratePreview => "generate_preview",
    RenderFinal => "render_final",
});

impl JobKind {
    /// The BullMQ job name, as the seed's workers know it.
    pub fn queue_name(self) -> &'static str {
        match self {
            JobKind::PlanStory => "story_planning",
            JobKind::GenerateScene => "scene_generation",
            JobKind::GeneratePreview => "preview_generation",
            JobKind::RenderFinal => "final_render",
        }
    }

    /// The kind behind a BullMQ job name.
    pub fn from_queue_name(name: &str) -> Option<Self> {
        JobKind::ALL
            .iter()
            .copied()
            .find(|k| k.queue_name() == name)
    }

    pub fn default_priority(self) -> Priority {
        Priority::DEFAULT
    }

    /// Total runs before a job is failed for good.
    pub const DEFAULT_ATTEMPTS: u32 = 3;
    /// First backoff delay; attempt n+1 waits `delay × 2^(n-1)`.
    pub const DEFAULT_BACKOFF_MS: u64 = 2000;
}

/// How often a new job may run and how long it waits between runs: attempt n+1
/// waits `backoff_ms × 2^(n-1)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub attempts: u32,
    pub backoff_ms: u64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: JobKind::DEFAULT_ATTEMPTS,
            backoff_ms: JobKind::DEFAULT_BACKOFF_MS,
        }
    }
}

/// A job's lifecycle. `retrying` means a failed attempt is waiting for its backoff.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobStatus {
    Queued,
    Running,
    Retrying,
    Succeeded,
    Failed,
    Cancelled,
}

string_enum!(JobStatus {
    Queued => "queued",
    Running => "running",
    Retrying => "retrying",
    Succeeded => "succeeded",
    Failed => "failed",
    Cancelled => "cancelled",
});

impl JobStatus {
    /// Whether the job can still run.
    pub fn is_active(self) -> bool {
        matches!(
            self,
            JobStatus::Queued | JobStatus::Running | JobStatus::Retrying
        )
    }
}

/// BullMQ priority: 1 is the highest; a waiting job of higher priority starts before
/// every waiting job of lower priority.
///
/// In JSON it is a whole number; like DRF's `IntegerField`, a float without a
/// fraction (`7.0`) is that number too, while `7.5` is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(into = "u32")]
pub struct Priority(u32);

impl Priority {
    pub const HIGHEST: Priority = Priority(1);
    pub const LOWEST: Priority = Priority(10);
    pub const DEFAULT: Priority = Priority(5);

    pub fn new(value: i64) -> Result<Self, Invalid> {
        if !(1..=10).contains(&value) {
            return Err(Invalid::new("must be between 1 (highest) and 10 (lowest)"));
        }
        Ok(Self(value as u32))
    }

    pub fn get(self) -> u32 {
        self.0
    }
}

impl<'de> Deserialize<'de> for Priority {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Whole;

        impl serde::de::Visitor<'_> for Whole {
            type Value = Priority;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a whole number from 1 (highest) to 10 (lowest)")
            }

            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Priority, E> {
                Priority::new(v).map_err(E::custom)
            }

            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Priority, E> {
                Priority::new(i64::try_from(v).unwrap_or(i64::MAX)).map_err(E::custom)
            }

            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Priority, E> {
                if v.fract() != 0.0 || !v.is_finite() {
                    return Err(E::custom(
                        "must be a whole number between 1 (highest) and 10 (lowest)",
                    ));
                }
                // Saturates far outside 1..=10, which `new` refuses.
                Priority::new(v as i64).map_err(E::custom)
            }
        }

        d.deserialize_any(Whole)
    }
}

impl TryFrom<i64> for Priority {
    type Error = Invalid;

    fn try_from(value: i64) -> Result<Self, Self::Error> {
        Priority::new(value)
    }
}

impl From<Priority> for u32 {
    fn from(p: Priority) -> u32 {
        p.0
    }
}

/// A job's `parameters`, parsed once where a job is recorded or run. Keys it does
/// not know (another producer's) are ignored.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct JobParameters {
    /// Scene jobs, previews and renders: the quality scenes are made at (`preview`
    /// when left out).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quality: Option<RenderQuality>,
    /// A retried preview or render: the scenes whose clips it kept.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub kept_scenes: Vec<uuid::Uuid>,
    /// A preview or render: what it was expected to cost when it was queued,
    /// counted against its owner's budget until it ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub estimate: Option<rust_decimal::Decimal>,
    /// A preview or render: the seconds of video it asks for, counted against its
    /// owner's daily quota.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub video_seconds: Option<u32>,
}

impl JobParameters {
    /// Parses a job's `parameters` (`null` is none); the error names the field.
    pub fn parse(value: &serde_json::Value) -> Result<Self, Invalid> {
        if value.is_null() {
            return Ok(Self::default());
        }
        serde_path_to_error::deserialize(value).map_err(|e| {
            Invalid::new(format!(
                "parameters.{}: {}",
                e.path(),
                e.inner()
                    .to_string()
                    .split(" at line ")
                    .next()
                    .unwrap_or("")
            ))
        })
    }

    /// The quality scenes are made at.
    pub fn quality(&self) -> RenderQuality {
        self.quality.unwrap_or(RenderQuality::Preview)
    }

    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_else(|_| serde_json::json!({}))
    }
}

/// The quality a scene is generated at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RenderQuality {
    Preview,
    Final,
}

string_enum!(RenderQuality {
    Preview => "preview",
    Final => "final",
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_names_round_trip() {
        for kind in JobKind::ALL {
            assert_eq!(JobKind::from_queue_name(kind.queue_name()), Some(*kind));
        }
        assert_eq!(JobKind::PlanStory.queue_name(), "story_planning");
        assert_eq!(JobKind::from_queue_name("nope"), None);
    }

    #[test]
    fn priority_bounds() {
        assert!(Priority::new(0).is_err());
        assert!(Priority::new(11).is_err());
        assert_eq!(Priority::new(1), Ok(Priority::HIGHEST));
        assert!(Priority::HIGHEST < Priority::LOWEST);
        let p: Priority = serde_json::from_str("3").unwrap();
        assert_eq!(p.get(), 3);
        assert!(serde_json::from_str::<Priority>("0").is_err());
        let whole: Priority = serde_json::from_str("7.0").unwrap();
        assert_eq!(whole.get(), 7);
        for refused in ["7.5", "10.5", "0.0", "11.0", "1e300", "\"7\"", "-3"] {
            assert!(
                serde_json::from_str::<Priority>(refused).is_err(),
                "{refused}"
            );
        }
    }

    #[test]
    fn parameters_parse_once_and_name_the_field() {
        let p = JobParameters::parse(&serde_json::json!({"quality": "final", "x": 1})).unwrap();
        assert_eq!(p.quality(), RenderQuality::Final);
        assert_eq!(
            JobParameters::parse(&serde_json::Value::Null).unwrap(),
            JobParameters::default()
        );
        let err = JobParameters::parse(&serde_json::json!({"quality": "best"})).unwrap_err();
        assert!(err.0.starts_with("parameters.quality"), "{err}");
        assert_eq!(
            JobParameters {
                quality: Some(RenderQuality::Preview),
                ..Default::default()
            }
            .to_json(),
            serde_json::json!({"quality": "preview"})
        );
    }

    #[test]
    fn only_unfinished_jobs_are_active() {
        let active: Vec<_> = JobStatus::ALL.iter().filter(|s| s.is_active()).collect();
        assert_eq!(
            active,
            [
                &JobStatus::Queued,
                &JobStatus::Running,
                &JobStatus::Retrying
            ]
        );
    }
}
