//! The knobs every fake shares and the bookkeeping behind them: which key is
//! accepted, how many generation requests a sliding window allows, which requests
//! fail on purpose, how slow the provider is, and the log of every request and of
//! every attempt to create something.
//!
//! A *generation request* is one that creates an image, a task, a prediction, a
//! chat completion or speech; polls, cancels, downloads and listings are never
//! rate limited nor failed on purpose.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::http::StatusCode;

use super::media::Files;
use super::record::RecordedRequest;

/// How a fake behaves when it starts. Every knob can also be turned while it runs,
/// through the setters of [`FakeServer`](super::FakeServer).
#[derive(Debug, Clone)]
pub struct FakeOptions {
    /// The only key accepted; anything else is a 401 in the provider's shape.
    pub api_key: String,
    /// At most this many generation requests in any sliding window of this length;
    /// one more is a 429 with `Retry-After`.
    pub rate_limit: Option<(usize, Duration)>,
    /// A prompt containing this word (any case) is refused the provider's way.
    pub moderate_word: Option<String>,
    /// A prompt containing this word (any case) yields output that the provider's
    /// own output filter catches (Stability `CONTENT_FILTERED`, Runway
    /// `SAFETY.OUTPUT.*`, a failed Replicate prediction).
    pub filter_word: Option<String>,
    /// Added to every generation response.
    pub latency: Duration,
    /// The account has no credits left: Stability 402, Runway 400, Replicate 402.
    pub out_of_credits: bool,
    /// Polls a Runway task stays `PENDING` (a Replicate prediction `starting`).
    pub pending_polls: u32,
    /// Polls a Runway task stays `RUNNING` (a Replicate prediction `processing`).
    pub running_polls: u32,
    /// How long output URLs stay valid after they are handed out (Runway: then
    /// 403; Replicate: counted from completion, then `data_removed`). `None`: forever.
    pub output_ttl: Option<Duration>,
    /// Runway: tasks of one model running at once; more wait in `THROTTLED`.
    pub concurrency: Option<usize>,
    /// Replicate: how long a model takes when a client blocks on it with
    /// `Prefer: wait=N`; it finishes within the request when this is at most N s.
    pub wait_time: Duration,
    /// Replicate: a prediction with a webhook moves one step this often on its
    /// own (polls still move it too).
    pub step_interval: Duration,
    /// What Runway's output URLs serve instead of the real media, if anything.
    pub output_body: Option<OutputBody>,
    /// A URL named as every output instead of the fake's own (Runway's task output,
    /// Replicate's prediction output), as a hostile or broken provider might.
    pub output_url: Option<String>,
}

/// A broken output, as a misbehaving provider or CDN would serve it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputBody {
    /// This many bytes, streamed (never held in memory), labelled `video/mp4`.
    Huge(u64),
    /// A page of text labelled `video/mp4`.
    NotMedia,
}

impl Default for FakeOptions {
    fn default() -> Self {
        Self {
            api_key: "test-key".into(),
            rate_limit: None,
            moderate_word: None,
            filter_word: None,
            latency: Duration::ZERO,
            out_of_credits: false,
            pending_polls: 1,
            running_polls: 2,
            output_ttl: None,
            concurrency: None,
            wait_time: Duration::from_millis(100),
            step_interval: Duration::from_millis(50),
            output_body: None,
            output_url: None,
        }
    }
}

impl FakeOptions {
    /// The defaults, accepting only `api_key`.
    pub fn with_key(api_key: &str) -> Self {
        Self {
            api_key: api_key.into(),
            ..Self::default()
        }
    }
}

/// One generation request as the rate limiter saw it.
#[derive(Debug, Clone)]
pub struct CreateAttempt {
    pub at: Instant,
    pub path: String,
    /// False when it was refused with a 429.
    pub accepted: bool,
}

/// How an accepted task or prediction is going to end, decided when it is created.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Outcome {
    Succeed,
    /// The prompt has the moderated word.
    Moderated,
    /// The output is caught by the provider's output filter.
    Filtered,
    /// An injected failure inside the provider.
    Internal,
}

/// What the gate in front of a generation request decided.
pub(crate) enum Gate {
    /// Go on; `remaining` requests are left in the window (if limited).
    Go { remaining: Option<usize> },
    /// Refuse with 429; a slot frees in this many whole seconds.
    Throttled { retry_after: u64 },
    /// Answer this injected server error.
    Fail(StatusCode),
}

/// State shared by a fake's handlers and its owner.
pub(crate) struct Shared {
    pub base_url: String,
    pub files: Files,
    state: Mutex<State>,
}

pub(crate) struct State {
    pub opts: FakeOptions,
    pub failures: VecDeque<StatusCode>,
    pub task_failures: usize,
    pub requests: Vec<RecordedRequest>,
    pub creates: Vec<CreateAttempt>,
}

impl Shared {
    pub fn new(base_url: String, opts: FakeOptions) -> Self {
        Self {
            base_url,
            files: Files::default(),
            state: Mutex::new(State {
                opts,
                failures: VecDeque::new(),
                task_failures: 0,
                requests: Vec::new(),
                creates: Vec::new(),
            }),
        }
    }

    pub fn state(&self) -> MutexGuard<'_, State> {
        // A panicking handler must not take the whole fake down with it.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The current knobs.
    pub fn opts(&self) -> FakeOptions {
        self.state().opts.clone()
    }

    pub fn key_is(&self, presented: &str) -> bool {
        !presented.is_empty() && self.state().opts.api_key == presented
    }

    /// Whether `text` contains the moderated word.
    pub fn moderated(&self, text: &str) -> bool {
        contains_word(self.state().opts.moderate_word.as_deref(), text)
    }

    /// Whether output for `text` is caught by the output filter.
    pub fn filtered(&self, text: &str) -> bool {
        contains_word(self.state().opts.filter_word.as_deref(), text)
    }

    /// How a task for `prompt` ends; a moderated or filtered prompt does not use
    /// up an injected task failure.
    pub fn outcome(&self, prompt: &str) -> Outcome {
        if self.moderated(prompt) {
            return Outcome::Moderated;
        }
        if self.filtered(prompt) {
            return Outcome::Filtered;
        }
        let mut state = self.state();
        if state.task_failures > 0 {
            state.task_failures -= 1;
            return Outcome::Internal;
        }
        Outcome::Succeed
    }

    /// Rate limit, then injected failures, for one generation request; records
    /// the attempt and then waits out the configured latency.
    pub async fn gate_create(&self, path: &str) -> Gate {
        let (gate, latency) = {
            let mut state = self.state();
            let now = Instant::now();
            let gate = match state.opts.rate_limit {
                Some((max, window)) => {
                    let in_window: Vec<Instant> = state
                        .creates
                        .iter()
                        .filter(|c| c.accepted && now.duration_since(c.at) < window)
                        .map(|c| c.at)
                        .collect();
                    if in_window.len() >= max {
                        // The window frees a slot when its oldest accepted request
                        // leaves it; `in_window` is in arrival order.
                        let oldest = in_window[in_window.len() - max];
                        let wait = (oldest + window).saturating_duration_since(now);
                        Gate::Throttled {
                            retry_after: ceil_secs(wait).max(1),
                        }
                    } else {
                        Gate::Go {
                            remaining: Some(max - in_window.len() - 1),
                        }
                    }
                }
                None => Gate::Go { remaining: None },
            };
            let gate = match (gate, state.failures.pop_front()) {
                (Gate::Go { .. }, Some(status)) => Gate::Fail(status),
                (gate, None) => gate,
                (gate, Some(status)) => {
                    // A refused request does not use up an injected failure.
                    state.failures.push_front(status);
                    gate
                }
            };
            state.creates.push(CreateAttempt {
                at: now,
                path: path.to_string(),
                accepted: !matches!(gate, Gate::Throttled { .. }),
            });
            (gate, state.opts.latency)
        };
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        gate
    }
}

fn contains_word(word: Option<&str>, text: &str) -> bool {
    word.is_some_and(|w| !w.is_empty() && text.to_lowercase().contains(&w.to_lowercase()))
}

/// Now, as providers write timestamps (RFC 3339, UTC, milliseconds).
pub(crate) fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Whole seconds, rounded up.
pub(crate) fn ceil_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

/// The largest number of accepted attempts inside any window of this length.
pub(crate) fn max_in_window(creates: &[CreateAttempt], window: Duration) -> usize {
    let accepted: Vec<Instant> = creates
        .iter()
        .filter(|c| c.accepted)
        .map(|c| c.at)
        .collect();
    (0..accepted.len())
        .map(|i| {
            accepted[i..]
                .iter()
                .take_while(|t| t.duration_since(accepted[i]) < window)
                .count()
        })
        .max()
        .unwrap_or(0)
}
