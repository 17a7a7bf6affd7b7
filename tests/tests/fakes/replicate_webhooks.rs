//! The fake Replicate's webhooks and deadlines: signed deliveries of the filtered
//! events, retries with the same id, the secret endpoint, and `Cancel-After`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use ai_video_tests::fakes::{FakeOptions, FakeReplicate, sign_webhook};
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};

use crate::{Answer, client};

const KEY: &str = "r8_test";

/// A local webhook receiver answering `status`; keeps what it got.
struct Receiver {
    url: String,
    got: Arc<Mutex<Vec<(HeaderMap, Bytes)>>>,
}

impl Receiver {
    async fn start(status: u16) -> Self {
        let got: Arc<Mutex<Vec<(HeaderMap, Bytes)>>> = Arc::default();
        let seen = got.clone();
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: HeaderMap, body: Bytes| async move {
                seen.lock().unwrap().push((headers, body));
                StatusCode::from_u16(status).unwrap()
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { url, got }
    }

    /// Waits until `n` requests have arrived.
    async fn wait_for(&self, n: usize) -> Vec<(HeaderMap, Bytes)> {
        for _ in 0..200 {
            if self.got.lock().unwrap().len() >= n {
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        let got = self.got.lock().unwrap().clone();
        assert!(got.len() >= n, "{} of {n} webhooks arrived", got.len());
        got
    }
}

async fn create(fake: &FakeReplicate, body: Value, headers: &[(&str, &str)]) -> Answer {
    let url = format!("{}/v1/models/acme/painter/predictions", fake.base_url());
    let mut req = client().post(url).bearer_auth(KEY).json(&body);
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    Answer::read(req.send().await.unwrap()).await
}

async fn get(fake: &FakeReplicate, id: &str) -> Value {
    let url = format!("{}/v1/predictions/{id}", fake.base_url());
    let r = Answer::read(client().get(url).bearer_auth(KEY).send().await.unwrap()).await;
    r.assert_status(200);
    r.json
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

#[test]
fn signatures_match_replicates_test_vector() {
    let signature = sign_webhook(
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "msg_p5jXN8AQM9LWM0D4loKWxJek",
        "1614265330",
        br#"{"test": 2432232314}"#,
    );
    assert_eq!(signature, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
}

#[tokio::test]
async fn a_prediction_with_a_webhook_runs_on_its_own_and_posts_signed_events() {
    let fake = FakeReplicate::start(FakeOptions::with_key(KEY));
    let hook = Receiver::start(204).await;
    let body = json!({"input": {"prompt": "x"}, "webhook": hook.url, "webhook_events_filter": ["start", "completed"]});
    let r = create(&fake, body, &[]).await;
    r.assert_status(201);
    assert_eq!(r.json["webhook"], hook.url.as_str());
    assert_eq!(
        r.json["webhook_events_filter"],
        json!(["start", "completed"])
    );

    let got = hook.wait_for(2).await;
    let secret = fake.webhook_secret();
    let mut statuses = Vec::new();
    for (headers, body) in &got {
        let id = header(headers, "webhook-id");
        let timestamp = header(headers, "webhook-timestamp");
        assert!(id.starts_with("msg_"));
        let now = chrono::Utc::now().timestamp();
        assert!((now - timestamp.parse::<i64>().unwrap()).abs() < 10);
        let expected = sign_webhook(&secret, id, timestamp, body);
        assert_eq!(header(headers, "webhook-signature"), expected);
        let prediction: Value = serde_json::from_slice(body).unwrap();
        assert_eq!(prediction["id"], r.json["id"]);
        statuses.push(prediction["status"].as_str().unwrap().to_string());
    }
    assert_eq!(statuses, ["processing", "succeeded"]);
    // The fake records a delivery once its answer is back, just after the receiver
    // has the body.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while fake.webhook_deliveries().len() < 2 && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let events: Vec<String> = fake
        .webhook_deliveries()
        .into_iter()
        .map(|d| d.event)
        .collect();
    assert_eq!(events, ["start", "completed"]);
    assert!(
        fake.webhook_deliveries()
            .iter()
            .all(|d| d.status == Some(204) && d.tries == 1)
    );

    let url = format!("{}/v1/webhooks/default/secret", fake.base_url());
    let s = Answer::read(client().get(url).bearer_auth(KEY).send().await.unwrap()).await;
    assert_eq!(s.json["key"], secret.as_str());
    assert!(secret.starts_with("whsec_"));
}

#[tokio::test]
async fn refused_deliveries_are_retried_with_the_same_id() {
    let fake = FakeReplicate::start(FakeOptions::with_key(KEY));
    fake.set_webhook_secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
    let hook = Receiver::start(500).await;
    let r = create(
        &fake,
        json!({"input": {"prompt": "x"}, "webhook": hook.url}),
        &[],
    )
    .await;
    r.assert_status(201);
    let got = hook.wait_for(6).await;
    let ids: Vec<&str> = got.iter().map(|(h, _)| header(h, "webhook-id")).collect();
    assert_eq!(ids[0], ids[2]);
    assert_ne!(ids[2], ids[3]);
    let deliveries = fake.webhook_deliveries();
    let events: Vec<&str> = deliveries.iter().map(|d| d.event.as_str()).collect();
    assert_eq!(events, ["output", "completed"], "the default filter");
    assert!(
        deliveries
            .iter()
            .all(|d| d.status == Some(500) && d.tries == 3)
    );

    let bad =
        json!({"input": {"prompt": "x"}, "webhook": hook.url, "webhook_events_filter": ["done"]});
    let r = create(&fake, bad, &[]).await;
    r.assert_status(422);
    assert_eq!(
        r.json["invalid_fields"][0]["field"],
        "webhook_events_filter"
    );
}

#[tokio::test]
async fn cancel_after_aborts_a_waiting_prediction_and_cancels_a_running_one() {
    let fake = FakeReplicate::start(FakeOptions::with_key(KEY));
    let body = json!({"input": {"prompt": "x"}});
    let waiting = create(&fake, body.clone(), &[("Cancel-After", "300ms")]).await;
    waiting.assert_status(201);
    assert!(waiting.json["deadline"].is_string());
    let running = create(&fake, body.clone(), &[("Cancel-After", "300ms")]).await;
    let running_id = running.json["id"].as_str().unwrap();
    get(&fake, running_id).await;
    assert_eq!(get(&fake, running_id).await["status"], "processing");
    tokio::time::sleep(Duration::from_millis(400)).await;
    let waiting = get(&fake, waiting.json["id"].as_str().unwrap()).await;
    assert_eq!(waiting["status"], "aborted");
    assert!(waiting["completed_at"].is_string());
    assert_eq!(get(&fake, running_id).await["status"], "canceled");

    let r = create(&fake, body, &[("Cancel-After", "soon")]).await;
    r.assert_status(400);
}
