//! Outages delay deliveries and never double them: an event recorded while no
//! worker runs, or while Redis is down, reaches the receiver once afterwards.

use std::time::Duration;

use ai_video_tests::redis_server::RedisServer;
use ai_video_tests::webhook_receiver::{Delivery, WebhookReceiver};
use ai_video_tests::worker::WorkerTweaks;
use ai_video_tests::{Backend, Options, TestApp};
use serde_json::json;

use crate::{LONG, WAIT};

/// Waits until the story is planned and the receiver got its moves to `planning`
/// and to `planned`; checks that each came once.
async fn planning_announced_once(
    app: &TestApp,
    receiver: &WebhookReceiver,
    token: &str,
    endpoint: &str,
    story: &str,
) {
    app.wait_for_status(token, story, "planned", LONG).await;
    let status = |d: &Delivery, s: &str| d.story() == Some(story) && d.body["data"]["status"] == s;
    receiver
        .wait_for(
            |log| {
                log.iter().any(|d| status(d, "planning"))
                    && log.iter().any(|d| status(d, "planned"))
            },
            WAIT,
        )
        .await;
    let listed = app.settled_deliveries(token, endpoint).await;
    // A second send would have arrived by now.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let log = receiver.log().await;
    for s in ["planning", "planned"] {
        let n = log.iter().filter(|d| status(d, s)).count();
        assert_eq!(n, 1, "the move to {s} arrived {n} times: {log:#?}");
    }
    assert_eq!(log.len(), listed.len(), "{log:#?}");
    assert!(log.iter().all(|d| d.verified), "{log:#?}");
    assert!(
        listed
            .iter()
            .all(|l| l["status"] == "delivered" && l["attempts"] == 1),
        "{listed:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_while_no_worker_runs_is_delivered_once_when_workers_return() {
    let receiver = WebhookReceiver::start();
    let app = TestApp::spawn_with(receiver.options(Backend::Postgres)).await;
    let alice = app.tokens.user("alice");
    let (endpoint, secret) = app
        .register_webhook(&alice, json!({"url": receiver.url("w")}))
        .await;
    receiver.configure("w", &[&secret], &[200]).await;
    let (story, _) = app.story_with_scenes(&alice, 1).await;
    app.start_planning(&alice, &story).await.assert_status(200);
    let waiting = app.deliveries(&alice, &endpoint).await;
    assert_eq!(waiting.len(), 1, "{waiting:#?}");
    assert_eq!(
        (&waiting[0]["status"], &waiting[0]["attempts"]),
        (&json!("pending"), &json!(0))
    );
    // Two workers come back at once; the event still goes out once.
    let _first = app.spawn_worker_process(receiver.worker(&[]));
    let _second = app.spawn_worker_process(WorkerTweaks {
        name: "second".into(),
        ..receiver.worker(&[])
    });
    planning_announced_once(&app, &receiver, &alice, &endpoint, &story).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_while_redis_is_down_is_delivered_once() {
    let receiver = WebhookReceiver::start();
    let mut redis = RedisServer::start().await;
    let app = TestApp::spawn_with(Options {
        redis_url: Some(redis.url()),
        ..receiver.options(Backend::Postgres)
    })
    .await;
    let alice = app.tokens.user("alice");
    let (endpoint, secret) = app
        .register_webhook(&alice, json!({"url": receiver.url("r")}))
        .await;
    receiver.configure("r", &[&secret], &[200]).await;
    let worker = app.start_worker(receiver.worker(&[])).await;
    let (story, _) = app.story_with_scenes(&alice, 1).await;
    redis.stop();
    app.start_planning(&alice, &story).await.assert_status(200);
    redis.restart().await;
    planning_announced_once(&app, &receiver, &alice, &endpoint, &story).await;
    worker.stop().await;
}
