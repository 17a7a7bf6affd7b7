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
    /// `null` for jobs that are not about one scene.
    #[serde(default)]
    pub scene_id: Option<Uuid>,
    /// The Job row this message runs.
    pub job_id: Uuid,
    /// The job kind's name (`plan_story`, `generate_scene`, …).
    pub action: JobKind,
    #[serde(default)]
    pub parameters: serde_json::Value,
}

/// `data` of a job as any BullMQ producer may write it: the full envelope above,
/// or the seed's shape without `job_id` (the worker then records the job itself).
/// `action` may be left out when the job's name is a kind's seed name or action.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct QueuedData {
    pub story_id: Uuid,
    #[serde(default)]
    pub scene_id: Option<Uuid>,
    #[serde(default)]
    pub job_id: Option<Uuid>,
    #[serde(default)]
    pub action: Option<JobKind>,
    #[serde(default)]
    pub parameters: serde_json::Value,
}

impl QueuedData {
    /// The kind of work, from `action` or else from the job's `name`; a name that
    /// is a kind's and disagrees with `action` is refused.
    pub fn kind(&self, name: &str) -> Result<JobKind, String> {
        let named = JobKind::from_queue_name(name).or_else(|| name.parse().ok());
        match (self.action, named) {
            (Some(action), Some(named)) if action != named => Err(format!(
                "the job is named {name} but its data.action is {action}"
            )),
            (Some(kind), _) | (None, Some(kind)) => Ok(kind),
            (None, None) => Err(format!(
                "data.action is missing and the job's name ({name}) is no kind of work; \
                 use one of {}",
                JobKind::ALL
                    .iter()
                    .map(|k| format!("{k} ({})", k.queue_name()))
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        }
    }

    /// `parameters`, as an object (`{}` when left out).
    pub fn parameters(&self) -> serde_json::Value {
        match &self.parameters {
            serde_json::Value::Null => serde_json::json!({}),
            other => other.clone(),
        }
    }
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
    fn any_producer_s_data_is_read() {
        let story = Uuid::now_v7();
        let seed: QueuedData = serde_json::from_value(serde_json::json!({
            "story_id": story, "action": "plan_story", "parameters": {"x": 1}, "extra": true
        }))
        .unwrap();
        assert_eq!(seed.job_id, None);
        assert_eq!(seed.kind("story_planning"), Ok(JobKind::PlanStory));
        assert_eq!(seed.kind("anything"), Ok(JobKind::PlanStory));
        assert!(
            seed.kind("final_render")
                .unwrap_err()
                .contains("final_render")
        );
        let named: QueuedData =
            serde_json::from_value(serde_json::json!({"story_id": story})).unwrap();
        assert_eq!(named.kind("scene_generation"), Ok(JobKind::GenerateScene));
        assert_eq!(named.kind("generate_scene"), Ok(JobKind::GenerateScene));
        assert!(
            named
                .kind("misc")
                .unwrap_err()
                .contains("data.action is missing")
        );
        assert_eq!(named.parameters(), serde_json::json!({}));
        assert!(serde_json::from_value::<QueuedData>(serde_json::json!({"story": 1})).is_err());
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
        assert_eq!(json["data"]["scene_id"], serde_json::Value::Null);
        assert_eq!(
            json["opts"],
            serde_json::json!({"priority": 5, "attempts": 3,
                "backoff": {"type": "exponential", "delay": 2000}})
        );
        let back: JobEnvelope = serde_json::from_value(json).unwrap();
        assert_eq!(back, env);
    }
}
