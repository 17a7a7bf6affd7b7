//! Webhook delivery: takes due deliveries from the database (leased, so one worker
//! sends each), signs them per Standard Webhooks (`webhook-id` stable across retries,
//! `webhook-timestamp`, `webhook-signature` with the current secret and, during a
//! rotation's grace, the previous one), POSTs them through the outbound guard and
//! records every attempt. 2xx is delivered; `410 Gone` disables the endpoint; any
//! other answer, a refusal by the guard or a timeout is retried on the configured
//! schedule, `Retry-After` honoured.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ai_video_shared::config::{ConfigError, Env, parse_or};
use ai_video_shared::domain::envelope;
use ai_video_shared::domain::webhook::{
    Answer, DEFAULT_SCHEDULE, Verdict, parse_delay, parse_schedule, verdict,
};
use ai_video_shared::store::webhook_sends::{self, Attempt, Due};
use ai_video_shared::webhooks::{message_id, signature_header};
use chrono::Utc;
use futures::future::join_all;
use sea_orm::DatabaseConnection;
use tokio::sync::watch;
use uuid::Uuid;

use crate::outbound::{GuardedClient, Outbound};

/// Deliveries sent at once by one worker.
const BATCH: u64 = 32;

/// How deliveries are sent and retried.
#[derive(Debug, Clone)]
pub struct WebhookConfig {
    /// Delays between attempts (`WEBHOOK_RETRY_SCHEDULE`, the specification's by
    /// default: 5s,5m,30m,2h,5h,10h,10h).
    pub schedule: Vec<Duration>,
    /// Each attempt's limit (`WEBHOOK_TIMEOUT_SECS`, 15).
    pub timeout: Duration,
    /// An endpoint whose deliveries all failed this long is disabled
    /// (`WEBHOOK_DISABLE_AFTER`, 5d).
    pub disable_after: Duration,
    /// How often the database is asked for due deliveries (`WEBHOOK_POLL_MS`, 500).
    pub poll: Duration,
    /// The deployment's public URL (`PUBLIC_URL`), for links in payloads.
    pub public_url: Option<String>,
}

impl WebhookConfig {
    pub fn from_env(env: &dyn Env) -> Result<Self, ConfigError> {
        let schedule = env
            .var("WEBHOOK_RETRY_SCHEDULE")
            .unwrap_or_else(|| DEFAULT_SCHEDULE.into());
        let schedule = parse_schedule(&schedule)
            .map_err(|e| ConfigError::new("WEBHOOK_RETRY_SCHEDULE", e.0))?;
        let disable_after = parse_delay(
            &env.var("WEBHOOK_DISABLE_AFTER")
                .unwrap_or_else(|| "5d".into()),
        )
        .map_err(|e| ConfigError::new("WEBHOOK_DISABLE_AFTER", e.0))?;
        let timeout: u64 = parse_or(env, "WEBHOOK_TIMEOUT_SECS", 15)?;
        if !(1..=60).contains(&timeout) {
            return Err(ConfigError::new(
                "WEBHOOK_TIMEOUT_SECS",
                "must be between 1 and 60",
            ));
        }
        let poll: u64 = parse_or(env, "WEBHOOK_POLL_MS", 500)?;
        Ok(Self {
            schedule,
            timeout: Duration::from_secs(timeout),
            disable_after,
            poll: Duration::from_millis(poll.clamp(10, 60_000)),
            public_url: env.var("PUBLIC_URL").filter(|u| !u.trim().is_empty()),
        })
    }
}

/// The sender task.
pub struct Sender {
    db: DatabaseConnection,
    outbound: Arc<Outbound>,
    client: reqwest::Client,
    config: WebhookConfig,
}

impl Sender {
    pub fn new(db: DatabaseConnection, outbound: Arc<Outbound>, config: WebhookConfig) -> Self {
        let client = outbound.client(config.timeout);
        Self {
            db,
            outbound,
            client,
            config,
        }
    }

    /// Runs until `shutdown` turns true; a delivery being sent is finished first.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let lease = self.config.timeout + Duration::from_secs(30);
        loop {
            if *shutdown.borrow() {
                return;
            }
            let due = match webhook_sends::claim(&self.db, BATCH, lease).await {
                Ok(due) => due,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read due webhook deliveries");
                    Vec::new()
                }
            };
            let busy = !due.is_empty();
            join_all(due.into_iter().map(|d| self.send(d))).await;
            if busy {
                continue;
            }
            tokio::select! {
                () = tokio::time::sleep(self.config.poll) => {}
                _ = shutdown.changed() => {}
            }
        }
    }

    async fn send(&self, due: Due) {
        let started = Instant::now();
        let (answer, error) = self.post(&due).await;
        let number = due.delivery.attempts.max(0) as u32 + 1;
        let jitter = (Uuid::new_v4().as_u128() >> 64) as f64 / u64::MAX as f64;
        let decided = verdict(&answer, number, &self.config.schedule, jitter);
        let status_code = match answer {
            Answer::Status { code, .. } => Some(code),
            Answer::NoAnswer => None,
        };
        let outcome = match &decided {
            Verdict::Delivered => "delivered",
            Verdict::Retry(_) => "retry",
            Verdict::GiveUp => "failed",
            Verdict::Gone => "gone",
        };
        metrics::counter!(crate::metrics::WEBHOOK_ATTEMPTS, "outcome" => outcome).increment(1);
        tracing::info!(
            delivery = %due.delivery.id, endpoint = %due.endpoint.id, event = due.event.id,
            attempt = number, status = ?status_code, outcome, "webhook attempt"
        );
        let attempt = Attempt {
            status_code,
            duration_ms: started.elapsed().as_millis() as i64,
            error,
            verdict: decided,
            disable_after: self.config.disable_after,
        };
        if let Err(e) = webhook_sends::finish(&self.db, &due, attempt).await {
            tracing::warn!(error = %e, delivery = %due.delivery.id, "cannot record a webhook attempt; it is sent again when its lease ends");
        }
    }

    /// One POST; the answer, and what went wrong if it was not a 2xx.
    async fn post(&self, due: &Due) -> (Answer, Option<String>) {
        let url = match reqwest::Url::parse(&due.endpoint.url) {
            Ok(u) => u,
            Err(e) => return (Answer::NoAnswer, Some(format!("the URL is not valid: {e}"))),
        };
        if let Err(refused) = self.outbound.check(&url).await {
            return (Answer::NoAnswer, Some(refused.to_string()));
        }
        let event = &due.event;
        let body = envelope(
            &event.event_type,
            event.created_at,
            &event.data,
            self.config.public_url.as_deref(),
        );
        let body = serde_json::to_vec(&body).expect("an event serializes");
        let id = message_id(event.id);
        let timestamp = Utc::now().timestamp().to_string();
        let mut secrets = vec![due.endpoint.secret.as_str()];
        if let (Some(old), Some(until)) = (
            &due.endpoint.previous_secret,
            due.endpoint.previous_secret_expires_at,
        ) && until > Utc::now()
        {
            secrets.push(old.as_str());
        }
        let signature = match signature_header(&secrets, &id, &timestamp, &body) {
            Ok(s) => s,
            Err(e) => return (Answer::NoAnswer, Some(format!("cannot sign: {e}"))),
        };
        let sent = self
            .client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("webhook-id", &id)
            .header("webhook-timestamp", &timestamp)
            .header("webhook-signature", signature)
            .body(body)
            .send()
            .await;
        match sent {
            Ok(response) => {
                let code = response.status().as_u16();
                let retry_after = response
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| retry_after(v, Utc::now()));
                let error = (!response.status().is_success())
                    .then(|| format!("the endpoint answered {}", response.status()));
                (Answer::Status { code, retry_after }, error)
            }
            Err(e) if e.is_timeout() => (
                Answer::NoAnswer,
                Some(format!(
                    "no answer within {} s",
                    self.config.timeout.as_secs()
                )),
            ),
            Err(e) => (Answer::NoAnswer, Some(error_chain(&e))),
        }
    }
}

/// `Retry-After`: a number of seconds, or an HTTP date (a date already past asks for
/// no wait).
fn retry_after(value: &str, now: chrono::DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    Some((at.with_timezone(&Utc) - now).to_std().unwrap_or_default())
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        let now = chrono::DateTime::parse_from_rfc3339("2026-12-03T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(retry_after("120", now), Some(Duration::from_secs(120)));
        assert_eq!(
            retry_after("Thu, 03 Dec 2026 10:05:00 GMT", now),
            Some(Duration::from_secs(300))
        );
        assert_eq!(
            retry_after("Thu, 03 Dec 2026 09:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(retry_after("soon", now), None);
    }
}
