//! Signed webhooks, checked from the receiving end: a receiver that verifies every
//! delivery with the reference Standard Webhooks library counts what it got. Each
//! event arrives once per subscribed endpoint, signed, with a `webhook-id` that
//! retries and re-sends keep; failures are retried on the (test-short) schedule;
//! `410 Gone` and failing for too long disable an endpoint; rotated secrets verify
//! during their grace; internal addresses are refused at registration and again at
//! delivery; outages of the worker or of Redis delay deliveries without doubling them.

mod webhooks {
    mod failures;
    mod outages;
    mod security;
}

use std::collections::HashSet;
use std::time::Duration;

use ai_video_tests::webhook_receiver::{Delivery, WebhookReceiver, attempt_codes};
use ai_video_tests::{Backend, TestApp};
use serde_json::json;

/// How long a delivery may take once its event happened.
pub const WAIT: Duration = Duration::from_secs(20);
/// How long a story may take to become a video.
pub const LONG: Duration = Duration::from_secs(120);

/// A new story of `token`, archived at once: one `story.status_changed`, no job.
pub async fn archived_story(app: &TestApp, token: &str) -> String {
    let story = app.create_story(token, "Shelved", 7).await;
    let id = story["id"].as_str().expect("id").to_string();
    app.post(
        &format!("stories/{id}/transition/"),
        token,
        json!({"to": "archived"}),
    )
    .await
    .assert_status(200);
    id
}

/// A story of one scene made into a video by the running worker.
async fn completed_story(app: &TestApp, token: &str) -> String {
    let (story, _) = app
        .planned_by_worker(token, &["A lighthouse at dawn"])
        .await;
    app.preview(token, &story).await;
    app.post(&format!("stories/{story}/render_final/"), token, json!({}))
        .await
        .assert_status(202);
    app.wait_for_status(token, &story, "completed", LONG).await;
    story
}

/// How many deliveries went to `name`.
pub fn count_for(log: &[Delivery], name: &str) -> usize {
    log.iter().filter(|d| d.name == name).count()
}

/// Whether a delivery is an event of this type about this story.
pub fn is(d: &Delivery, event_type: &str, story: &str) -> bool {
    d.event_type.as_deref() == Some(event_type) && d.story() == Some(story)
}

async fn each_completed_story_is_announced_once(backend: Backend) {
    let receiver = WebhookReceiver::start();
    let app = TestApp::spawn_with(receiver.options(backend)).await;
    let alice = app.tokens.user("alice");
    let (endpoint, secret) = app
        .register_webhook(&alice, json!({"url": receiver.url("all")}))
        .await;
    receiver.configure("all", &[&secret], &[200]).await;
    let worker = app.start_worker(receiver.worker(&[])).await;
    let story = completed_story(&app, &alice).await;
    receiver
        .wait_for(
            |log| log.iter().any(|d| is(d, "story.completed", &story)),
            WAIT,
        )
        .await;
    let listed = app.settled_deliveries(&alice, &endpoint).await;
    let log = receiver.log().await;

    // One request per delivery, each verified with the endpoint's secret.
    assert_eq!(log.len(), listed.len(), "{log:#?}\n{listed:#?}");
    let ids: HashSet<_> = log.iter().map(|d| d.webhook_id.clone()).collect();
    assert_eq!(ids.len(), log.len(), "a webhook-id arrived twice: {log:#?}");
    for d in &log {
        assert!(d.verified, "{d:?}");
        assert_eq!(
            (d.verified_with, d.signature_count()),
            (Some(0), 1),
            "{d:?}"
        );
        assert!(
            !matches!(
                d.event_type.as_deref(),
                Some("scene.progress" | "job.progress")
            ),
            "progress is never a webhook: {d:?}"
        );
    }
    for l in &listed {
        assert_eq!(
            (&l["status"], &l["attempts"]),
            (&json!("delivered"), &json!(1)),
            "{l}"
        );
        assert_eq!(attempt_codes(l), [json!(200)], "{l}");
    }

    let completed: Vec<&Delivery> = log
        .iter()
        .filter(|d| d.event_type.as_deref() == Some("story.completed"))
        .collect();
    assert_eq!(completed.len(), 1, "{log:#?}");
    let c = completed[0];
    let body = &c.body;
    assert_eq!(body["type"], "story.completed");
    let at = body["timestamp"].as_str().expect("timestamp");
    chrono::DateTime::parse_from_rfc3339(at).expect("an RFC 3339 timestamp");
    let sent: f64 = c
        .timestamp
        .as_deref()
        .unwrap_or("")
        .parse()
        .expect("webhook-timestamp");
    assert!((sent - c.received_at).abs() < 10.0, "{c:?}");
    let data = &body["data"];
    assert_eq!(data["story_id"], story.as_str());
    assert_eq!(
        (&data["status"], &data["previous_status"]),
        (&json!("completed"), &json!("rendering"))
    );
    assert_eq!(data["title"], "Planned by the worker");
    let link = data["links"]["story"].as_str().expect("links.story");
    assert!(
        link.ends_with(&format!("/api/ai-video/stories/{story}/")),
        "{link}"
    );
    let row = listed
        .iter()
        .find(|l| l["event_type"] == "story.completed")
        .expect("the delivery of story.completed");
    assert_eq!(c.webhook_id.as_deref(), row["message_id"].as_str());
    assert!(
        c.webhook_id
            .as_deref()
            .is_some_and(|id| id.starts_with("msg_")),
        "{c:?}"
    );

    // Receivers order by timestamp: the story's statuses, one event each.
    let mut changes: Vec<&Delivery> = log
        .iter()
        .filter(|d| is(d, "story.status_changed", &story))
        .collect();
    changes.sort_by_key(|d| d.body["timestamp"].as_str().unwrap_or("").to_string());
    let moves: Vec<String> = changes
        .iter()
        .map(|d| {
            let data = &d.body["data"];
            format!(
                "{}->{}",
                data["previous_status"].as_str().unwrap_or("?"),
                data["status"].as_str().unwrap_or("?")
            )
        })
        .collect();
    assert_eq!(
        moves,
        [
            "draft->planning",
            "planning->planned",
            "planned->previewing",
            "previewing->rendering",
            "rendering->completed"
        ]
    );
    // One `scene.generated` per scene job (the preview's and the final's).
    let mut generated: Vec<&str> = log
        .iter()
        .filter(|d| is(d, "scene.generated", &story))
        .filter_map(|d| d.body["data"]["job_id"].as_str())
        .collect();
    let jobs = app.jobs_of(&alice, &story).await;
    let mut scene_jobs: Vec<&str> = jobs
        .iter()
        .filter(|j| j["kind"] == "generate_scene" && j["status"] == "succeeded")
        .filter_map(|j| j["id"].as_str())
        .collect();
    generated.sort_unstable();
    scene_jobs.sort_unstable();
    assert_eq!(scene_jobs.len(), 2, "{jobs:#?}");
    assert_eq!(generated, scene_jobs, "{log:#?}");
    worker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_completed_story_is_announced_once_signed_and_in_order() {
    each_completed_story_is_announced_once(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_completed_story_is_announced_once_on_sqlite() {
    each_completed_story_is_announced_once(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoints_hear_only_what_they_subscribed_to_and_nothing_when_disabled() {
    let receiver = WebhookReceiver::start();
    let app = TestApp::spawn_with(receiver.options(Backend::Postgres)).await;
    let alice = app.tokens.user("alice");
    let bob = app.tokens.user("bob");
    let mut endpoints = Vec::new();
    for (name, extra) in [
        ("all", json!({})),
        (
            "completed",
            json!({"events": ["story.completed"], "description": "done"}),
        ),
        ("off", json!({"enabled": false})),
    ] {
        let mut body = json!({"url": receiver.url(name)});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        let (id, secret) = app.register_webhook(&alice, body).await;
        receiver.configure(name, &[&secret], &[200]).await;
        endpoints.push(id);
    }
    let [all, only, off] = <[String; 3]>::try_from(endpoints).unwrap();
    let worker = app.start_worker(receiver.worker(&[])).await;
    let bobs = archived_story(&app, &bob).await;
    let story = completed_story(&app, &alice).await;
    receiver
        .wait_for(
            |log| {
                log.iter()
                    .any(|d| d.name == "all" && is(d, "story.completed", &story))
                    && count_for(log, "completed") > 0
            },
            WAIT,
        )
        .await;
    app.settled_deliveries(&alice, &all).await;
    let only_listed = app.settled_deliveries(&alice, &only).await;
    let log = receiver.log().await;

    let to_only: Vec<&Delivery> = log.iter().filter(|d| d.name == "completed").collect();
    assert_eq!(to_only.len(), 1, "{log:#?}");
    let same_event = log
        .iter()
        .find(|d| d.name == "all" && is(d, "story.completed", &story))
        .expect("story.completed at the other endpoint");
    assert_eq!(
        to_only[0].webhook_id, same_event.webhook_id,
        "one event, one webhook-id, whatever the endpoint"
    );
    assert!(
        is(to_only[0], "story.completed", &story) && to_only[0].verified,
        "{:?}",
        to_only[0]
    );
    assert_eq!(only_listed.len(), 1, "{only_listed:#?}");
    let types: HashSet<&str> = log
        .iter()
        .filter(|d| d.name == "all")
        .filter_map(|d| d.event_type.as_deref())
        .collect();
    for t in ["story.status_changed", "scene.generated", "story.completed"] {
        assert!(types.contains(t), "{t} not in {types:?}");
    }

    assert_eq!(
        count_for(&log, "off"),
        0,
        "a disabled endpoint got: {log:#?}"
    );
    assert!(app.deliveries(&alice, &off).await.is_empty());
    let off = app.get(&format!("webhooks/{off}/"), &alice).await;
    assert_eq!(off.body["enabled"], false);
    assert!(off.body["disabled_reason"].is_null(), "{}", off.text);

    assert!(
        !log.iter().any(|d| d.story() == Some(bobs.as_str())),
        "another user's story reached alice's endpoints: {log:#?}"
    );
    worker.stop().await;
}
