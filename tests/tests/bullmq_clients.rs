//! BullMQ clients nobody at ai-video wrote, against a live stack: Node BullMQ reads
//! the queue's counts, workers, progress, logs and events; jobs it adds in each
//! documented shape are run and recorded; bull-board's retry runs failed work again
//! and the database follows.

use std::collections::HashMap;
use std::time::Duration;

use ai_video_tests::TestApp;
use ai_video_tests::worker::WorkerTweaks;
use serde_json::{Value, json};
use uuid::Uuid;

const LONG: Duration = Duration::from_secs(90);

/// Waits until Node BullMQ sees the job in `state`; answers what it sees.
async fn node_job_in(app: &TestApp, id: &str, state: &str) -> Value {
    let deadline = tokio::time::Instant::now() + LONG;
    loop {
        let job = app.bullmq_client(&["job", id]).await;
        if job["state"] == state {
            return job;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "job {id} never became {state}: {job}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn logs_text(job: &Value) -> String {
    job["logs"].to_string()
}

#[tokio::test]
async fn node_bullmq_sees_workers_counts_progress_logs_and_events() {
    let app = TestApp::spawn().await;
    let _worker = app
        .start_worker(WorkerTweaks {
            name: "render-node-7".into(),
            ..WorkerTweaks::default()
        })
        .await;
    let alice = app.tokens.user("alice");
    let (story, _) = app.planned_by_worker(&alice, &["Dunes", "Oasis"]).await;
    app.set_local_settings(json!({"delay_ms": 1000})).await;
    let r = app
        .post(
            &format!("stories/{story}/generate_preview/"),
            &alice,
            json!({}),
        )
        .await;
    r.assert_status(202);
    let preview = r.body["job"]["queue_id"].as_str().unwrap().to_string();
    let watch = app.bullmq_watch(&preview, 60_000);

    let seen = app.bullmq_client(&["inspect"]).await;
    assert!(
        seen["workers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w.as_str().unwrap().ends_with(":w:render-node-7")),
        "getWorkers lists the worker: {seen}"
    );
    let counts = &seen["counts"];
    assert_eq!(counts["waiting-children"], 1, "{seen}");
    let started_or_waiting: u64 = ["active", "waiting", "prioritized"]
        .iter()
        .map(|k| counts[*k].as_u64().unwrap_or_else(|| panic!("{k}: {seen}")))
        .sum();
    assert_eq!(
        started_or_waiting, 2,
        "the two scene jobs (each 2 s or more) are running or waiting: {seen}"
    );
    assert_eq!(counts["completed"], 1, "the planning job: {seen}");

    let (_watch, events) = watch.next_json().await;
    let completed: Vec<&str> = events["completed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(completed.contains(&preview.as_str()), "{events}");
    let scene_jobs: Vec<Value> = app
        .jobs_of(&alice, &story)
        .await
        .into_iter()
        .filter(|j| j["kind"] == "generate_scene")
        .collect();
    assert_eq!(scene_jobs.len(), 2);
    for j in &scene_jobs {
        let id = j["queue_id"].as_str().unwrap();
        assert!(completed.contains(&id), "QueueEvents saw {id} complete");
        let progress: Vec<u64> = events["progress"][id]
            .as_array()
            .unwrap_or_else(|| panic!("no progress events for {id}: {events}"))
            .iter()
            .map(|v| v.as_u64().unwrap())
            .collect();
        assert!(
            progress.windows(2).all(|w| w[0] < w[1]) && progress.last() == Some(&100),
            "progress rises to 100: {progress:?}"
        );
        let job = app.bullmq_client(&["job", id]).await;
        assert_eq!(job["state"], "completed");
        assert_eq!(job["progress"], 100);
        assert_eq!(job["returnvalue"]["success"], true);
        // Redis and the row agree; the API hands the media link out signed.
        let mut answered = j["result"].clone();
        let link = answered["result"]["preview_url"]
            .as_str()
            .unwrap()
            .to_string();
        let (path, query) = link.split_once('?').expect("a signed media link");
        assert!(query.contains("signature="), "{link}");
        answered["result"]["preview_url"] = path.into();
        assert_eq!(job["returnvalue"], answered, "Redis and the row agree");
        let logs = logs_text(&job);
        for step in [
            "run 1 of 3 started",
            "keyframe from local",
            "clip of 2 s from local",
            "stored stories/",
            "succeeded in",
        ] {
            assert!(logs.contains(step), "{step:?} is logged: {logs}");
        }
    }
}

#[tokio::test]
async fn jobs_added_from_node_in_each_documented_shape_are_run_and_recorded() {
    let app = TestApp::spawn().await;
    let _worker = app.start_worker(WorkerTweaks::default()).await;
    let alice = app.tokens.user("alice");

    // The seed's shape: no job_id; the worker records the job itself.
    let seed = app.create_story(&alice, "Seed shape", 7).await;
    let seed_id = seed["id"].as_str().unwrap();
    let data = json!({"story_id": seed_id, "action": "plan_story", "parameters": {}});
    let added = app
        .bullmq_client(&["add", "story_planning", &data.to_string()])
        .await;
    app.wait_for_status(&alice, seed_id, "planned", LONG).await;
    let jobs = app.jobs_of(&alice, seed_id).await;
    let planning = jobs
        .iter()
        .find(|j| j["kind"] == "plan_story")
        .expect("a plan job");
    assert_eq!(planning["queue_id"], added["id"]);
    assert_eq!(planning["status"], "succeeded");
    let log = app
        .get(&format!("stories/{seed_id}/transitions/"), &alice)
        .await;
    assert!(log.text.contains("queued through BullMQ"), "{}", log.text);

    // The documented envelope, with a job id the producer chose.
    let story = app.create_story(&alice, "Envelope", 7).await;
    let story_id = story["id"].as_str().unwrap();
    let job_id = Uuid::now_v7();
    let queue_id = format!("story_{story_id}_{job_id}");
    let data = json!({"story_id": story_id, "scene_id": null, "job_id": job_id,
                      "action": "plan_story", "parameters": {}});
    let opts = json!({"jobId": queue_id, "priority": 5, "attempts": 3,
                      "backoff": {"type": "exponential", "delay": 2000}});
    app.bullmq_client(&[
        "add",
        "story_planning",
        &data.to_string(),
        &opts.to_string(),
    ])
    .await;
    app.wait_for_status(&alice, story_id, "planned", LONG).await;
    let row = app.get(&format!("jobs/{job_id}/"), &alice).await;
    row.assert_status(200);
    assert_eq!(row.body["queue_id"], queue_id.as_str());
    assert_eq!(row.body["max_attempts"], 3);

    // One scene, then the preview, from Node in the seed's shape.
    let scenes = app.get(&format!("scenes/?story={story_id}"), &alice).await;
    let scene = scenes.body["results"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let data = json!({"story_id": story_id, "scene_id": scene, "action": "generate_scene",
                      "parameters": {"quality": "preview"}});
    let added = app
        .bullmq_client(&["add", "scene_generation", &data.to_string()])
        .await;
    let done = node_job_in(&app, added["id"].as_str().unwrap(), "completed").await;
    assert_eq!(done["returnvalue"]["success"], true);
    let data = json!({"story_id": story_id, "action": "generate_preview"});
    let added = app
        .bullmq_client(&["add", "preview_generation", &data.to_string()])
        .await;
    let done = node_job_in(&app, added["id"].as_str().unwrap(), "completed").await;
    let flow = done["returnvalue"]["result"]["queued_as"]["job_id"]
        .as_str()
        .expect("the preview's assembly job")
        .to_string();
    app.wait_for(&alice, story_id, LONG, |s| !s["preview_url"].is_null())
        .await;
    let row = app.get(&format!("jobs/{flow}/"), &alice).await;
    assert_eq!(row.body["kind"], "generate_preview");
    assert_eq!(row.body["status"], "succeeded");

    // Invalid jobs fail in Redis with the reason.
    let cases = [
        (json!({"story": 1}), "not a valid job envelope"),
        (
            json!({"story_id": Uuid::now_v7(), "action": "plan_story"}),
            "no story",
        ),
        (json!({"story_id": seed_id}), "data.action is missing"),
        (
            json!({"story_id": seed_id, "action": "render_final"}),
            "cannot move a story from planned to rendering",
        ),
    ];
    for (data, reason) in cases {
        let added = app.bullmq_client(&["add", "misc", &data.to_string()]).await;
        let failed = node_job_in(&app, added["id"].as_str().unwrap(), "failed").await;
        assert!(
            failed["failedReason"].as_str().unwrap().contains(reason),
            "{data}: {failed}"
        );
        assert_eq!(failed["attemptsMade"], 1, "refused at once, not retried");
    }
}

#[tokio::test]
async fn bull_board_retries_run_failed_work_again_and_the_database_follows() {
    let app = TestApp::spawn().await;
    let _worker = app
        .start_worker(WorkerTweaks {
            concurrency: 1,
            ..WorkerTweaks::default()
        })
        .await;
    let (_board, board) = app.bull_board();
    let alice = app.tokens.user("alice");
    let (story, _) = app
        .planned_by_worker(&alice, &["Snow", "Pines", "An avalanche"])
        .await;
    let retry = |id: String| {
        let url = format!("{board}/api/queues/{}/{id}/retry", app.queue.name);
        let client = app.client.clone();
        async move { client.put(url).send().await.unwrap().status().as_u16() }
    };

    // A failed preview, retried from its assembly job in bull-board.
    app.fail_step(&alice, &story, "generate_preview", "avalanche")
        .await;
    let preview = app
        .jobs_of(&alice, &story)
        .await
        .into_iter()
        .find(|j| j["kind"] == "generate_preview")
        .unwrap();
    let preview_queue_id = preview["queue_id"].as_str().unwrap().to_string();
    node_job_in(&app, &preview_queue_id, "failed").await;
    app.set_local_settings(json!({})).await;
    assert_eq!(retry(preview_queue_id.clone()).await, 204);
    app.wait_for(&alice, &story, LONG, |s| !s["preview_url"].is_null())
        .await;
    let shown: Value = app
        .client
        .get(format!(
            "{board}/api/queues/{}/{preview_queue_id}",
            app.queue.name
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    // BullMQ never completes a parent with a failed child: the old assembly job
    // stays failed, naming the job that ran the work again.
    assert_eq!(shown["status"], "failed", "{shown}");
    assert!(
        shown["job"]["failedReason"]
            .as_str()
            .unwrap()
            .contains("retried as job"),
        "{shown}"
    );
    let logs = app
        .client
        .get(format!(
            "{board}/api/queues/{}/{preview_queue_id}/logs",
            app.queue.name
        ))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(logs.contains("retry asked through the queue"), "{logs}");

    // A failed render, retried from its failed scene job in bull-board.
    app.fail_step(&alice, &story, "render_final", "Pines").await;
    let refused = app
        .jobs_of(&alice, &story)
        .await
        .into_iter()
        .find(|j| j["kind"] == "generate_scene" && j["status"] == "failed")
        .unwrap();
    let refused_queue_id = refused["queue_id"].as_str().unwrap().to_string();
    node_job_in(&app, &refused_queue_id, "failed").await;
    app.set_local_settings(json!({})).await;
    assert_eq!(retry(refused_queue_id).await, 204);
    app.wait_for_status(&alice, &story, "completed", LONG).await;

    // Retrying a completed scene job changes nothing and buys nothing.
    let jobs = app.jobs_of(&alice, &story).await;
    let done = jobs
        .iter()
        .find(|j| j["kind"] == "generate_scene" && j["status"] == "succeeded")
        .unwrap();
    let done_queue_id = done["queue_id"].as_str().unwrap().to_string();
    let before = node_job_in(&app, &done_queue_id, "completed").await;
    assert_eq!(retry(done_queue_id.clone()).await, 204);
    let mut after = node_job_in(&app, &done_queue_id, "completed").await;
    for _ in 0..50 {
        if logs_text(&after).contains("already succeeded") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        after = node_job_in(&app, &done_queue_id, "completed").await;
    }
    assert!(logs_text(&after).contains("already succeeded"), "{after}");
    assert_eq!(after["returnvalue"], before["returnvalue"]);
    let jobs_after = app.jobs_of(&alice, &story).await;
    assert_eq!(jobs_after.len(), jobs.len(), "no new job");
    let mut per_scene: HashMap<(String, String), usize> = HashMap::new();
    for j in jobs_after.iter().filter(|j| j["kind"] == "generate_scene") {
        if j["status"] == "succeeded" {
            let key = (
                j["scene"].as_str().unwrap().to_string(),
                j["parameters"]["quality"].as_str().unwrap().to_string(),
            );
            *per_scene.entry(key).or_default() += 1;
        }
    }
    assert_eq!(per_scene.len(), 6, "3 scenes × 2 qualities: {per_scene:?}");
    assert!(per_scene.values().all(|n| *n == 1), "{per_scene:?}");
}
