//! Replicate's webhooks, sent by the fake: a prediction created with `webhook`
//! moves one step every `step_interval` on its own (polls still move it too), and
//! each event of its `webhook_events_filter` (default `output` and `completed`) is
//! POSTed to the URL as the prediction JSON, signed the Standard Webhooks way:
//! `webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64 HMAC-SHA256
//! of "<id>.<timestamp>.<body>">` under the base64 key after `whsec_`.
//!
//! A delivery that fails (no answer or not 2xx) is tried twice more, 100 and
//! 200 ms later, with the same `webhook-id`. Plain `http://` URLs are accepted,
//! unlike on the real service, so tests can point webhooks at a local API.

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::Value;
use sha2::Sha256;

use super::replicate_store::{Advance, Replicate};

/// The events a filter may name.
pub(crate) const EVENTS: [&str; 4] = ["start", "output", "logs", "completed"];

/// The filter of a prediction created without one.
pub(crate) const DEFAULT_EVENTS: [&str; 2] = ["output", "completed"];

/// One webhook the fake sent.
#[derive(Debug, Clone)]
pub struct WebhookDelivery {
    pub at: Instant,
    pub url: String,
    /// `start`, `output`, `logs` or `completed`.
    pub event: String,
    /// The `webhook-id` header, the same for every try.
    pub webhook_id: String,
    /// The last answer's status; `None` when the receiver never answered.
    pub status: Option<u16>,
    /// How many times it was sent.
    pub tries: u32,
    /// The prediction JSON that was sent.
    pub body: Value,
}

/// The `webhook-signature` value for a message, as Replicate computes it.
pub fn sign_webhook(secret: &str, id: &str, timestamp: &str, body: &[u8]) -> String {
    let key = STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap_or(secret))
        .expect("a whsec_ key holds base64");
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("HMAC takes any key length");
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

/// A fresh random signing key.
pub(crate) fn new_secret() -> String {
    let bytes = [uuid::Uuid::new_v4(), uuid::Uuid::new_v4()]
        .iter()
        .flat_map(|u| u.as_bytes().to_vec())
        .take(24)
        .collect::<Vec<u8>>();
    format!("whsec_{}", STANDARD.encode(bytes))
}

/// Moves prediction `id` along on its own and sends its filtered events to `url`,
/// until it has finished and the `completed` event is out.
pub(crate) fn drive(replicate: Arc<Replicate>, id: String, url: String, events: Vec<String>) {
    tokio::spawn(async move {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .expect("a client");
        let (mut started, mut logs, mut output) = (false, String::new(), Value::Null);
        loop {
            tokio::time::sleep(replicate.shared.opts().step_interval).await;
            let Some(body) = replicate.view(&id, Advance::Tick).await else {
                return;
            };
            let status = body["status"].as_str().unwrap_or("");
            let done = ["succeeded", "failed", "canceled", "aborted"].contains(&status);
            let mut due = Vec::new();
            if !started && !body["started_at"].is_null() {
                started = true;
                due.push("start");
            }
            if body["output"] != output && !body["output"].is_null() {
                output = body["output"].clone();
                due.push("output");
            }
            if body["logs"].as_str().is_some_and(|l| l != logs) {
                logs = body["logs"].as_str().unwrap_or("").to_string();
                if !done {
                    due.push("logs");
                }
            }
            if done {
                due.push("completed");
            }
            for event in due.into_iter().filter(|e| events.iter().any(|f| f == e)) {
                let delivery = deliver(&client, &replicate, &url, event, &body).await;
                replicate.inner().deliveries.push(delivery);
            }
            if done {
                return;
            }
        }
    });
}

async fn deliver(
    client: &reqwest::Client,
    replicate: &Replicate,
    url: &str,
    event: &str,
    body: &Value,
) -> WebhookDelivery {
    let raw = serde_json::to_vec(body).expect("JSON");
    let webhook_id = format!("msg_{}", uuid::Uuid::new_v4().simple());
    let secret = replicate.secret().clone();
    let (mut status, mut tries) = (None, 0);
    for wait in [0, 100, 200] {
        tokio::time::sleep(Duration::from_millis(wait)).await;
        tries += 1;
        let timestamp = chrono::Utc::now().timestamp().to_string();
        let signature = sign_webhook(&secret, &webhook_id, &timestamp, &raw);
        let sent = client
            .post(url)
            .header("content-type", "application/json")
            .header("webhook-id", &webhook_id)
            .header("webhook-timestamp", &timestamp)
            .header("webhook-signature", signature)
            .body(raw.clone())
            .send()
            .await;
        status = sent.ok().map(|r| r.status().as_u16());
        if status.is_some_and(|s| (200..300).contains(&s)) {
            break;
        }
    }
    WebhookDelivery {
        at: Instant::now(),
        url: url.to_string(),
        event: event.to_string(),
        webhook_id,
        status,
        tries,
        body: body.clone(),
    }
}
