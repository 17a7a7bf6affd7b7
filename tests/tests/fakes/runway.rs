//! The fake Runway: headers, per-model validation, task polling, cancel, limits.

use std::time::Duration;

use ai_video_tests::fakes::{FakeOptions, FakeRunway};
use serde_json::{Value, json};

use crate::{Answer, client, fetch, probe};

const KEY: &str = "key_0123456789abcdef";
/// A data URI; the fake checks its form, not its pixels.
const IMAGE: &str = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==";

fn fake() -> FakeRunway {
    FakeRunway::start(FakeOptions {
        pending_polls: 1,
        running_polls: 2,
        ..FakeOptions::with_key(KEY)
    })
}

async fn call(
    fake: &FakeRunway,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> Answer {
    let mut req = client()
        .request(method, format!("{}{path}", fake.base_url()))
        .bearer_auth(KEY)
        .header("X-Runway-Version", "2024-11-06");
    if let Some(body) = body {
        req = req.json(&body);
    }
    Answer::read(req.send().await.expect("request")).await
}

async fn create(fake: &FakeRunway, path: &str, body: Value) -> String {
    let r = call(fake, reqwest::Method::POST, path, Some(body)).await;
    r.assert_status(200);
    let id = r.json["id"].as_str().expect("an id").to_string();
    uuid::Uuid::parse_str(&id).expect("task ids are UUIDs");
    id
}

async fn poll(fake: &FakeRunway, id: &str) -> Answer {
    call(fake, reqwest::Method::GET, &format!("/v1/tasks/{id}"), None).await
}

fn clip(ratio: &str, duration: u64) -> Value {
    json!({"model": "gen4_turbo", "promptImage": IMAGE, "promptText": "waves", "ratio": ratio, "duration": duration, "seed": 4})
}

#[tokio::test]
async fn key_and_version_header_are_required() {
    let fake = fake();
    let url = format!("{}/v1/image_to_video", fake.base_url());
    let r = Answer::read(
        client()
            .post(&url)
            .bearer_auth("key_wrong")
            .header("X-Runway-Version", "2024-11-06")
            .json(&clip("1280:720", 5))
            .send()
            .await
            .unwrap(),
    )
    .await;
    r.assert_status(401);
    assert!(r.json["error"].is_string());
    let r = Answer::read(
        client()
            .post(&url)
            .bearer_auth(KEY)
            .json(&clip("1280:720", 5))
            .send()
            .await
            .unwrap(),
    )
    .await;
    r.assert_status(400);
    assert!(
        r.json["error"]
            .as_str()
            .unwrap()
            .contains("X-Runway-Version")
    );
    let r = Answer::read(
        client()
            .post(&url)
            .bearer_auth(KEY)
            .header("X-Runway-Version", "2023-01-01")
            .json(&clip("1280:720", 5))
            .send()
            .await
            .unwrap(),
    )
    .await;
    r.assert_status(400);
    assert!(fake.task_ids().is_empty());
}

#[tokio::test]
async fn a_task_walks_to_succeeded_with_a_real_clip() {
    let fake = fake();
    let id = create(&fake, "/v1/image_to_video", clip("1280:720", 5)).await;
    let sent = &fake.requests_to("POST", "/v1/image_to_video")[0];
    assert_eq!(sent.header("x-runway-version"), Some("2024-11-06"));
    assert_eq!(sent.json().unwrap()["promptImage"], IMAGE);

    let r = poll(&fake, &id).await;
    assert_eq!(r.json["status"], "PENDING");
    assert!(r.json["createdAt"].is_string());
    let mut progress = Vec::new();
    for _ in 0..2 {
        let r = poll(&fake, &id).await;
        assert_eq!(r.json["status"], "RUNNING");
        progress.push(r.json["progress"].as_f64().unwrap());
    }
    assert!(
        progress[0] > 0.0 && progress[0] < progress[1] && progress[1] < 1.0,
        "{progress:?}"
    );
    let r = poll(&fake, &id).await;
    assert_eq!(r.json["status"], "SUCCEEDED", "{}", r.json);
    let url = r.json["output"][0].as_str().unwrap();
    assert!(url.contains("_jwt="), "{url}");
    let (status, content_type, bytes) = fetch(url).await;
    assert_eq!((status, content_type.as_str()), (200, "video/mp4"));
    let p = probe(&bytes, "mp4");
    assert_eq!(
        (p.width, p.height, p.codec.as_str(), p.frame_rate.as_str()),
        (1280, 720, "h264", "24/1")
    );
    assert!((p.duration.unwrap() - 5.0).abs() < 0.05, "{p:?}");
    assert_eq!(fake.poll_times(&id).len(), 4);
    assert_eq!(
        poll(&fake, &id).await.json["status"],
        "SUCCEEDED",
        "stays done"
    );
}

#[tokio::test]
async fn text_to_image_makes_an_image_of_the_ratio() {
    let fake = fake();
    fake.set_polls(0, 0);
    let id = create(
        &fake,
        "/v1/text_to_image",
        json!({"model": "gen4_image", "promptText": "a lighthouse", "ratio": "1920:1080"}),
    )
    .await;
    let r = poll(&fake, &id).await;
    assert_eq!(r.json["status"], "SUCCEEDED");
    let (_, content_type, bytes) = fetch(r.json["output"][0].as_str().unwrap()).await;
    assert_eq!(content_type, "image/png");
    let p = probe(&bytes, "png");
    assert_eq!((p.width, p.height), (1920, 1080));
}

#[tokio::test]
async fn bodies_are_validated_per_model() {
    let fake = fake();
    let issues = |r: &Answer| -> Vec<String> {
        r.assert_status(400);
        assert!(r.json["error"].is_string());
        r.json["issues"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["path"].to_string())
            .collect()
    };
    let post = |body: Value| {
        call(
            &fake,
            reqwest::Method::POST,
            "/v1/image_to_video",
            Some(body),
        )
    };
    assert_eq!(issues(&post(clip("1920:1080", 5)).await), ["[\"ratio\"]"]);
    assert_eq!(
        issues(&post(clip("1280:720", 11)).await),
        ["[\"duration\"]"]
    );
    let long = "🌊".repeat(501);
    let mut body = clip("1280:720", 5);
    body["promptText"] = json!(long);
    assert_eq!(
        issues(&post(body).await),
        ["[\"promptText\"]"],
        "1002 UTF-16 units"
    );
    let mut body = clip("1280:720", 5);
    body["promptImage"] = json!("http://example.com/a.png");
    assert_eq!(issues(&post(body).await), ["[\"promptImage\"]"]);
    let mut body = clip("1280:720", 5);
    body["promptImage"] = json!([{"uri": IMAGE, "position": "last"}]);
    let found = issues(&post(body).await);
    assert!(
        found.contains(&"[\"promptImage\",0,\"position\"]".to_string()),
        "{found:?}"
    );
    let found =
        issues(&post(json!({"model": "gen4.5", "promptImage": IMAGE, "ratio": "1280:720"})).await);
    assert_eq!(found, ["[\"promptText\"]", "[\"duration\"]"]);
    let found = issues(
        &post(json!({"model": "gen3a_turbo", "promptImage": IMAGE, "ratio": "1280:768"})).await,
    );
    assert_eq!(found, ["[\"model\"]"]);
    let body = json!({"model": "gen4_image", "promptText": "x", "ratio": "1280:768"});
    let r = call(
        &fake,
        reqwest::Method::POST,
        "/v1/text_to_image",
        Some(body),
    )
    .await;
    assert_eq!(issues(&r), ["[\"ratio\"]"]);

    let mut body = clip("1584:672", 10);
    body["promptImage"] = json!("https://cdn.example.com/key.png");
    create(&fake, "/v1/image_to_video", body).await;
    create(
        &fake,
        "/v1/image_to_video",
        json!({"model": "gen4_turbo", "promptImage": IMAGE, "ratio": "960:960"}),
    )
    .await;
    assert_eq!(fake.task_ids().len(), 2);
}

#[tokio::test]
async fn delete_cancels_a_running_task_and_deletes_a_finished_one() {
    let fake = fake();
    let running = create(&fake, "/v1/image_to_video", clip("720:1280", 2)).await;
    assert_eq!(poll(&fake, &running).await.json["status"], "PENDING");
    let r = call(
        &fake,
        reqwest::Method::DELETE,
        &format!("/v1/tasks/{running}"),
        None,
    )
    .await;
    r.assert_status(204);
    assert_eq!(poll(&fake, &running).await.json["status"], "CANCELLED");
    assert_eq!(fake.cancelled_tasks(), std::slice::from_ref(&running));

    fake.set_polls(0, 0);
    let done = create(&fake, "/v1/image_to_video", clip("720:1280", 2)).await;
    assert_eq!(poll(&fake, &done).await.json["status"], "SUCCEEDED");
    call(
        &fake,
        reqwest::Method::DELETE,
        &format!("/v1/tasks/{done}"),
        None,
    )
    .await
    .assert_status(204);
    poll(&fake, &done).await.assert_status(404);
    assert_eq!(
        fake.cancelled_tasks(),
        std::slice::from_ref(&running),
        "deleting is not cancelling"
    );
    assert_eq!(fake.deleted_tasks(), [running, done]);
}

#[tokio::test]
async fn moderated_and_failing_tasks_end_failed() {
    let fake = fake();
    fake.set_moderate_word(Some("Forbidden"));
    let mut body = clip("1280:720", 5);
    body["promptText"] = json!("something forbidden");
    let id = create(&fake, "/v1/image_to_video", body).await;
    assert_eq!(poll(&fake, &id).await.json["status"], "PENDING");
    let r = poll(&fake, &id).await;
    assert_eq!(r.json["status"], "FAILED");
    assert_eq!(r.json["failureCode"], "SAFETY.INPUT.TEXT");
    assert!(r.json["failure"].as_str().is_some_and(|f| !f.is_empty()));

    fake.fail_next_tasks(1);
    fake.set_polls(0, 0);
    let id = create(&fake, "/v1/image_to_video", clip("1280:720", 5)).await;
    let r = poll(&fake, &id).await;
    assert_eq!(
        (r.json["status"].as_str(), r.json["failureCode"].as_str()),
        (Some("FAILED"), Some("INTERNAL"))
    );
}

#[tokio::test]
async fn tasks_over_the_concurrency_wait_throttled() {
    let fake = fake();
    fake.set_concurrency(Some(1));
    fake.set_polls(0, 1);
    let first = create(&fake, "/v1/image_to_video", clip("1280:720", 2)).await;
    let second = create(&fake, "/v1/image_to_video", clip("1280:720", 2)).await;
    assert_eq!(poll(&fake, &second).await.json["status"], "THROTTLED");
    assert_eq!(poll(&fake, &first).await.json["status"], "RUNNING");
    assert_eq!(poll(&fake, &second).await.json["status"], "THROTTLED");
    assert_eq!(poll(&fake, &first).await.json["status"], "SUCCEEDED");
    assert_eq!(poll(&fake, &second).await.json["status"], "RUNNING");
}

#[tokio::test]
async fn limits_and_injected_errors() {
    let fake = fake();
    fake.set_rate_limit(Some((1, Duration::from_secs(3))));
    create(&fake, "/v1/image_to_video", clip("1280:720", 2)).await;
    let r = call(
        &fake,
        reqwest::Method::POST,
        "/v1/image_to_video",
        Some(clip("1280:720", 2)),
    )
    .await;
    r.assert_status(429);
    let retry: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=3).contains(&retry), "{retry}");
    assert!(r.json["error"].is_string());
    fake.set_rate_limit(None);

    fake.fail_next(1, 502);
    let r = call(
        &fake,
        reqwest::Method::POST,
        "/v1/image_to_video",
        Some(clip("1280:720", 2)),
    )
    .await;
    r.assert_status(502);
    assert!(r.json["error"].is_string());
    fake.set_out_of_credits(true);
    let r = call(
        &fake,
        reqwest::Method::POST,
        "/v1/image_to_video",
        Some(clip("1280:720", 2)),
    )
    .await;
    r.assert_status(400);
    assert!(r.json["error"].as_str().unwrap().contains("enough credits"));
    assert_eq!(fake.task_ids().len(), 1);
}

#[tokio::test]
async fn output_urls_expire_and_a_new_poll_signs_a_fresh_one() {
    let fake = fake();
    fake.set_polls(0, 0);
    fake.set_output_ttl(Some(Duration::from_millis(300)));
    let id = create(&fake, "/v1/image_to_video", clip("960:960", 2)).await;
    let url = poll(&fake, &id).await.json["output"][0]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(fetch(&url).await.0, 200);
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(fetch(&url).await.0, 403);
    let fresh = poll(&fake, &id).await.json["output"][0]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(fresh, url);
    let (status, _, bytes) = fetch(&fresh).await;
    assert_eq!(status, 200);
    assert_eq!(probe(&bytes, "mp4").width, 960);
}
