//! Money is spent once: a scene job that waits for a Runway slot, or whose worker is
//! killed while it polls a task, never buys its keyframe or its clip again; the
//! fakes count what they were asked for.

use std::time::Duration;

use ai_video_tests::fakes::OutputKind;
use ai_video_tests::providers::{ProviderFakes, SDXL_IMAGES, runway_settings};
use ai_video_tests::{TempDir, TestApp};
use serde_json::{Value, json};

const LONG: Duration = Duration::from_secs(120);
const IMAGES: &str = SDXL_IMAGES;

/// A story on Stability and Runway (one concurrent Runway task, fast polls) with
/// one 2-second scene per prompt, planned by the worker.
async fn runway_story(app: &TestApp, token: &str, prompts: &[&str]) -> String {
    app.story_on(
        token,
        prompts,
        ("stability_ai", "runway_ml"),
        runway_settings(),
    )
    .await
}

fn error_lines(log: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains("\"level\":\"ERROR\""))
        .map(str::to_string)
        .collect()
}

#[tokio::test]
async fn waiting_for_a_runway_slot_buys_each_keyframe_and_clip_once() {
    let fakes = ProviderFakes::start();
    fakes.runway.set_polls(0, 3);
    let app = TestApp::spawn().await;
    let dir = TempDir::new();
    let log = dir.path.join("worker.log");
    let _worker = app.spawn_worker_process(fakes.tweaks(&log));
    let alice = app.tokens.user("alice");
    let prompts = ["Dawn", "Gulls", "Nets", "Rain", "Lamps", "Night"];
    let id = runway_story(&app, &alice, &prompts).await;
    app.preview(&alice, &id).await;

    assert_eq!(
        fakes.stability.requests_to("POST", IMAGES).len(),
        6,
        "one paid keyframe per scene, however often the jobs waited"
    );
    assert_eq!(
        fakes.runway.requests_to("POST", "/v1/image_to_video").len(),
        6,
        "one Runway task per clip"
    );
    let errors = error_lines(&log);
    assert!(errors.is_empty(), "no ERROR for planned waits: {errors:?}");
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains("put back without using an attempt"),
        "the jobs did wait for the slot"
    );
    // What the story cost is what the fakes billed: 6 SDXL images at 30 steps
    // (0.06 credits each, 1 credit = $0.01) and 12 s of gen4_turbo (5 credits a
    // second).
    let story = app.get(&format!("stories/{id}/"), &alice).await;
    let images = fakes.stability.requests_to("POST", IMAGES).len() as f64;
    let seconds = 2.0 * prompts.len() as f64;
    let expected = images * 0.0006 + seconds * 0.05;
    let actual: f64 = story.body["actual_cost"].as_str().unwrap().parse().unwrap();
    assert!(
        (actual - expected).abs() < 0.0001,
        "actual_cost {actual} vs billed {expected}"
    );
}

#[tokio::test]
async fn a_worker_killed_while_it_polls_leaves_its_task_to_be_adopted() {
    let fakes = ProviderFakes::start();
    fakes.runway.set_polls(0, 40);
    let app = TestApp::spawn().await;
    let dir = TempDir::new();
    let alice = app.tokens.user("alice");
    let mut first = app.spawn_worker_process(fakes.tweaks(&dir.path.join("first.log")));
    let id = runway_story(&app, &alice, &["Lighthouse"]).await;
    app.post(
        &format!("stories/{id}/generate_preview/"),
        &alice,
        json!({}),
    )
    .await
    .assert_status(202);
    let deadline = tokio::time::Instant::now() + LONG;
    while fakes.runway.task_ids().is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "no task created");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    first.kill();
    let task = fakes.runway.task_ids()[0].clone();

    let _second = app.spawn_worker_process(fakes.tweaks(&dir.path.join("second.log")));
    let done = app
        .wait_for(&alice, &id, LONG, |s| {
            !s["preview_url"].is_null() || s["status"] == "failed"
        })
        .await;
    assert_eq!(done["status"], "previewing", "{done}");
    assert_eq!(
        fakes.runway.task_ids(),
        std::slice::from_ref(&task),
        "the next worker adopted task {task} instead of creating another"
    );
    assert_eq!(fakes.stability.requests_to("POST", IMAGES).len(), 1);
    let scene_jobs: Vec<Value> = app
        .jobs_of(&alice, &id)
        .await
        .into_iter()
        .filter(|j| j["kind"] == "generate_scene")
        .collect();
    assert_eq!(scene_jobs.len(), 1);
    assert_eq!(scene_jobs[0]["status"], "succeeded");
    let second = std::fs::read_to_string(dir.path.join("second.log")).unwrap();
    assert!(second.contains("adopting the runway_ml task"), "{second}");
}

#[tokio::test]
async fn a_task_stuck_past_its_deadline_is_cancelled_and_the_attempt_names_it() {
    let fakes = ProviderFakes::start();
    fakes.runway.set_polls(100_000, 0);
    let app = TestApp::spawn().await;
    // The test ends while the scene job waits for its next attempt.
    app.allow_unfinished();
    let dir = TempDir::new();
    let _worker = app.spawn_worker_process(fakes.tweaks(&dir.path.join("worker.log")));
    let alice = app.tokens.user("alice");
    let settings = json!({"default_model": "gen4_turbo", "max_concurrency": 1,
                          "poll_interval_ms": 100, "deadline_secs": 2});
    let id = app
        .story_on(&alice, &["Fog"], ("stability_ai", "runway_ml"), settings)
        .await;
    app.post(
        &format!("stories/{id}/generate_preview/"),
        &alice,
        json!({}),
    )
    .await
    .assert_status(202);
    let deadline = tokio::time::Instant::now() + LONG;
    let job = loop {
        let scene_job = app
            .jobs_of(&alice, &id)
            .await
            .into_iter()
            .find(|j| j["kind"] == "generate_scene")
            .unwrap();
        if scene_job["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("deadline"))
        {
            break scene_job;
        }
        assert!(tokio::time::Instant::now() < deadline, "{scene_job}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let reason = job["last_error"].as_str().unwrap();
    assert!(
        reason.contains("did not finish within its deadline of 2 s"),
        "{reason}"
    );
    let first = fakes.runway.task_ids()[0].clone();
    assert!(
        reason.contains(&first),
        "the reason names the task: {reason}"
    );
    assert!(
        fakes.runway.cancelled_tasks().contains(&first),
        "the stuck task was cancelled at Runway"
    );
}

#[tokio::test]
async fn a_create_held_past_the_client_timeout_is_sent_once_and_used() {
    let fakes = ProviderFakes::start();
    let model = "black-forest-labs/flux-schnell";
    fakes.replicate.set_output_kind(model, OutputKind::Image);
    // The model takes longer than the client's whole request timeout.
    fakes.replicate.set_wait_time(Duration::from_secs(8));
    let app = TestApp::spawn().await;
    let dir = TempDir::new();
    let mut tweaks = fakes.tweaks(&dir.path.join("worker.log"));
    tweaks
        .env
        .push(("PROVIDER_REQUEST_TIMEOUT_SECS".into(), "4".into()));
    let _worker = app.spawn_worker_process(tweaks);
    let alice = app.tokens.user("alice");
    let admin = app.tokens.admin("ops");
    app.patch(
        "providers/replicate/",
        &admin,
        json!({"settings": {"image_model": model, "poll_interval_ms": 100}}),
    )
    .await
    .assert_status(200);
    let id = app
        .story_on(&alice, &["Tower"], ("replicate", "local"), json!({}))
        .await;
    app.preview(&alice, &id).await;
    let creates = fakes
        .replicate
        .requests_to("POST", &format!("/v1/models/{model}/predictions"));
    assert_eq!(creates.len(), 1, "exactly one prediction was bought");
    let prefer = creates[0].header("prefer").unwrap_or_default().to_string();
    assert_eq!(prefer, "wait=2", "the hold stays under the 4 s timeout");
    let predictions = fakes.replicate.prediction_ids();
    let scene_job = app
        .jobs_of(&alice, &id)
        .await
        .into_iter()
        .find(|j| j["kind"] == "generate_scene")
        .unwrap();
    assert_eq!(
        scene_job["result"]["result"]["metadata"]["image"]["details"]["prediction"],
        predictions[0].as_str(),
        "the prediction bought is the one used"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn steps_of_one_job_recorded_at_once_are_all_paid_for() {
    use ai_video_shared::db::Money;
    use ai_video_shared::db::entities::{job, story};
    use ai_video_shared::domain::Provider;
    use ai_video_shared::store::steps;
    use sea_orm::EntityTrait;

    // No worker: the planning job stays queued, and its row takes the steps.
    let app = TestApp::spawn().await;
    let alice = app.tokens.user("alice");
    let created = app.create_story(&alice, "Paid twice", 14).await;
    let id = created["id"].as_str().unwrap();
    app.start_planning(&alice, id).await.assert_status(200);
    let row = job::Entity::find()
        .one(&app.db)
        .await
        .unwrap()
        .expect("the planning job");
    let steps = (0..12).map(|i| {
        let (db, row) = (app.db.clone(), row.clone());
        tokio::spawn(async move {
            let name = format!("speech-{i}");
            let done = steps::Done {
                name: &name,
                provider: Provider::OpenAi,
                remote_id: None,
                storage_key: None,
                cost: Money::new("0.0125".parse().unwrap()),
                data: json!({}),
            };
            steps::done(&db, &row, done).await
        })
    });
    for result in futures::future::join_all(steps).await {
        result.unwrap().expect("a step recorded beside others");
    }
    let paid = job::Entity::find_by_id(row.id)
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(paid.cost.map(|c| c.0.to_string()), Some("0.1500".into()));
    let story = story::Entity::find_by_id(row.story_id)
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(story.actual_cost.0.to_string(), "0.1500");
}
