//! What every remote adapter shares: the HTTP client, the gate that applies the
//! fleet-wide limits before each generation request, the error taxonomy, in-call
//! retries, and prompt downloads of outputs whose URLs expire.
//!
//! Error taxonomy, for every provider:
//!
//! | answer | kind | what happens |
//! | --- | --- | --- |
//! | 429 | retryable, with a wait (`Retry-After`, else 10 s) | the job is delayed without using an attempt |
//! | 5xx, timeout, connection error | retryable | retried here (3 tries, backoff 0.5 s → 2 s), then the attempt fails and BullMQ retries with backoff |
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

/// Overall timeout of one HTTP request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// The shared HTTP client.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
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

/// `Retry-After` in seconds (or an HTTP date is treated as a minute).
pub fn retry_after(response: &Response) -> Duration {
    let header = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .map(str::trim);
    match header {
        Some(v) => v
            .parse::<f64>()
            .map(|s| Duration::from_millis((s.max(0.0) * 1000.0) as u64))
            .unwrap_or(Duration::from_secs(60)),
        None => Duration::from_secs(10),
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

/// Downloads `url` into `dest` at once (provider URLs expire), streaming it.
/// `auth` adds a bearer token where the provider wants it on downloads.
pub async fn download(
    client: &reqwest::Client,
    url: &str,
    auth: Option<&str>,
    dest: &Path,
    provider: Provider,
) -> Result<(), ProviderError> {
    if let Some(data) = url.strip_prefix("data:") {
        return write_data_uri(data, dest).await;
    }
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
    let mut file = tokio::fs::File::create(dest)
        .await
        .map_err(|e| ProviderError::retryable(format!("cannot write {}: {e}", dest.display())))?;
    let mut response = response;
    while let Some(chunk) = response.chunk().await.map_err(|e| {
        ProviderError::retryable(format!(
            "{provider} output download broke off: {}",
            without_url(&e)
        ))
    })? {
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
