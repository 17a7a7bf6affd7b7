//! The queued message, in the shape the seed's workers already know:
//! `{id, name, data: {story_id, scene_id?, action, parameters}, opts: {priority,
//! attempts, backoff: {type, delay}}}`. It is a BullMQ job, so BullMQ tools in Node or
//! Python can read and feed the same queue.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::domain::{JobKind, Priority};

/// The BullMQ job id of a Job row: stable, so a second push of the same row is a no-op.
pub fn queue_job_id(story_id: Uuid, job_id: Uuid) -> String {
    format!("story_{story_id}_{job_id}")
}

/// The Job row id inside a BullMQ job id made by [`queue_job_id`].
pub fn job_id_from_queue_id(queue_id: &str) -> Option<Uuid> {
    let rest = queue_id.strip_prefix("story_")?;
    let (_, job) = rest.rsplit_once('_')?;
    job.parse().ok()
}

/// `data` of a queued job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobData {
    pub story_id: Uuid,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scene_id: Option<Uuid>,
    /// The Job row this message runs.
    pub job_id: Uuid,
    /// The job kind's name (`plan_story`, `generate_scene`, …).
    pub action: JobKind,
    #[serde(default)]
    pub parameters: serde_json::Value,
}

/// Retry delay policy; only exponential is produced, fixed is understood.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Backoff {
    Exponential { delay: u64 },
    Fixed { delay: u64 },
}

impl Backoff {
    /// Wait before attempt `attempt + 1`, after `attempt` failed runs (1-based).
    pub fn delay_after(self, attempt: u32) -> u64 {
        match self {
            Backoff::Fixed { delay } => delay,
            Backoff::Exponential { delay } => {
                delay.saturating_mul(1u64 << attempt.saturating_sub(1).min(32))
            }
        }
    }
}

/// `opts` of a queued job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobOpts {
    pub priority: Priority,
    pub attempts: u32,
    pub backoff: Backoff,
}

/// One queued job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobEnvelope {
    pub id: String,
    pub name: String,
    pub data: JobData,
    pub opts: JobOpts,
}

impl JobEnvelope {
    pub fn kind(&self) -> JobKind {
        self.data.action
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_derived_from_the_row_and_parse_back() {
        let story = Uuid::now_v7();
        let job = Uuid::now_v7();
        let id = queue_job_id(story, job);
        assert_eq!(id, format!("story_{story}_{job}"));
        assert_eq!(job_id_from_queue_id(&id), Some(job));
        assert_eq!(job_id_from_queue_id("other_1"), None);
    }

    #[test]
    fn backoff_doubles_from_the_base_delay() {
        let b = Backoff::Exponential { delay: 2000 };
        assert_eq!(
            (1..=4).map(|n| b.delay_after(n)).collect::<Vec<_>>(),
            [2000, 4000, 8000, 16000]
        );
        assert_eq!(Backoff::Fixed { delay: 5 }.delay_after(9), 5);
        assert_eq!(b.delay_after(200), 2000 << 32, "capped, never overflowing");
    }

    #[test]
    fn the_seed_shape() {
        let story = Uuid::nil();
        let env = JobEnvelope {
            id: queue_job_id(story, story),
            name: JobKind::PlanStory.queue_name().into(),
            data: JobData {
                story_id: story,
                scene_id: None,
                job_id: story,
                action: JobKind::PlanStory,
                parameters: serde_json::json!({}),
            },
            opts: JobOpts {
                priority: Priority::DEFAULT,
                attempts: 3,
                backoff: Backoff::Exponential { delay: 2000 },
            },
        };
        let json = serde_json::to_value(&env).unwrap();
        assert_eq!(json["name"], "story_planning");
        assert_eq!(json["data"]["action"], "plan_story");
        assert!(json["data"].get("scene_id").is_none());
        assert_eq!(
            json["opts"],
            serde_json::json!({"priority": 5, "attempts": 3,
                "backoff": {"type": "exponential", "delay": 2000}})
        );
        let back: JobEnvelope = serde_json::from_value(json).unwrap();
        assert_eq!(back, env);
    }
}
