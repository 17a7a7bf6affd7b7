//! A Runway task and how it moves: `PENDING` for the configured pending polls
//! (`THROTTLED` instead while its model is at the concurrency cap), `RUNNING` with
//! `progress` for the running polls, then `SUCCEEDED`, or `FAILED` with Runway's
//! `failure` and `failureCode` (`SAFETY.INPUT.TEXT` right after `PENDING` for a
//! moderated prompt), or `CANCELLED` once deleted while unfinished.

use std::collections::HashMap;
use std::time::Instant;

use serde_json::{Value, json};

use super::control::{FakeOptions, Outcome};
use super::media::MediaSpec;

#[derive(Default)]
pub(crate) struct Tasks {
    pub by_id: HashMap<String, Task>,
    pub order: Vec<String>,
    pub cancelled: Vec<String>,
    pub deleted: Vec<String>,
}

impl Tasks {
    /// Tasks of `model` holding a concurrency slot, other than `except`.
    pub fn active(&self, model: &str, except: &str, opts: &FakeOptions) -> usize {
        self.by_id
            .values()
            .filter(|t| t.model == model && t.id != except && !t.throttled && !t.deleted)
            .filter(|t| !t.phase(opts).is_terminal())
            .count()
    }
}

pub(crate) struct Task {
    pub id: String,
    pub model: String,
    pub created_at: String,
    pub output: MediaSpec,
    pub outcome: Outcome,
    pub polls: u32,
    pub throttled: bool,
    pub cancelled: bool,
    pub deleted: bool,
    pub poll_times: Vec<Instant>,
}

pub(crate) enum Phase {
    Pending,
    Throttled,
    Running(f64),
    Succeeded,
    Failed {
        code: &'static str,
        failure: &'static str,
    },
    Cancelled,
}

impl Phase {
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            Phase::Succeeded | Phase::Failed { .. } | Phase::Cancelled
        )
    }
}

impl Task {
    pub fn phase(&self, opts: &FakeOptions) -> Phase {
        let (pending, running) = (opts.pending_polls, opts.running_polls);
        if self.cancelled {
            return Phase::Cancelled;
        }
        if self.throttled {
            return Phase::Throttled;
        }
        if self.polls <= pending {
            return Phase::Pending;
        }
        if let Outcome::Moderated = self.outcome {
            return Phase::Failed {
                code: "SAFETY.INPUT.TEXT",
                failure: "Your prompt text did not pass our content moderation. Please revise it and try again.",
            };
        }
        if self.polls <= pending + running {
            return Phase::Running(f64::from(self.polls - pending) / f64::from(running + 1));
        }
        let video = matches!(self.output, MediaSpec::Video { .. });
        match self.outcome {
            // A moderated task failed when it left `PENDING`, above.
            Outcome::Succeed | Outcome::Moderated => Phase::Succeeded,
            Outcome::Filtered => Phase::Failed {
                code: if video {
                    "SAFETY.OUTPUT.VIDEO"
                } else {
                    "SAFETY.OUTPUT.IMAGE"
                },
                failure: "The generated output did not pass our content moderation.",
            },
            Outcome::Internal => Phase::Failed {
                code: "INTERNAL",
                failure: "An unexpected error occurred. Please try again.",
            },
        }
    }
}

impl Tasks {
    /// A client's poll of task `id`: moves it one step (or out of `THROTTLED` when
    /// a slot is free) and returns its JSON, plus the file to make when it has
    /// succeeded. `None` for an unknown or deleted task.
    pub fn poll(&mut self, id: &str, opts: &FakeOptions) -> Option<(Value, Option<MediaSpec>)> {
        let model = self.by_id.get(id).filter(|t| !t.deleted)?.model.clone();
        let active = self.active(&model, id, opts);
        let task = self.by_id.get_mut(id)?;
        task.poll_times.push(Instant::now());
        if !task.phase(opts).is_terminal() {
            if task.throttled && opts.concurrency.is_none_or(|max| active < max) {
                task.throttled = false;
            }
            if !task.throttled {
                task.polls += 1;
            }
        }
        let mut body = json!({"id": task.id, "createdAt": task.created_at});
        let phase = task.phase(opts);
        body["status"] = json!(match &phase {
            Phase::Pending => "PENDING",
            Phase::Throttled => "THROTTLED",
            Phase::Running(_) => "RUNNING",
            Phase::Succeeded => "SUCCEEDED",
            Phase::Failed { .. } => "FAILED",
            Phase::Cancelled => "CANCELLED",
        });
        match phase {
            Phase::Running(progress) => body["progress"] = json!(progress),
            Phase::Failed { code, failure } => {
                body["failure"] = json!(failure);
                body["failureCode"] = json!(code);
            }
            _ => {}
        }
        let output = matches!(phase, Phase::Succeeded).then_some(task.output);
        Some((body, output))
    }
}
