//! Outages are waits: a worker paused past its lock, the database stopped for a
//! minute, a worker told to stop with jobs far longer than its grace. Every story
//! finishes, each scene is made once, and no attempt is spent on the outage.

use std::process::Command;
use std::time::{Duration, Instant};

use ai_video_tests::postgres_server::PostgresServer;
use ai_video_tests::worker::WorkerTweaks;
use ai_video_tests::{Options, TestApp};
use serde_json::json;

/// BullMQ's count of finished runs of a job (a completion counts one; a put-back
/// counts none).
async fn attempts_made(app: &TestApp, queue_id: &str) -> u32 {
    let fields = app
        .queued_job(queue_id, Duration::from_secs(5))
        .await
        .unwrap_or_else(|| panic!("BullMQ job {queue_id} is gone"));
    fields.get("atm").and_then(|n| n.parse().ok()).unwrap_or(0)
}

fn signal(pid: u32, sig: &str) {
    let ok = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status()
        .expect("kill runs")
        .success();
    assert!(ok, "kill -{sig} {pid}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_paused_past_its_lock_beside_another_makes_each_scene_once() {
    let app = TestApp::spawn().await;
    let alice = app.tokens.user("alice");
    let mut paused = app.spawn_worker_process(WorkerTweaks {
        name: "paused".into(),
        ..WorkerTweaks::default()
    });
    let stories = app
        .ask_previews(&alice, &["North", "South", "East"], 1500)
        .await;
    // The first worker holds scene jobs when it stops answering.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let _other = app.spawn_worker_process(WorkerTweaks {
        name: "other".into(),
        ..WorkerTweaks::default()
    });
    signal(paused.child.id(), "STOP");
    // Three locks long: its jobs stall and go to the other worker.
    tokio::time::sleep(Duration::from_secs(6)).await;
    signal(paused.child.id(), "CONT");
    app.each_scene_once(&alice, &stories).await;
    paused.kill();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_minute_without_the_database_is_a_wait() {
    let mut postgres = PostgresServer::start().await;
    let app = TestApp::spawn_with(Options {
        postgres_url: Some(postgres.url()),
        ..Options::default()
    })
    .await;
    let alice = app.tokens.user("alice");
    // Default concurrency; the test's short lock (2 s) makes takeovers quick.
    let worker = app
        .start_worker(WorkerTweaks {
            concurrency: 64,
            env: vec![("WORKER_RECONCILE_INTERVAL_SECS".into(), "2".into())],
            ..WorkerTweaks::default()
        })
        .await;
    let stories = app
        .ask_previews(&alice, &["North", "South", "East"], 1500)
        .await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    postgres.stop();
    tokio::time::sleep(Duration::from_secs(60)).await;
    postgres.restart().await;
    let scene_jobs = app.each_scene_once(&alice, &stories).await;
    // The outage used up no attempt: each BullMQ job finished on its first counted run.
    for j in &scene_jobs {
        let queue_id = j["queue_id"].as_str().unwrap();
        assert_eq!(attempts_made(&app, queue_id).await, 1, "{j}");
    }
    worker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_worker_leaves_at_its_grace_and_its_jobs_finish_elsewhere_once() {
    let app = TestApp::spawn().await;
    let alice = app.tokens.user("alice");
    let planner = app.start_worker(WorkerTweaks::default()).await;
    let (story, _) = app
        .planned_by_worker(&alice, &["A long shore", "A long hill"])
        .await;
    planner.stop().await;
    let mut leaving = app.spawn_worker_process(WorkerTweaks {
        name: "leaving".into(),
        grace_secs: 5,
        ..WorkerTweaks::default()
    });
    // Each scene takes 40 s: a 20 s keyframe and a 20 s clip.
    app.set_local_settings(json!({"delay_ms": 20_000})).await;
    app.post(
        &format!("stories/{story}/generate_preview/"),
        &alice,
        json!({}),
    )
    .await
    .assert_status(202);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let jobs = app.jobs_of(&alice, &story).await;
        let running = jobs
            .iter()
            .filter(|j| j["kind"] == "generate_scene" && j["status"] == "running")
            .count();
        if running == 2 {
            break;
        }
        assert!(Instant::now() < deadline, "scene jobs never ran: {jobs:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let asked = Instant::now();
    let status = leaving.terminate();
    let took = asked.elapsed();
    assert!(status.success(), "{status:?}");
    assert!(
        took < Duration::from_secs(8),
        "the worker took {took:?} to leave with a 5 s grace"
    );
    // The jobs went back to the queue at once; a short second run finishes them.
    app.set_local_settings(json!({"delay_ms": 200})).await;
    let _other = app.spawn_worker_process(WorkerTweaks {
        name: "other".into(),
        ..WorkerTweaks::default()
    });
    let scene_jobs = app
        .each_scene_once(&alice, std::slice::from_ref(&story))
        .await;
    for j in &scene_jobs {
        let queue_id = j["queue_id"].as_str().unwrap();
        assert_eq!(
            attempts_made(&app, queue_id).await,
            1,
            "the stopped run used no attempt: {j}"
        );
        assert_eq!(j["attempt"], 1, "the stopped run is not counted: {j}");
    }
}
