//! Local HTTP servers that stand in for the real providers in tests:
//! [`FakeStability`], [`FakeRunway`] and [`FakeReplicate`] for images and video,
//! [`FakeOpenAi`] for planning (chat completions) and narration (speech), and
//! [`FakeElevenLabs`] for narration with character timings. They speak the real
//! APIs (paths, headers, status codes, bodies, polling, 429 with `Retry-After`,
//! Replicate's signed webhooks) and return real media made by ffmpeg; speech is a
//! deterministic tone whose length [`speech_seconds`] predicts.
//!
//! Each fake listens on 127.0.0.1 on a free port, must be started inside a Tokio
//! runtime, and stops when dropped. Point an adapter at [`FakeServer::base_url`]
//! (`STABILITY_API_BASE`, `RUNWAY_API_BASE`, `REPLICATE_API_BASE`; OpenAI clients
//! at [`FakeOpenAi::api_base`], `{base_url}/v1`). The knobs of
//! [`FakeOptions`] can be turned while a fake runs; every request is recorded, so a
//! test can assert what an adapter sent as well as what it did with the answers.

mod control;
mod elevenlabs;
mod elevenlabs_input;
mod elevenlabs_tts;
mod media;
mod openai;
mod openai_chat;
mod openai_schema;
mod openai_speech;
mod prediction;
mod record;
mod replicate;
mod replicate_input;
mod replicate_options;
mod replicate_store;
mod runway;
mod runway_input;
mod runway_task;
mod stability;
mod stability_input;
mod tone;
mod webhook;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use tokio::sync::oneshot;

pub use control::{CreateAttempt, FakeOptions, OutputBody};
pub use elevenlabs::{FakeElevenLabs, TtsExchange};
pub use openai::FakeOpenAi;
pub use openai_chat::{ChatExchange, ChatReply, ChatResponder};
pub use openai_speech::{SPEECH_SAMPLE_RATE, SpeechExchange};
pub use record::{Form, RecordedBody, RecordedRequest};
pub use replicate::{FakeReplicate, OutputKind};
pub use runway::FakeRunway;
pub use stability::FakeStability;
pub use tone::{SECONDS_PER_CHAR, SENTENCE_PAUSE, speech_seconds};
pub use webhook::{WebhookDelivery, sign_webhook};

use control::Shared;

/// What the fakes share: the listening server, the knobs and the logs.
/// Each fake dereferences to it.
pub struct FakeServer {
    addr: SocketAddr,
    pub(crate) shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
}

impl FakeServer {
    /// Binds a free port; `router` builds the provider's routes on the shared state.
    pub(crate) fn start(opts: FakeOptions, router: impl FnOnce(Arc<Shared>) -> Router) -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
        listener.set_nonblocking(true).expect("non-blocking socket");
        let addr = listener.local_addr().expect("local address");
        let listener = tokio::net::TcpListener::from_std(listener)
            .expect("a fake provider starts inside a Tokio runtime");
        let shared = Arc::new(Shared::new(format!("http://{addr}"), opts));
        let app = router(shared.clone())
            .layer(axum::middleware::from_fn_with_state(
                shared.clone(),
                record::record,
            ))
            // Sizes are the providers' to judge (Stability's 10 MiB, Runway's 5 MB).
            .layer(DefaultBodyLimit::disable());
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
        });
        Self {
            addr,
            shared,
            stop: Some(stop),
        }
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn api_key(&self) -> String {
        self.shared.opts().api_key
    }

    pub fn set_api_key(&self, key: &str) {
        self.shared.state().opts.api_key = key.into();
    }

    /// At most `max` generation requests in any sliding `window`.
    pub fn set_rate_limit(&self, limit: Option<(usize, Duration)>) {
        self.shared.state().opts.rate_limit = limit;
    }

    /// The next `n` generation requests answer `status` (500, 502, 503 or 504) in
    /// the provider's error shape. Requests refused with 429 do not count.
    pub fn fail_next(&self, n: usize, status: u16) {
        let status = StatusCode::from_u16(status).expect("an HTTP status");
        assert!(status.is_server_error(), "fail_next takes a 5xx status");
        let mut state = self.shared.state();
        state.failures.extend(std::iter::repeat_n(status, n));
    }

    /// The next `n` tasks (Runway) or predictions (Replicate) are accepted and then
    /// fail inside the provider: Runway `FAILED` with `failureCode: "INTERNAL"`,
    /// Replicate `failed` with an `error`. Stability, OpenAI and ElevenLabs ignore this.
    pub fn fail_next_tasks(&self, n: usize) {
        self.shared.state().task_failures += n;
    }

    pub fn set_moderate_word(&self, word: Option<&str>) {
        self.shared.state().opts.moderate_word = word.map(String::from);
    }

    pub fn set_filter_word(&self, word: Option<&str>) {
        self.shared.state().opts.filter_word = word.map(String::from);
    }

    pub fn set_latency(&self, latency: Duration) {
        self.shared.state().opts.latency = latency;
    }

    pub fn set_out_of_credits(&self, out: bool) {
        self.shared.state().opts.out_of_credits = out;
    }

    /// Serve a broken output instead of the real media (Runway).
    pub fn set_output_body(&self, body: Option<OutputBody>) {
        self.shared.state().opts.output_body = body;
    }

    /// Name this URL as every output instead of the fake's own (Runway, Replicate).
    pub fn set_output_url(&self, url: Option<&str>) {
        self.shared.state().opts.output_url = url.map(str::to_string);
    }

    /// Polls spent `PENDING`/`starting` and `RUNNING`/`processing`.
    pub fn set_polls(&self, pending: u32, running: u32) {
        let mut state = self.shared.state();
        state.opts.pending_polls = pending;
        state.opts.running_polls = running;
    }

    pub fn set_output_ttl(&self, ttl: Option<Duration>) {
        self.shared.state().opts.output_ttl = ttl;
    }

    /// Runway's per-model concurrency; tasks beyond it wait `THROTTLED`.
    pub fn set_concurrency(&self, max: Option<usize>) {
        self.shared.state().opts.concurrency = max;
    }

    /// Replicate: how long a model takes when waited on with `Prefer: wait`.
    pub fn set_wait_time(&self, time: Duration) {
        self.shared.state().opts.wait_time = time;
    }

    /// Replicate: how often a prediction with a webhook moves on its own.
    pub fn set_step_interval(&self, interval: Duration) {
        self.shared.state().opts.step_interval = interval;
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.state().requests.clone()
    }

    /// The requests with this method whose path starts with `path_prefix`.
    pub fn requests_to(&self, method: &str, path_prefix: &str) -> Vec<RecordedRequest> {
        self.shared
            .state()
            .requests
            .iter()
            .filter(|r| r.method == method && r.path.starts_with(path_prefix))
            .cloned()
            .collect()
    }

    /// Every generation request that reached the rate limiter, in order.
    pub fn creates(&self) -> Vec<CreateAttempt> {
        self.shared.state().creates.clone()
    }

    /// When the accepted generation requests arrived.
    pub fn accepted_creates(&self) -> Vec<Instant> {
        self.creates_where(true)
    }

    /// When the generation requests refused with 429 arrived.
    pub fn refused_creates(&self) -> Vec<Instant> {
        self.creates_where(false)
    }

    /// The most accepted generation requests inside any window of this length.
    pub fn max_accepted_in_window(&self, window: Duration) -> usize {
        control::max_in_window(&self.shared.state().creates, window)
    }

    fn creates_where(&self, accepted: bool) -> Vec<Instant> {
        self.shared
            .state()
            .creates
            .iter()
            .filter(|c| c.accepted == accepted)
            .map(|c| c.at)
            .collect()
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
