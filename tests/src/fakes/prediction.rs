//! One prediction of the fake Replicate and how it moves: `starting` for the
//! configured pending polls, `processing` for the running polls (a log line per
//! step, tqdm-style as real models print), then `succeeded`, or `failed` with
//! the `error` text a model gives (NSFW, or an internal error), or `canceled`.
//! A `Cancel-After` deadline that passes makes it `aborted` (not started yet) or
//! `canceled` (running). Its JSON has the fields of Replicate's prediction object.

use std::time::Instant;

use serde_json::{Value, json};

use super::control::{FakeOptions, Outcome, now_rfc3339};
use super::replicate_input::Planned;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Starting,
    Processing,
    Succeeded,
    Failed,
    Canceled,
    Aborted,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Status::Starting => "starting",
            Status::Processing => "processing",
            Status::Succeeded => "succeeded",
            Status::Failed => "failed",
            Status::Canceled => "canceled",
            Status::Aborted => "aborted",
        }
    }

    fn is_terminal(self) -> bool {
        matches!(
            self,
            Status::Succeeded | Status::Failed | Status::Canceled | Status::Aborted
        )
    }
}

pub(crate) struct Prediction {
    pub id: String,
    pub planned: Planned,
    pub polls: u32,
    pub poll_times: Vec<Instant>,
    pub completed: Option<Instant>,
    /// When `Cancel-After` ends it, as an instant and as a timestamp.
    pub deadline: Option<(Instant, String)>,
    /// The `webhook` URL and `webhook_events_filter` it was created with.
    pub webhook: Option<(String, Vec<String>)>,
    model: String,
    version: String,
    input: Value,
    outcome: Outcome,
    status: Status,
    created: (Instant, String),
    started: Option<(Instant, String)>,
    completed_at: Option<String>,
    output: Option<Value>,
    error: Option<String>,
    logs: String,
    seed: u32,
}

impl Prediction {
    pub fn new(
        model: String,
        version: String,
        input: Value,
        planned: Planned,
        outcome: Outcome,
    ) -> Self {
        let seed = input["seed"]
            .as_u64()
            .map_or_else(|| uuid::Uuid::new_v4().as_u128() as u32, |s| s as u32);
        Self {
            id: prediction_id(),
            planned,
            polls: 0,
            poll_times: Vec::new(),
            completed: None,
            deadline: None,
            webhook: None,
            model,
            version,
            input,
            outcome,
            status: Status::Starting,
            created: (Instant::now(), now_rfc3339()),
            started: None,
            completed_at: None,
            output: None,
            error: None,
            logs: String::new(),
            seed,
        }
    }

    /// Moves `n` polls along (nothing once finished).
    pub fn step(&mut self, n: u32, opts: &FakeOptions) {
        let (pending, running) = (opts.pending_polls, opts.running_polls);
        for _ in 0..n {
            if self.status.is_terminal() {
                return;
            }
            self.polls += 1;
            if self.polls <= pending {
                continue;
            }
            if self.started.is_none() {
                self.started = Some((Instant::now(), now_rfc3339()));
                self.logs.push_str(&format!("Using seed: {}\n", self.seed));
            }
            let step = (self.polls - pending).min(running);
            if let Some(pct) = (step * 100).checked_div(running) {
                self.logs
                    .push_str(&format!("{pct:>3}%| {step}/{running}\n"));
            }
            if self.polls <= pending + running {
                self.status = Status::Processing;
                continue;
            }
            match self.outcome {
                Outcome::Succeed => self.status = Status::Succeeded,
                Outcome::Moderated => self.fail_with(
                    "NSFW content detected. Try running it again, or try a different prompt.".into(),
                ),
                Outcome::Filtered => self.fail_with(
                    "All generated images contained NSFW content. Try running it again with a different prompt.".into(),
                ),
                Outcome::Internal => self.fail_with(
                    "Prediction failed: an internal error occurred. Please try again.".into(),
                ),
            }
            self.finish();
        }
    }

    /// Ends the prediction if its deadline has passed.
    pub fn enforce_deadline(&mut self) {
        let passed = self
            .deadline
            .as_ref()
            .is_some_and(|d| Instant::now() >= d.0);
        if passed && !self.status.is_terminal() {
            self.status = if self.started.is_some() {
                Status::Canceled
            } else {
                Status::Aborted
            };
            self.finish();
        }
    }

    fn finish(&mut self) {
        if self.completed.is_none() {
            self.completed = Some(Instant::now());
            self.completed_at = Some(now_rfc3339());
        }
    }

    /// Succeeded, with its files not made yet.
    pub fn needs_output(&self) -> bool {
        self.status == Status::Succeeded && self.output.is_none()
    }

    pub fn set_output(&mut self, urls: Vec<String>) {
        self.output = Some(if self.planned.list {
            json!(urls)
        } else {
            json!(urls.first())
        });
    }

    pub fn fail_with(&mut self, error: String) {
        self.status = Status::Failed;
        self.logs.push_str(&format!("{error}\n"));
        self.error = Some(error);
        self.finish();
    }

    /// Cancels a running prediction; false if it had already finished.
    pub fn cancel(&mut self) -> bool {
        if self.status.is_terminal() {
            return false;
        }
        self.status = Status::Canceled;
        self.finish();
        true
    }

    /// The prediction object; inputs, outputs and logs gone after the output TTL.
    pub fn to_json(&self, base_url: &str, opts: &FakeOptions) -> Value {
        let removed = self
            .completed
            .zip(opts.output_ttl)
            .is_some_and(|(at, ttl)| Instant::now() >= at + ttl);
        let id = &self.id;
        let mut body = json!({
            "id": id,
            "model": self.model,
            "version": self.version,
            "input": if removed { json!({}) } else { self.input.clone() },
            "logs": if removed { "" } else { self.logs.as_str() },
            "output": if removed { Value::Null } else { self.output.clone().unwrap_or(Value::Null) },
            "data_removed": removed,
            "error": self.error,
            "status": self.status.as_str(),
            "source": "api",
            "created_at": self.created.1,
            "started_at": self.started.as_ref().map(|s| &s.1),
            "completed_at": self.completed_at,
            "urls": {
                "get": format!("{base_url}/v1/predictions/{id}"),
                "cancel": format!("{base_url}/v1/predictions/{id}/cancel"),
                "web": format!("https://replicate.com/p/{id}"),
            },
        });
        if let Some((_, at)) = &self.deadline {
            body["deadline"] = json!(at);
        }
        if let Some((url, events)) = &self.webhook {
            body["webhook"] = json!(url);
            body["webhook_events_filter"] = json!(events);
        }
        if let Some(done) = self.completed {
            let predict = self
                .started
                .as_ref()
                .map_or(0.0, |s| done.duration_since(s.0).as_secs_f64());
            let total = done.duration_since(self.created.0).as_secs_f64();
            body["metrics"] = json!({"predict_time": predict, "total_time": total});
        }
        body
    }
}

/// 26 lowercase letters and digits, like Replicate's ids.
fn prediction_id() -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let bytes = [uuid::Uuid::new_v4(), uuid::Uuid::new_v4()];
    bytes
        .iter()
        .flat_map(|u| u.as_bytes().to_vec())
        .take(26)
        .map(|b| ALPHABET[usize::from(b) % ALPHABET.len()] as char)
        .collect()
}
