//! `Idempotency-Key`: a POST retried with the same key replays its first answer
//! instead of creating or queueing twice; another body with the key is a 422; a
//! duplicate sent while the first still runs is a 409.

use std::time::Duration;

use ai_video_tests::TestApp;
use reqwest::Method;
use sea_orm::{ConnectionTrait, TransactionTrait};
use serde_json::{Value, json};

const STORY: &str = "stories/";

fn story_body(title: &str) -> Value {
    json!({"title": title, "synopsis": "A keeper. A storm. Dawn.", "duration_seconds": 12})
}

async fn post_with_key(
    app: &TestApp,
    path: &str,
    token: &str,
    key: &str,
    body: &Value,
) -> reqwest::Response {
    app.client
        .request(Method::POST, app.url(path))
        .bearer_auth(token)
        .header("Idempotency-Key", format!("\"{key}\""))
        .json(body)
        .send()
        .await
        .expect("request")
}

async fn story_count(app: &TestApp, token: &str) -> u64 {
    app.get(STORY, token).await.body["count"].as_u64().unwrap()
}

#[tokio::test]
async fn the_same_post_twice_with_one_key_makes_one_story_and_one_answer() {
    let app = TestApp::spawn().await;
    let alice = app.tokens.user("alice");
    let body = story_body("Once");
    let first = post_with_key(&app, STORY, &alice, "k-1", &body).await;
    assert_eq!(first.status(), 201);
    assert!(first.headers().get("idempotent-replayed").is_none());
    let first_body = first.text().await.unwrap();
    let again = post_with_key(&app, STORY, &alice, "k-1", &body).await;
    assert_eq!(again.status(), 201);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert!(
        again.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    assert_eq!(again.text().await.unwrap(), first_body);
    assert_eq!(story_count(&app, &alice).await, 1);

    // Another body under the same key is refused, naming the reuse.
    let other = post_with_key(&app, STORY, &alice, "k-1", &story_body("Twice")).await;
    assert_eq!(other.status(), 422);
    let problem: Value = other.json().await.unwrap();
    assert_eq!(problem["code"], "idempotency_key_reused", "{problem}");
    assert_eq!(story_count(&app, &alice).await, 1);

    // Keys are per user: bob's "k-1" is his own.
    let bob = app.tokens.user("bob");
    let his = post_with_key(&app, STORY, &bob, "k-1", &body).await;
    assert_eq!(his.status(), 201);
    assert!(his.headers().get("idempotent-replayed").is_none());

    // A malformed key is a field error.
    let bad = post_with_key(&app, STORY, &alice, "", &body).await;
    assert_eq!(bad.status(), 422);
}

#[tokio::test]
async fn a_duplicate_sent_while_the_first_runs_is_a_409() {
    let app = TestApp::spawn().await;
    let alice = app.tokens.user("alice");
    let body = story_body("Held");
    // Hold the stories table so the first request waits inside its handler.
    let hold = app.db.begin().await.unwrap();
    hold.execute_unprepared("LOCK TABLE stories IN EXCLUSIVE MODE")
        .await
        .unwrap();
    let first = {
        let app_url = app.url(STORY);
        let client = app.client.clone();
        let (alice, body) = (alice.clone(), body.clone());
        tokio::spawn(async move {
            client
                .post(app_url)
                .bearer_auth(alice)
                .header("Idempotency-Key", "k-held")
                .json(&body)
                .send()
                .await
                .expect("first request")
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    let duplicate = post_with_key(&app, STORY, &alice, "k-held", &body).await;
    assert_eq!(duplicate.status(), 409);
    let problem: Value = duplicate.json().await.unwrap();
    assert_eq!(problem["code"], "idempotency_key_in_progress", "{problem}");
    hold.rollback().await.unwrap();
    let first = first.await.unwrap();
    assert_eq!(first.status(), 201);
    let first_body = first.text().await.unwrap();
    // Once it finished, the same key replays it.
    let replay = post_with_key(&app, STORY, &alice, "k-held", &body).await;
    assert_eq!(replay.status(), 201);
    assert_eq!(replay.text().await.unwrap(), first_body);
    assert_eq!(story_count(&app, &alice).await, 1);
}

#[tokio::test]
async fn a_retried_generate_preview_queues_one_preview() {
    let app = TestApp::spawn().await;
    let alice = app.tokens.user("alice");
    let (story, _) = app.story_with_scenes(&alice, 2).await;
    app.force_status(&story, "planned").await;
    let path = format!("stories/{story}/generate_preview/");
    let first = post_with_key(&app, &path, &alice, "preview-1", &json!({})).await;
    assert_eq!(first.status(), 202);
    let first_body = first.text().await.unwrap();
    let again = post_with_key(&app, &path, &alice, "preview-1", &json!({})).await;
    assert_eq!(again.status(), 202);
    assert_eq!(again.text().await.unwrap(), first_body);
    let previews = app
        .jobs_of(&alice, &story)
        .await
        .into_iter()
        .filter(|j| j["kind"] == "generate_preview")
        .count();
    assert_eq!(previews, 1, "one preview queued");
}
