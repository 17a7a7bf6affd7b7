//! What every remote adapter shares: the HTTP client, the gate that applies the
//! fleet-wide limits before each generation request, the error taxonomy, in-call
//! retries, and prompt downloads of outputs whose URLs expire.
//!
//! Error taxonomy, for every provider:
//!
//! | answer | kind | what happens |
//! | --- | --- | --- |
//! | 429 | retryable, with a wait (`Retry-After`, at most 15 min, else 10 s) | the job is delayed without using an attempt |
//! | 5xx, timeout, connection error | retryable | reads (polls, downloads) are retried here (3 tries, backoff 0.5 s → 2 s); a create is sent once ([`create_json`]); then the attempt fails and BullMQ retries with backoff |
//! | 400, 404, 422 | permanent | the job fails at once with the provider's message |
//! | 401, 403 (auth) | permanent | "check the key" |
//! | 402, credits exhausted | permanent | "payment required" |
//! | moderation refusal | permanent | the provider's reason reaches the story |

use std::path::Path;
use std::time::Duration;

use ai_video_shared::domain::Provider;
use backon::{ExponentialBuilder, Retryable};
use reqwest::{RequestBuilder, Response, StatusCode};
use tokio::io::AsyncWriteExt;

use super::ProviderError;
use super::limits::{Limiter, RateLimits};
use crate::outbound::{Outbound, Refused};

/// The longest wait a provider's `Retry-After` can impose: a longer one is capped,
/// so a job is delayed, never parked for days.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(15 * 60);

/// The shared HTTP client; `timeout` bounds each request
/// (`PROVIDER_REQUEST_TIMEOUT_SECS`).
pub fn client(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(Duration::from_secs(10))
        .user_agent(concat!("ai-video/", env!("CARGO_PKG_VERSION")))
        .build()
        .unwrap_or_default()
}

/// The limits of one provider for one request, checked fleet-wide.
#[derive(Clone)]
pub struct Gate {
    pub limiter: Option<Limiter>,
    pub provider: Provider,
    pub limits: RateLimits,
}

impl Gate {
    /// Takes a request slot, or answers with the wait.
    pub async fn pass(&self) -> Result<(), ProviderError> {
        let Some(limiter) = &self.limiter else {
            return Ok(());
        };
        match limiter.take(self.provider, self.limits).await {
            Ok(None) => Ok(()),
            Ok(Some(wait)) => {
                crate::metrics::rate_limited(self.provider, false, wait);
                tracing::info!(provider = %self.provider, wait_ms = wait.as_millis() as u64, "rate limit reached; delaying the job");
                Err(ProviderError::RateLimited {
                    message: format!("{} rate limit reached", self.provider),
                    wait,
                })
            }
            Err(e) => Err(ProviderError::retryable(format!(
                "cannot check the rate limit: {e}"
            ))),
        }
    }
}

/// Whether an error is worth another try inside this call.
fn transient(err: &ProviderError) -> bool {
    matches!(err, ProviderError::Retryable { .. })
}

/// Sends a request, retrying transient failures (5xx, timeouts, connection errors)
/// with exponential backoff. 429 is not retried here: the job waits in the queue.
pub async fn send(
    build: impl Fn() -> RequestBuilder,
    provider: Provider,
) -> Result<Response, ProviderError> {
    let attempt = || async {
        let started = std::time::Instant::now();
        let sent = build().send().await;
        let status = sent.as_ref().ok().map(|r| r.status().as_u16());
        crate::metrics::provider_request(provider, status, started.elapsed());
        let response = sent.map_err(|e| connection_error(provider, &e))?;
        if response.status().is_server_error() {
            let status = response.status();
            let body = response.text().await.unwrap_or_default();
            return Err(ProviderError::retryable(format!(
                "{provider} answered {status}: {}",
                short(&body)
            )));
        }
        Ok(response)
    };
    attempt
        .retry(
            ExponentialBuilder::default()
                .with_min_delay(Duration::from_millis(500))
                .with_max_delay(Duration::from_secs(2))
                .with_max_times(2),
        )
        .when(transient)
        .notify(|err, wait| tracing::debug!(%err, wait_ms = wait.as_millis() as u64, "retrying a provider call"))
        .await
}

fn connection_error(provider: Provider, err: &reqwest::Error) -> ProviderError {
    // A redirect or an address the outbound guard refused: asking again cannot help.
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = source {
        if let Some(refused) = e.downcast_ref::<Refused>() {
            return ProviderError::Permanent(format!("{provider}: {refused}"));
        }
        source = e.source();
    }
    if err.is_redirect() {
        return ProviderError::Permanent(format!("{provider}: {}", without_url(err)));
    }
    let what = if err.is_timeout() {
        "timed out"
    } else {
        "could not be reached"
    };
    ProviderError::retryable(format!("{provider} {what}: {}", without_url(err)))
}

/// A reqwest error's message without the URL (which may carry signatures).
fn without_url(err: &reqwest::Error) -> String {
    let mut text = err.to_string();
    if let Some(url) = err.url() {
        text = text.replace(url.as_str(), "<url>");
    }
    text
}

/// The first 300 characters of a body, for messages.
pub fn short(body: &str) -> String {
    let body = body.trim();
    let mut out: String = body.chars().take(300).collect();
    if body.chars().count() > 300 {
        out.push('…');
    }
    out
}

/// `Retry-After` in seconds (or an HTTP date is treated as a minute), at most
/// [`MAX_RETRY_AFTER`].
pub fn retry_after(response: &Response) -> Duration {
    let header = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .map(str::trim);
    let wait = match header {
        Some(v) => v
            .parse::<f64>()
            .ok()
            .filter(|s| s.is_finite())
            .map(|s| Duration::from_secs_f64(s.clamp(0.0, MAX_RETRY_AFTER.as_secs_f64())))
            .unwrap_or(Duration::from_secs(60)),
        None => Duration::from_secs(10),
    };
    wait.min(MAX_RETRY_AFTER)
}

/// When a provider's task must have ended: its `settings.deadline_secs`, else the
/// kind's default. Polling stops there; the caller cancels the task.
#[derive(Debug, Clone, Copy)]
pub struct Deadline {
    at: std::time::Instant,
    limit: Duration,
}

impl Deadline {
    pub fn new(deadline_secs: Option<u64>, default: Duration) -> Self {
        let limit = deadline_secs.map(Duration::from_secs).unwrap_or(default);
        Self {
            at: std::time::Instant::now() + limit,
            limit,
        }
    }

    pub fn passed(&self) -> bool {
        std::time::Instant::now() >= self.at
    }

    /// The failed attempt's reason, naming the deadline.
    pub fn error(&self, provider: Provider, what: &str) -> ProviderError {
        ProviderError::retryable(format!(
            "{provider} {what} did not finish within its deadline of {} s (settings.deadline_secs); it was cancelled",
            self.limit.as_secs()
        ))
    }
}

/// Maps a non-success answer to the taxonomy; `reason` is the provider's own
/// message, already extracted from its error body.
pub fn classify(
    provider: Provider,
    status: StatusCode,
    reason: &str,
    wait: Duration,
) -> ProviderError {
    let reason = short(reason);
    match status {
        StatusCode::TOO_MANY_REQUESTS => {
            crate::metrics::rate_limited(provider, true, wait);
            ProviderError::RateLimited {
                message: format!("{provider} is rate limiting us: {reason}"),
                wait,
            }
        }
        StatusCode::UNAUTHORIZED => {
            ProviderError::Permanent(format!("{provider} refused the API key: {reason}"))
        }
        StatusCode::PAYMENT_REQUIRED => {
            ProviderError::Permanent(format!("{provider} needs payment: {reason}"))
        }
        s if s.is_server_error() || s == StatusCode::REQUEST_TIMEOUT => {
            ProviderError::retryable(format!("{provider} answered {s}: {reason}"))
        }
        s => ProviderError::Permanent(format!("{provider} refused the request ({s}): {reason}")),
    }
}

/// What a provider's output must be: a kind of media, under a size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Output {
    pub kind: MediaKind,
    pub max_bytes: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaKind {
    Image,
    Video,
    Audio,
}

impl MediaKind {
    fn name(self) -> &'static str {
        match self {
            MediaKind::Image => "image",
            MediaKind::Video => "video",
            MediaKind::Audio => "audio",
        }
    }
}

/// The size caps of outputs (`PROVIDER_MAX_IMAGE_MB`, `PROVIDER_MAX_CLIP_MB`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caps {
    pub image_bytes: u64,
    pub clip_bytes: u64,
    /// A music bed fetched from a URL (`MUSIC_MAX_MB`).
    pub music_bytes: u64,
}

impl Default for Caps {
    fn default() -> Self {
        Self {
            image_bytes: 50 << 20,
            clip_bytes: 500 << 20,
            music_bytes: 25 << 20,
        }
    }
}

impl Caps {
    pub fn image(&self) -> Output {
        Output {
            kind: MediaKind::Image,
            max_bytes: self.image_bytes,
        }
    }

    pub fn clip(&self) -> Output {
        Output {
            kind: MediaKind::Video,
            max_bytes: self.clip_bytes,
        }
    }

    pub fn music(&self) -> Output {
        Output {
            kind: MediaKind::Audio,
            max_bytes: self.music_bytes,
        }
    }
}

/// Downloads `url` into `dest` at once (provider URLs expire), streaming it to disk:
/// no output is held in memory, one labelled as something other than `output`'s
/// kind of media is refused, and one larger than its cap is cut off and refused.
/// The URL passes the outbound guard first (an internal address, a scheme other
/// than https, is a permanent refusal). `auth` is the provider's bearer token and
/// API base: the token goes with the download only to that origin.
pub async fn download(
    client: &reqwest::Client,
    outbound: &Outbound,
    url: &str,
    auth: Option<(&str, &str)>,
    dest: &Path,
    provider: Provider,
    output: Output,
) -> Result<(), ProviderError> {
    if let Some(data) = url.strip_prefix("data:") {
        return write_data_uri(data, dest).await;
    }
    let parsed = reqwest::Url::parse(url).map_err(|e| {
        ProviderError::Permanent(format!("{provider} named an output that is not a URL: {e}"))
    })?;
    outbound
        .check(&parsed)
        .await
        .map_err(|refused| ProviderError::Permanent(format!("{provider} output: {refused}")))?;
    let auth = auth
        .filter(|(_, base)| Outbound::same_origin(&parsed, base))
        .map(|(token, _)| token);
    let response = send(
        || {
            let req = client.get(url);
            match auth {
                Some(token) => req.bearer_auth(token),
                None => req,
            }
        },
        provider,
    )
    .await?;
    let status = response.status();
    if !status.is_success() {
        return Err(ProviderError::Expired(format!(
            "{provider} output could not be downloaded ({status})"
        )));
    }
    write_body(response, dest, provider, output).await
}

/// Streams a response body into `dest`, checking its media type and size.
pub async fn write_body(
    mut response: Response,
    dest: &Path,
    provider: impl std::fmt::Display,
    output: Output,
) -> Result<(), ProviderError> {
    let kind = output.kind.name();
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let media = content_type.split(';').next().unwrap_or("").trim();
    let fits = media.is_empty()
        || media.starts_with(&format!("{kind}/"))
        || (output.kind == MediaKind::Audio && media == "application/ogg")
        || media == "application/octet-stream"
        || media == "binary/octet-stream";
    // An unusable output is the provider's answer, not a glitch: fetching it again
    // gives the same, so the job fails at once with the reason.
    if !fits {
        return Err(ProviderError::Permanent(format!(
            "{provider} served {media} where an {kind} was expected"
        )));
    }
    let too_big = || {
        ProviderError::Permanent(format!(
            "{provider}'s {kind} output is larger than the {} MB cap",
            output.max_bytes >> 20
        ))
    };
    if response
        .content_length()
        .is_some_and(|n| n > output.max_bytes)
    {
        return Err(too_big());
    }
    let mut file = tokio::fs::File::create(dest)
        .await
        .map_err(|e| ProviderError::retryable(format!("cannot write {}: {e}", dest.display())))?;
    let mut written: u64 = 0;
    while let Some(chunk) = response.chunk().await.map_err(|e| {
        ProviderError::retryable(format!(
            "{provider} output download broke off: {}",
            without_url(&e)
        ))
    })? {
        written += chunk.len() as u64;
        if written > output.max_bytes {
            drop(file);
            let _ = tokio::fs::remove_file(dest).await;
            return Err(too_big());
        }
        file.write_all(&chunk).await.map_err(|e| {
            ProviderError::retryable(format!("cannot write {}: {e}", dest.display()))
        })?;
    }
    file.flush()
        .await
        .map_err(|e| ProviderError::retryable(e.to_string()))?;
    Ok(())
}

async fn write_data_uri(data: &str, dest: &Path) -> Result<(), ProviderError> {
    use base64::Engine;
    let (_, payload) = data
        .split_once(";base64,")
        .ok_or_else(|| ProviderError::Permanent("an output data URI is not base64".into()))?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(payload.trim())
        .map_err(|e| {
            ProviderError::Permanent(format!("an output data URI does not decode: {e}"))
        })?;
    tokio::fs::write(dest, bytes)
        .await
        .map_err(|e| ProviderError::retryable(format!("cannot write {}: {e}", dest.display())))
}

/// A file as a `data:` URI, for providers that take inputs inline.
pub async fn data_uri(path: &Path, mime: &str) -> Result<String, ProviderError> {
    use base64::Engine;
    let bytes = tokio::fs::read(path)
        .await
        .map_err(|e| ProviderError::retryable(format!("cannot read {}: {e}", path.display())))?;
    Ok(format!(
        "data:{mime};base64,{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    ))
}

/// Sends a request (with [`send`]'s retries) and reads its JSON answer. A
/// non-success answer is classified with the provider's own message, which
/// `reason` extracts from the error body.
pub async fn call_json(
    build: impl Fn() -> RequestBuilder,
    provider: Provider,
    reason: fn(&str) -> String,
) -> Result<serde_json::Value, ProviderError> {
    let response = send(build, provider).await?;
    read_json(response, provider, reason).await
}

/// Sends a request that buys something (a task, a prediction) exactly once: a
/// timeout or a 5xx fails this attempt instead of sending it again, since the
/// provider may have accepted it.
pub async fn create_json(
    build: impl Fn() -> RequestBuilder,
    provider: Provider,
    reason: fn(&str) -> String,
) -> Result<serde_json::Value, ProviderError> {
    let response = send_once(build(), provider).await?;
    read_json(response, provider, reason).await
}

/// Sends a request that buys something once, without the in-call retries of
/// [`send`]; the caller reads the answer.
pub async fn send_once(
    request: RequestBuilder,
    provider: Provider,
) -> Result<Response, ProviderError> {
    let started = std::time::Instant::now();
    let sent = request.send().await;
    let status = sent.as_ref().ok().map(|r| r.status().as_u16());
    crate::metrics::provider_request(provider, status, started.elapsed());
    sent.map_err(|e| connection_error(provider, &e))
}

async fn read_json(
    response: Response,
    provider: Provider,
    reason: fn(&str) -> String,
) -> Result<serde_json::Value, ProviderError> {
    let status = response.status();
    let wait = retry_after(&response);
    let text = response.text().await.unwrap_or_default();
    if !status.is_success() {
        return Err(classify(provider, status, &reason(&text), wait));
    }
    serde_json::from_str(&text).map_err(|e| {
        ProviderError::retryable(format!(
            "{provider} answered something that is not JSON: {e}"
        ))
    })
}
