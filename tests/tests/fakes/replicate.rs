//! The fake Replicate: predictions by model and by version, `Prefer: wait`,
//! polling, cancel, problem+json errors, limits and data removal.

use std::time::{Duration, Instant};

use ai_video_tests::fakes::{FakeOptions, FakeReplicate, OutputKind};
use serde_json::{Value, json};

use crate::{Answer, client, fetch, probe};

const KEY: &str = "r8_test";

fn fake() -> FakeReplicate {
    FakeReplicate::start(FakeOptions::with_key(KEY))
}

async fn post(fake: &FakeReplicate, path: &str, body: Value, prefer: Option<&str>) -> Answer {
    let mut req = client()
        .post(format!("{}{path}", fake.base_url()))
        .bearer_auth(KEY)
        .json(&body);
    if let Some(prefer) = prefer {
        req = req.header("Prefer", prefer);
    }
    Answer::read(req.send().await.expect("request")).await
}

async fn get(url: &str) -> Answer {
    Answer::read(
        client()
            .get(url)
            .bearer_auth(KEY)
            .send()
            .await
            .expect("request"),
    )
    .await
}

/// Polls `urls.get` until the prediction is terminal; returns it and the statuses seen.
async fn settle(prediction: &Value) -> (Value, Vec<String>) {
    let url = prediction["urls"]["get"].as_str().expect("urls.get");
    let mut seen = Vec::new();
    for _ in 0..20 {
        let r = get(url).await;
        r.assert_status(200);
        let status = r.json["status"].as_str().unwrap().to_string();
        seen.push(status.clone());
        if ["succeeded", "failed", "canceled"].contains(&status.as_str()) {
            return (r.json, seen);
        }
    }
    panic!("the prediction did not finish: {seen:?}");
}

#[track_caller]
fn assert_problem(r: &Answer, status: u16) {
    r.assert_status(status);
    assert_eq!(r.header("content-type"), Some("application/problem+json"));
    assert_eq!(r.json["status"], status);
    assert!(r.json["detail"].is_string(), "{}", r.json);
}

#[tokio::test]
async fn a_wrong_token_is_a_401_problem() {
    let fake = fake();
    let url = format!(
        "{}/v1/models/black-forest-labs/flux-1.1-pro/predictions",
        fake.base_url()
    );
    let r = Answer::read(
        client()
            .post(&url)
            .bearer_auth("r8_wrong")
            .json(&json!({"input": {"prompt": "x"}}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_problem(&r, 401);
    assert_eq!(r.json["title"], "Unauthenticated");
    let r = Answer::read(
        client()
            .post(&url)
            .header("authorization", format!("Token {KEY}"))
            .json(&json!({"input": {"prompt": "x"}}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_problem(&r, 401);
}

#[tokio::test]
async fn an_image_prediction_polls_to_succeeded() {
    let fake = fake();
    let input = json!({"prompt": "a lighthouse", "aspect_ratio": "16:9", "seed": 3});
    let r = post(
        &fake,
        "/v1/models/black-forest-labs/flux-1.1-pro/predictions",
        json!({"input": input}),
        None,
    )
    .await;
    r.assert_status(201);
    let p = &r.json;
    let id = p["id"].as_str().unwrap();
    assert_eq!(id.len(), 26);
    assert!(
        id.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()),
        "{id}"
    );
    assert_eq!(p["status"], "starting");
    assert_eq!((p["logs"].as_str(), p["error"].is_null()), (Some(""), true));
    assert_eq!(p["model"], "black-forest-labs/flux-1.1-pro");
    assert_eq!(p["input"], input);
    assert!(p["created_at"].is_string());
    assert!(p["urls"]["cancel"].as_str().unwrap().ends_with("/cancel"));
    assert!(r.header("ratelimit-remaining").is_some());
    assert_eq!(r.header("location"), p["urls"]["get"].as_str());

    let (done, seen) = settle(p).await;
    assert_eq!(seen, ["starting", "processing", "processing", "succeeded"]);
    assert!(done["metrics"]["predict_time"].is_f64());
    assert!(done["completed_at"].is_string() && done["started_at"].is_string());
    assert!(done["logs"].as_str().unwrap().contains("Using seed: 3"));
    let url = done["output"].as_str().expect("one URL");
    assert!(url.contains("/delivery/"), "{url}");
    let (status, content_type, bytes) = fetch(url).await;
    assert_eq!((status, content_type.as_str()), (200, "image/png"));
    let p = probe(&bytes, "png");
    assert_eq!((p.width, p.height), (1344, 768));
    assert_eq!(fake.poll_times(id).len(), 4);
}

#[tokio::test]
async fn prefer_wait_holds_the_request_until_done() {
    let fake = fake();
    let input = json!({"prompt": "waves", "aspect_ratio": "9:16", "duration": 3});
    let started = Instant::now();
    let r = post(
        &fake,
        "/v1/models/wan-video/wan-2.2-i2v-fast/predictions",
        json!({"input": input}),
        Some("wait=5"),
    )
    .await;
    r.assert_status(201);
    assert_eq!(r.header("preference-applied"), Some("wait=5"));
    assert_eq!(r.json["status"], "succeeded", "{}", r.json);
    assert!(started.elapsed() < Duration::from_secs(5));
    let (_, content_type, bytes) = fetch(r.json["output"].as_str().unwrap()).await;
    assert_eq!(content_type, "video/mp4");
    let p = probe(&bytes, "mp4");
    assert_eq!((p.width, p.height, p.codec.as_str()), (720, 1280, "h264"));
    assert!((p.duration.unwrap() - 3.0).abs() < 0.05, "{p:?}");
    assert_eq!(fake.requests()[0].header("prefer"), Some("wait=5"));
}

#[tokio::test]
async fn a_slow_model_outlasts_the_wait_and_is_polled() {
    let fake = fake();
    fake.set_wait_time(Duration::from_secs(30));
    fake.set_output_kind("acme/clipper", OutputKind::Video);
    let input =
        json!({"prompt": "waves", "width": 640, "height": 360, "num_frames": 36, "fps": 12});
    let started = Instant::now();
    let r = post(
        &fake,
        "/v1/models/acme/clipper/predictions",
        json!({"input": input}),
        Some("wait=1"),
    )
    .await;
    r.assert_status(201);
    assert!(started.elapsed() >= Duration::from_secs(1));
    assert_eq!(r.json["status"], "processing");
    let (done, seen) = settle(&r.json).await;
    assert_eq!(seen, ["processing", "succeeded"]);
    let (_, _, bytes) = fetch(done["output"].as_str().unwrap()).await;
    let p = probe(&bytes, "mp4");
    assert_eq!(
        (p.width, p.height, p.frame_rate.as_str()),
        (640, 360, "12/1")
    );
    assert!((p.duration.unwrap() - 3.0).abs() < 0.1, "{p:?}");

    let r = post(
        &fake,
        "/v1/models/acme/clipper/predictions",
        json!({"input": input}),
        Some("wait=61"),
    )
    .await;
    assert_problem(&r, 400);
}

#[tokio::test]
async fn versions_inputs_and_list_outputs() {
    let fake = fake();
    let r = post(
        &fake,
        "/v1/predictions",
        json!({"version": "stability-ai/sdxl:39ed52f2", "input": {"prompt": "x"}}),
        None,
    )
    .await;
    r.assert_status(201);
    assert_eq!(
        (r.json["model"].as_str(), r.json["version"].as_str()),
        (Some("stability-ai/sdxl"), Some("39ed52f2"))
    );
    let bare = "5c7d5dc6dd8bf75c1acaa8565735e7986bc5b66206b55cca93cb72c9bf15ccaa";
    let r = post(
        &fake,
        "/v1/predictions",
        json!({"version": bare, "input": {"prompt": "x"}}),
        None,
    )
    .await;
    assert_problem(&r, 422);
    assert_eq!(r.json["title"], "Invalid version or not permitted");
    fake.register_version(bare, "acme/painter");
    let r = post(
        &fake,
        "/v1/predictions",
        json!({"version": bare, "input": {"prompt": "x"}}),
        None,
    )
    .await;
    r.assert_status(201);
    assert_eq!(r.json["model"], "acme/painter");

    let r = post(
        &fake,
        "/v1/models/acme/painter/predictions",
        json!({"input": {"aspect_ratio": "wide"}}),
        None,
    )
    .await;
    assert_problem(&r, 422);
    assert_eq!(r.json["title"], "Input validation failed");
    let fields: Vec<&str> = r.json["invalid_fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["input", "input.aspect_ratio"]);

    let r = post(
        &fake,
        "/v1/models/black-forest-labs/flux-schnell/predictions",
        json!({"input": {"prompt": "x", "num_outputs": 2, "aspect_ratio": "1:1"}}),
        Some("wait"),
    )
    .await;
    assert_eq!(r.header("preference-applied"), Some("wait=60"));
    let urls = r.json["output"].as_array().expect("a list of URLs");
    assert_eq!(urls.len(), 2);
    let (_, _, bytes) = fetch(urls[1].as_str().unwrap()).await;
    assert_eq!(probe(&bytes, "png").width, 1024);
}

#[tokio::test]
async fn cancel_stops_a_running_prediction() {
    let fake = fake();
    let r = post(
        &fake,
        "/v1/models/acme/painter/predictions",
        json!({"input": {"prompt": "x"}}),
        None,
    )
    .await;
    let cancel = r.json["urls"]["cancel"].as_str().unwrap();
    let c = Answer::read(client().post(cancel).bearer_auth(KEY).send().await.unwrap()).await;
    c.assert_status(200);
    assert_eq!(c.json["status"], "canceled");
    assert!(c.json["completed_at"].is_string());
    let id = r.json["id"].as_str().unwrap().to_string();
    assert_eq!(fake.cancelled_predictions(), [id]);
    assert_eq!(
        get(r.json["urls"]["get"].as_str().unwrap()).await.json["status"],
        "canceled"
    );
    let missing = get(&format!(
        "{}/v1/predictions/nosuchprediction",
        fake.base_url()
    ))
    .await;
    assert_problem(&missing, 404);
}

#[tokio::test]
async fn moderated_and_failing_predictions_end_failed() {
    let fake = fake();
    fake.set_moderate_word(Some("forbidden"));
    let r = post(
        &fake,
        "/v1/models/acme/painter/predictions",
        json!({"input": {"prompt": "Forbidden art"}}),
        None,
    )
    .await;
    r.assert_status(201);
    let (done, _) = settle(&r.json).await;
    assert_eq!(done["status"], "failed");
    assert!(
        done["error"].as_str().unwrap().contains("NSFW"),
        "{}",
        done["error"]
    );
    assert!(done["output"].is_null());

    fake.fail_next_tasks(1);
    let r = post(
        &fake,
        "/v1/models/acme/painter/predictions",
        json!({"input": {"prompt": "x"}}),
        None,
    )
    .await;
    let (done, _) = settle(&r.json).await;
    assert_eq!(done["status"], "failed");
}

#[tokio::test]
async fn limits_billing_and_injected_errors() {
    let fake = fake();
    fake.set_rate_limit(Some((2, Duration::from_secs(2))));
    let body = json!({"input": {"prompt": "x"}});
    let path = "/v1/models/acme/painter/predictions";
    let r = post(&fake, path, body.clone(), None).await;
    assert_eq!(r.header("ratelimit-remaining"), Some("1"));
    post(&fake, path, body.clone(), None)
        .await
        .assert_status(201);
    let r = post(&fake, path, body.clone(), None).await;
    assert_problem(&r, 429);
    let retry = r.header("retry-after").unwrap().to_string();
    assert!(["1", "2"].contains(&retry.as_str()), "{retry}");
    assert_eq!(
        r.json["detail"],
        format!("Request was throttled. Your rate limit resets in ~{retry}s.")
    );
    assert_eq!(r.header("ratelimit-remaining"), Some("0"));
    assert!(fake.max_accepted_in_window(Duration::from_secs(2)) <= 2);
    fake.set_rate_limit(None);

    fake.fail_next(1, 500);
    assert_problem(&post(&fake, path, body.clone(), None).await, 500);
    fake.set_out_of_credits(true);
    let r = post(&fake, path, body, None).await;
    assert_problem(&r, 402);
    assert_eq!(r.json["title"], "Billing required");
}

#[tokio::test]
async fn outputs_are_removed_after_the_ttl() {
    let fake = fake();
    fake.set_output_ttl(Some(Duration::from_millis(300)));
    let r = post(
        &fake,
        "/v1/models/acme/painter/predictions",
        json!({"input": {"prompt": "x"}}),
        Some("wait=10"),
    )
    .await;
    assert_eq!(r.json["status"], "succeeded");
    let url = r.json["output"].as_str().unwrap().to_string();
    assert_eq!(fetch(&url).await.0, 200);
    tokio::time::sleep(Duration::from_millis(400)).await;
    let later = get(r.json["urls"]["get"].as_str().unwrap()).await;
    assert_eq!(later.json["status"], "succeeded");
    assert!(later.json["output"].is_null());
    assert_eq!(later.json["data_removed"], true);
    assert_eq!(fetch(&url).await.0, 404);
}
