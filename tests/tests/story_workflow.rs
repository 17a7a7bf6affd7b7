//! The seed's story workflow over HTTP: create, add scenes, plan; the Job row and its
//! BullMQ entry carry the right options; illegal moves are refused with the legal
//! targets; every accepted move wrote exactly one transition row.

use std::time::Duration;

use ai_video_tests::{Backend, TestApp};
use serde_json::{Value, json};

async fn workflow(app: TestApp) {
    let alice = app.tokens.user("alice");
    let story = app.create_story(&alice, "The Lighthouse", 21).await;
    let id = story["id"].as_str().unwrap().to_string();
    assert_eq!(story["status"], "draft");
    assert_eq!(story["owner"], "alice");
    assert_eq!(story["legal_transitions"], json!(["planning", "archived"]));

    let scenes = app
        .post(
            "scenes/bulk_create/",
            &alice,
            json!({"story": id, "scenes": [
                {"duration_seconds": 7, "prompt": {"text": "A lighthouse at dusk", "camera_motion": "zoom_in", "seed": 42}},
                {"duration_seconds": 7, "prompt": {"text": "Waves crash on the rocks"}},
                {"duration_seconds": 7, "prompt": {"text": "Dawn over a calm sea", "negative_prompt": "people"}}
            ]}),
        )
        .await;
    scenes.assert_status(201);
    assert_eq!(scenes.body["count"], 3);
    let positions: Vec<i64> = scenes.body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["position"].as_i64().unwrap())
        .collect();
    assert_eq!(positions, [1, 2, 3]);
    assert_eq!(scenes.body["results"][0]["prompt"]["seed"], 42);
    assert_eq!(
        scenes.body["results"][1]["prompt"]["style"], "cinematic",
        "inherits the story's style"
    );

    // Illegal moves: 409 with the legal targets, nothing written.
    for to in ["completed", "rendering", "previewing", "planned"] {
        let r = app
            .post(
                &format!("stories/{id}/transition/"),
                &alice,
                json!({"to": to}),
            )
            .await;
        r.assert_problem(409, "invalid_transition");
        assert_eq!(
            r.body["legal_targets"],
            json!(["planning", "archived"]),
            "{to}"
        );
    }
    let jobs = app.get(&format!("jobs/?story={id}"), &alice).await;
    assert_eq!(jobs.body["count"], 0, "refused moves queue nothing");

    let r = app
        .post(
            &format!("stories/{id}/transition/"),
            &alice,
            json!({"to": "planning", "reason": "looks good", "priority": 2}),
        )
        .await;
    r.assert_status(200);
    assert_eq!(r.body["story"]["status"], "planning");
    assert_eq!(r.body["story"]["version"], 2);
    let job = &r.body["job"];
    assert_eq!(job["kind"], "plan_story");
    assert_eq!(job["name"], "story_planning");
    assert_eq!(job["status"], "queued");
    assert_eq!(job["priority"], 2);
    assert_eq!(job["max_attempts"], 3);
    let job_id = job["id"].as_str().unwrap();
    let queue_id = format!("story_{id}_{job_id}");
    assert_eq!(job["queue_id"], queue_id);

    // The job row is listed, and the relay put the same job into Redis.
    let listed = app
        .get(&format!("jobs/?story={id}&kind=plan_story"), &alice)
        .await;
    assert_eq!(listed.body["count"], 1);
    assert_eq!(listed.body["results"][0]["id"], job_id);
    let fields = app
        .queued_job(&queue_id, Duration::from_secs(10))
        .await
        .expect("the job reaches Redis");
    assert_eq!(fields["name"], "story_planning");
    let data: Value = serde_json::from_str(&fields["data"]).unwrap();
    assert_eq!(data["story_id"], id.as_str());
    assert_eq!(data["job_id"], job_id);
    assert_eq!(data["action"], "plan_story");
    let opts: Value = serde_json::from_str(&fields["opts"]).unwrap();
    assert_eq!(opts["priority"], 2);
    assert_eq!(opts["attempts"], 3);
    assert_eq!(
        opts["backoff"],
        json!({"type": "exponential", "delay": 2000})
    );
    assert_eq!(opts["jobId"], queue_id.as_str());
    assert_eq!(fields["priority"], "2");
    let waiting = app.queue_set("prioritized").await;
    assert_eq!(
        waiting,
        vec![queue_id.clone()],
        "waiting in BullMQ's priority set"
    );
    assert_eq!(
        app.outbox_len().await,
        0,
        "the relay cleared its outbox row"
    );

    // Once planning, the owner may only cancel it.
    let r = app
        .post(
            &format!("stories/{id}/transition/"),
            &alice,
            json!({"to": "planned"}),
        )
        .await;
    r.assert_problem(409, "invalid_transition");
    assert_eq!(r.body["legal_targets"], json!(["draft"]));

    // Exactly one transition row per accepted move, and none for refused ones.
    let log = app.get(&format!("stories/{id}/transitions/"), &alice).await;
    log.assert_status(200);
    let log = log.body["results"].as_array().unwrap().clone();
    assert_eq!(log.len(), 1, "{log:?}");
    assert_eq!(log[0]["from_status"], "draft");
    assert_eq!(log[0]["to_status"], "planning");
    assert_eq!(log[0]["actor"], "alice");
    assert_eq!(log[0]["reason"], "looks good");
    assert_eq!(log[0]["job"], job_id);

    // Cancel planning: back to draft, the job cancelled; then archive and restore.
    let r = app
        .post(
            &format!("stories/{id}/transition/"),
            &alice,
            json!({"status": "draft"}),
        )
        .await;
    r.assert_status(200);
    assert_eq!(r.body["story"]["status"], "draft");
    let cancelled = app.get(&format!("jobs/{job_id}/"), &alice).await;
    assert_eq!(cancelled.body["status"], "cancelled");
    for to in ["archived", "draft"] {
        app.post(
            &format!("stories/{id}/transition/"),
            &alice,
            json!({"to": to}),
        )
        .await
        .assert_status(200);
    }
    let log = app.get(&format!("stories/{id}/transitions/"), &alice).await;
    let pairs: Vec<(String, String)> = log.body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["from_status"].as_str().unwrap().into(),
                t["to_status"].as_str().unwrap().into(),
            )
        })
        .collect();
    let expected = [
        ("draft", "planning"),
        ("planning", "draft"),
        ("draft", "archived"),
        ("archived", "draft"),
    ];
    assert_eq!(pairs, expected.map(|(a, b)| (a.to_string(), b.to_string())));
    let story = app.get(&format!("stories/{id}/"), &alice).await;
    assert_eq!(story.body["version"], 5, "one version per accepted move");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn story_workflow_on_postgres() {
    workflow(TestApp::spawn_on(Backend::Postgres).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn story_workflow_on_sqlite() {
    workflow(TestApp::spawn_on(Backend::Sqlite).await).await;
}

/// Two owners' requests race to start planning: one wins, the other is refused, and
/// only one job and one transition exist.
async fn racing_transitions(app: TestApp) {
    let alice = app.tokens.user("alice");
    let story = app.create_story(&alice, "Race", 14).await;
    let id = story["id"].as_str().unwrap();
    let path = format!("stories/{id}/transition/");
    let requests = (0..8).map(|_| app.post(&path, &alice, json!({"to": "planning"})));
    let results = futures::future::join_all(requests).await;
    let ok = results.iter().filter(|r| r.status == 200).count();
    assert_eq!(
        ok,
        1,
        "{:?}",
        results.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    for r in results.iter().filter(|r| r.status != 200) {
        assert_eq!(r.status, 409, "{}", r.text);
    }
    let jobs = app.get(&format!("jobs/?story={id}"), &alice).await;
    assert_eq!(jobs.body["count"], 1);
    let log = app.get(&format!("stories/{id}/transitions/"), &alice).await;
    assert_eq!(log.body["count"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_transitions_on_postgres() {
    racing_transitions(TestApp::spawn().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_transitions_on_sqlite() {
    racing_transitions(TestApp::spawn_sqlite().await).await;
}
