//! The outbox: a request that asks for work succeeds while Redis is down, and its job
//! reaches Redis once Redis is back; a job cancelled before that never reaches it.

use std::time::Duration;

use ai_video_tests::redis_server::RedisServer;
use ai_video_tests::{Options, TestApp};
use serde_json::json;

async fn app_on(redis: &RedisServer) -> TestApp {
    TestApp::spawn_with(Options {
        redis_url: Some(redis.url()),
        ..Options::default()
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_wait_in_the_database_while_redis_is_down() {
    let mut redis = RedisServer::start().await;
    let app = app_on(&redis).await;
    let alice = app.tokens.user("alice");
    let (story, _) = app.story_with_scenes(&alice, 2).await;

    redis.stop();
    let r = app.start_planning(&alice, &story).await;
    r.assert_status(200);
    let queue_id = r.body["job"]["queue_id"].as_str().unwrap().to_string();
    assert_eq!(r.body["story"]["status"], "planning");
    let ready = app.get("/readyz", &alice).await;
    assert_eq!(ready.status, 503, "{}", ready.text);
    assert_eq!(ready.body, serde_json::json!({"status": "unavailable"}));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(app.outbox_len().await, 1, "the job waits in the outbox");

    redis.restart().await;
    let fields = app.queued_job(&queue_id, Duration::from_secs(15)).await;
    let fields = fields.expect("the job reaches Redis after it restarts");
    assert_eq!(fields["name"], "story_planning");
    assert_eq!(app.outbox_len().await, 0);
    app.get("/readyz", &alice).await.assert_status(200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_starts_without_redis_and_delivers_later() {
    let mut redis = RedisServer::start().await;
    redis.stop();
    let app = app_on(&redis).await;
    let alice = app.tokens.user("alice");
    let (story, _) = app.story_with_scenes(&alice, 1).await;
    let r = app.start_planning(&alice, &story).await;
    r.assert_status(200);
    let queue_id = r.body["job"]["queue_id"].as_str().unwrap().to_string();

    redis.restart().await;
    assert!(
        app.queued_job(&queue_id, Duration::from_secs(15))
            .await
            .is_some(),
        "delivered once Redis is up"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_cancelled_before_delivery_never_reaches_redis() {
    let mut redis = RedisServer::start().await;
    let app = app_on(&redis).await;
    let alice = app.tokens.user("alice");
    let (story, _) = app.story_with_scenes(&alice, 1).await;

    redis.stop();
    let r = app.start_planning(&alice, &story).await;
    let job = r.body["job"]["id"].as_str().unwrap().to_string();
    let queue_id = r.body["job"]["queue_id"].as_str().unwrap().to_string();
    let r = app
        .post(&format!("jobs/{job}/cancel/"), &alice, json!({}))
        .await;
    r.assert_status(200);
    assert_eq!(r.body["status"], "cancelled");
    let story = app.get(&format!("stories/{story}/"), &alice).await;
    assert_eq!(
        story.body["status"], "draft",
        "cancelling planning returns the story to draft"
    );
    assert_eq!(app.outbox_len().await, 0, "cancel withdrew the outbox row");

    redis.restart().await;
    // A later job proves the relay is delivering again; the cancelled one stays out.
    let r = app
        .post(
            &format!("stories/{}/transition/", story.body["id"].as_str().unwrap()),
            &alice,
            json!({"to": "planning"}),
        )
        .await;
    let later = r.body["job"]["queue_id"].as_str().unwrap().to_string();
    assert!(
        app.queued_job(&later, Duration::from_secs(15))
            .await
            .is_some()
    );
    assert!(
        app.queued_job(&queue_id, Duration::from_millis(200))
            .await
            .is_none(),
        "the cancelled job was never pushed"
    );
}
