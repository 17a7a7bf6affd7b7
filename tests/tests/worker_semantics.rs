//! Queue semantics through the whole system: API, outbox, Redis, the worker
//! (in-process, or the real binary when a test kills it), Postgres and ffmpeg.

use std::time::Duration;

use ai_video_shared::domain::RetryPolicy;
use ai_video_tests::worker::WorkerTweaks;
use ai_video_tests::{Options, TestApp};
use serde_json::{Value, json};

const LONG: Duration = Duration::from_secs(90);

fn jobs_of(list: &Value) -> Vec<Value> {
    list["results"].as_array().cloned().unwrap_or_default()
}

async fn generate(app: &TestApp, token: &str, scene: &str, priority: i64) -> String {
    let r = app
        .post(
            &format!("scenes/{scene}/generate/"),
            token,
            json!({"priority": priority}),
        )
        .await;
    r.assert_status(202);
    r.body["id"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_the_slot_busy_the_high_priority_job_runs_next() {
    let app = TestApp::spawn().await;
    let alice = app.tokens.user("alice");
    let (_, busy) = app.planned_story(&alice, 1, 2).await;
    let (_, lows) = app.planned_story(&alice, 4, 2).await;
    let (_, high) = app.planned_story(&alice, 1, 2).await;
    app.set_local_settings(json!({"delay_ms": 400})).await;
    let _worker = app
        .start_worker(WorkerTweaks {
            concurrency: 1,
            ..WorkerTweaks::default()
        })
        .await;

    let first = generate(&app, &alice, &busy[0], 5).await;
    app.wait_for_job(&alice, &first, "running", LONG).await;
    let mut low_jobs = Vec::new();
    for scene in &lows {
        low_jobs.push(generate(&app, &alice, scene, 10).await);
    }
    let high_job = generate(&app, &alice, &high[0], 1).await;
    for job in low_jobs.iter().chain([&high_job]) {
        app.wait_for_job(&alice, job, "succeeded", LONG).await;
    }
    let list = app
        .get("jobs/?kind=generate_scene&page_size=100", &alice)
        .await;
    let mut runs: Vec<(String, String)> = jobs_of(&list.body)
        .iter()
        .map(|j| {
            (
                j["started_at"].as_str().unwrap().to_string(),
                j["id"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    runs.sort();
    let order: Vec<String> = runs.into_iter().map(|r| r.1).collect();
    let mut expected = vec![first, high_job];
    expected.extend(low_jobs);
    assert_eq!(
        order, expected,
        "the busy job, then the high one, then the lows in FIFO order"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failing_scene_runs_three_times_then_fails_the_preview_and_the_story() {
    let app = TestApp::spawn_with(Options {
        job_retry: RetryPolicy {
            attempts: 3,
            backoff_ms: 300,
        },
        ..Options::default()
    })
    .await;
    let alice = app.tokens.user("alice");
    let (story, _) = app.planned_story(&alice, 2, 2).await;
    app.set_local_settings(json!({"fail_attempts": 99})).await;
    let _worker = app.start_worker(WorkerTweaks::default()).await;
    app.post(
        &format!("stories/{story}/generate_preview/"),
        &alice,
        json!({}),
    )
    .await
    .assert_status(202);
    let failed = app.wait_for_status(&alice, &story, "failed", LONG).await;
    let error = failed["last_error"].as_str().unwrap();
    assert!(
        error.starts_with("scene ") && error.contains("fails run 3"),
        "a readable error: {error}"
    );

    tokio::time::sleep(Duration::from_secs(2)).await;
    let jobs = app
        .get(&format!("jobs/?story={story}&page_size=100"), &alice)
        .await;
    let jobs = jobs_of(&jobs.body);
    let failed_scene: Vec<&Value> = jobs
        .iter()
        .filter(|j| j["kind"] == "generate_scene" && j["status"] == "failed")
        .collect();
    assert_eq!(failed_scene.len(), 1, "{jobs:#?}");
    assert_eq!(
        failed_scene[0]["attempt"], 3,
        "exactly three runs, never a fourth"
    );
    assert_eq!(failed_scene[0]["result"]["success"], false);
    let parent = jobs
        .iter()
        .find(|j| j["kind"] == "generate_preview")
        .unwrap();
    assert_eq!(parent["status"], "failed");
    assert_eq!(
        parent["started_at"],
        Value::Null,
        "the preview was never assembled"
    );
    for j in jobs
        .iter()
        .filter(|j| j["kind"] == "generate_scene" && j["status"] != "failed")
    {
        assert!(
            j["status"] == "cancelled" || j["status"] == "failed",
            "the sibling stops: {j}"
        );
    }
    let log = app
        .get(&format!("stories/{story}/transitions/"), &alice)
        .await;
    let to_failed: Vec<&Value> = log.body["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["to_status"] == "failed")
        .collect();
    assert_eq!(to_failed.len(), 1);
    assert_eq!(to_failed[0]["actor"], "worker");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_worker_killed_mid_job_loses_nothing() {
    let app = TestApp::spawn().await;
    let alice = app.tokens.user("alice");
    let story = app.create_story(&alice, "Crash", 4).await;
    let id = story["id"].as_str().unwrap().to_string();
    let tweaks = WorkerTweaks {
        concurrency: 2,
        lock_ms: 2000,
        stalled_ms: 1000,
        ..WorkerTweaks::default()
    };
    let mut doomed = app.spawn_worker_process(tweaks.clone());
    app.start_planning(&alice, &id).await.assert_status(200);
    app.wait_for_status(&alice, &id, "planned", LONG).await;

    app.set_local_settings(json!({"delay_ms": 3000})).await;
    app.post(
        &format!("stories/{id}/generate_preview/"),
        &alice,
        json!({}),
    )
    .await
    .assert_status(202);
    let scene_job = loop {
        let jobs = app
            .get(&format!("jobs/?story={id}&kind=generate_scene"), &alice)
            .await;
        if let Some(j) = jobs_of(&jobs.body)
            .into_iter()
            .find(|j| j["status"] == "running")
        {
            break j;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    doomed.kill();

    app.set_local_settings(json!({})).await;
    let _rescuer = app.start_worker(tweaks).await;
    let done = app
        .wait_for(&alice, &id, LONG, |s| s["preview_url"].is_string())
        .await;
    assert_eq!(done["status"], "previewing");

    let job = app
        .get(
            &format!("jobs/{}/", scene_job["id"].as_str().unwrap()),
            &alice,
        )
        .await;
    assert_eq!(job.body["status"], "succeeded");
    assert_eq!(
        job.body["attempt"], 2,
        "started twice: once by the dead worker"
    );
    let all = app
        .get(&format!("jobs/?story={id}&page_size=100"), &alice)
        .await;
    for j in jobs_of(&all.body) {
        assert_eq!(j["status"], "succeeded", "{j}");
    }
    let log = app.get(&format!("stories/{id}/transitions/"), &alice).await;
    let moves: Vec<String> = log.body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            format!(
                "{}->{}",
                t["from_status"].as_str().unwrap(),
                t["to_status"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        moves,
        [
            "draft->planning",
            "planning->planned",
            "planned->previewing"
        ],
        "nothing duplicated"
    );
    let fields = app
        .queued_job(
            job.body["queue_id"].as_str().unwrap(),
            Duration::from_secs(1),
        )
        .await
        .unwrap();
    assert!(
        fields.contains_key("finishedOn")
            && fields.get("failedReason").is_none_or(|r| r.is_empty()),
        "{fields:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_preview_is_assembled_once_when_scenes_finish_together_on_two_workers() {
    let app = TestApp::spawn().await;
    let alice = app.tokens.user("alice");
    let (story, _) = app.planned_story(&alice, 6, 1).await;
    app.set_local_settings(json!({"delay_ms": 300})).await;
    let tweaks = |name: &str| WorkerTweaks {
        concurrency: 3,
        name: name.into(),
        ..WorkerTweaks::default()
    };
    let _a = app.start_worker(tweaks("a")).await;
    let _b = app.start_worker(tweaks("b")).await;
    let r = app
        .post(
            &format!("stories/{story}/generate_preview/"),
            &alice,
            json!({}),
        )
        .await;
    let parent = r.body["job"].clone();
    app.wait_for(&alice, &story, LONG, |s| s["preview_url"].is_string())
        .await;

    let parent_row = app
        .get(&format!("jobs/{}/", parent["id"].as_str().unwrap()), &alice)
        .await;
    assert_eq!(parent_row.body["status"], "succeeded");
    assert_eq!(parent_row.body["attempt"], 1, "assembled by one run");
    let fields = app
        .queued_job(parent["queue_id"].as_str().unwrap(), Duration::from_secs(1))
        .await
        .unwrap();
    assert_eq!(
        fields.get("ats").map(String::as_str),
        Some("1"),
        "BullMQ started the parent once: {fields:?}"
    );
    let scenes = app
        .get(&format!("jobs/?story={story}&kind=generate_scene"), &alice)
        .await;
    let names: std::collections::HashSet<String> = jobs_of(&scenes.body)
        .iter()
        .map(|j| {
            j["result"]["result"]["metadata"]["clip_key"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(names.len(), 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_cancelled_queued_job_never_starts_and_a_running_one_stops() {
    let app = TestApp::spawn().await;
    let alice = app.tokens.user("alice");
    let (_, scenes) = app.planned_story(&alice, 1, 2).await;
    let (_, waiting) = app.planned_story(&alice, 1, 2).await;
    app.set_local_settings(json!({"delay_ms": 5000})).await;
    let _worker = app
        .start_worker(WorkerTweaks {
            concurrency: 1,
            ..WorkerTweaks::default()
        })
        .await;
    let running = generate(&app, &alice, &scenes[0], 5).await;
    app.wait_for_job(&alice, &running, "running", LONG).await;
    let queued = generate(&app, &alice, &waiting[0], 5).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    app.post(&format!("jobs/{queued}/cancel/"), &alice, json!({}))
        .await
        .assert_status(200);

    // The running job stops at its next step, long before its 5 s provider delay.
    let asked = std::time::Instant::now();
    app.post(&format!("jobs/{running}/cancel/"), &alice, json!({}))
        .await
        .assert_status(200);
    let row = app.get(&format!("jobs/{running}/"), &alice).await;
    let queue_id = row.body["queue_id"].as_str().unwrap().to_string();
    let mut redis = app.redis().await;
    loop {
        let reason: Option<String> = redis::cmd("HGET")
            .arg(app.job_key(&queue_id))
            .arg("failedReason")
            .query_async(&mut redis)
            .await
            .unwrap();
        if reason.is_some_and(|r| r.contains("cancelled")) {
            break;
        }
        assert!(
            asked.elapsed() < Duration::from_secs(3),
            "the running job did not stop"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let scene = app.get(&format!("scenes/{}/", scenes[0]), &alice).await;
    assert_eq!(
        scene.body["clip_url"],
        Value::Null,
        "nothing was stored for it"
    );

    // The queued one never starts, even once the slot is free.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let row = app.get(&format!("jobs/{queued}/"), &alice).await;
    assert_eq!(row.body["status"], "cancelled");
    assert_eq!(row.body["started_at"], Value::Null, "never started");
    assert_eq!(row.body["attempt"], 0);
}
