//! Retrying what failed or was cancelled, over the REST API, as docs/api.md promises:
//! a failed preview or render runs again for the scenes that did not succeed, keeps
//! the clips that did, and carries the story to the end; the story offers only the
//! moves its real state allows.

use std::collections::HashMap;
use std::time::Duration;

use ai_video_tests::TestApp;
use ai_video_tests::worker::WorkerTweaks;
use serde_json::{Value, json};

const LONG: Duration = Duration::from_secs(90);

/// Succeeded scene jobs per scene at one quality.
fn successes(jobs: &[Value], quality: &str) -> HashMap<String, usize> {
    let mut out = HashMap::new();
    for j in jobs {
        if j["kind"] == "generate_scene"
            && j["status"] == "succeeded"
            && j["parameters"]["quality"] == quality
        {
            *out.entry(j["scene"].as_str().unwrap().to_string())
                .or_default() += 1;
        }
    }
    out
}

fn legal(story: &Value) -> Vec<String> {
    story["legal_transitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn a_failed_preview_and_a_failed_render_are_retried_to_completion() {
    let app = TestApp::spawn().await;
    // One job at a time, so the scenes before the refused one finish first.
    let _worker = app
        .start_worker(WorkerTweaks {
            concurrency: 1,
            ..WorkerTweaks::default()
        })
        .await;
    let alice = app.tokens.user("alice");
    let (story, scenes) = app
        .planned_by_worker(&alice, &["Calm sea", "Quiet harbour", "A storm breaks"])
        .await;

    // The third scene is refused, as a moderation refusal would be.
    let failed = app
        .fail_step(&alice, &story, "generate_preview", "storm")
        .await;
    assert!(failed["last_error"].as_str().unwrap().contains("storm"));
    assert_eq!(legal(&failed), ["draft", "previewing"]);
    let jobs = app.jobs_of(&alice, &story).await;
    let refused = jobs
        .iter()
        .find(|j| j["kind"] == "generate_scene" && j["status"] == "failed")
        .expect("the refused scene job");
    assert_eq!(refused["scene"], scenes[2].as_str());
    let kept = successes(&jobs, "preview");
    assert!(
        !kept.is_empty() && !kept.contains_key(&scenes[2]),
        "{kept:?}"
    );

    // Retrying the failed scene job retries its preview.
    app.set_local_settings(json!({})).await;
    let r = app
        .post(
            &format!("jobs/{}/retry/", refused["id"].as_str().unwrap()),
            &alice,
            json!({}),
        )
        .await;
    r.assert_status(202);
    assert_eq!(r.body["kind"], "generate_scene");
    assert_eq!(r.body["scene"], scenes[2].as_str());
    assert_eq!(r.body["retry_of"], refused["id"]);
    let previewed = app
        .wait_for(&alice, &story, LONG, |s| !s["preview_url"].is_null())
        .await;
    assert_eq!(previewed["status"], "previewing");
    assert_eq!(legal(&previewed), ["rendering"]);
    let jobs = app.jobs_of(&alice, &story).await;
    let per_scene = successes(&jobs, "preview");
    assert_eq!(per_scene.len(), 3, "{per_scene:?}");
    assert!(
        per_scene.values().all(|n| *n == 1),
        "a scene that succeeded was generated again: {per_scene:?}"
    );
    let retried_preview = jobs
        .iter()
        .find(|j| j["kind"] == "generate_preview" && !j["retry_of"].is_null())
        .expect("the retried preview");
    assert_eq!(retried_preview["status"], "succeeded");
    assert_eq!(
        retried_preview["parameters"]["kept_scenes"]
            .as_array()
            .unwrap()
            .len(),
        kept.len()
    );

    // The render fails the same way; retrying the render job itself finishes it.
    let failed = app
        .fail_step(&alice, &story, "render_final", "harbour")
        .await;
    assert_eq!(legal(&failed), ["draft", "rendering"]);
    assert!(!failed["preview_url"].is_null(), "the preview stays");
    let render = app
        .jobs_of(&alice, &story)
        .await
        .into_iter()
        .find(|j| j["kind"] == "render_final")
        .expect("the render job");
    assert_eq!(render["status"], "failed");
    app.set_local_settings(json!({})).await;
    let r = app
        .post(
            &format!("jobs/{}/retry/", render["id"].as_str().unwrap()),
            &alice,
            json!({}),
        )
        .await;
    r.assert_status(202);
    assert_eq!(r.body["kind"], "render_final");
    let done = app.wait_for_status(&alice, &story, "completed", LONG).await;
    assert!(!done["final_url"].is_null());
    let jobs = app.jobs_of(&alice, &story).await;
    let per_scene = successes(&jobs, "final");
    assert_eq!(per_scene.len(), 3, "{per_scene:?}");
    assert!(per_scene.values().all(|n| *n == 1), "{per_scene:?}");
    assert!(
        jobs.iter().all(|j| !matches!(
            j["status"].as_str(),
            Some("queued" | "running" | "retrying")
        )),
        "nothing is left unfinished"
    );
}

#[tokio::test]
async fn a_cancelled_preview_offers_no_render_and_can_be_retried() {
    let app = TestApp::spawn().await;
    let _worker = app.start_worker(WorkerTweaks::default()).await;
    let alice = app.tokens.user("alice");
    let (story, _) = app
        .planned_by_worker(&alice, &["One", "Two", "Three"])
        .await;
    app.set_local_settings(json!({"delay_ms": 1500})).await;
    let r = app
        .post(
            &format!("stories/{story}/generate_preview/"),
            &alice,
            json!({}),
        )
        .await;
    r.assert_status(202);
    let preview = r.body["job"]["id"].as_str().unwrap().to_string();
    app.post(&format!("jobs/{preview}/cancel/"), &alice, json!({}))
        .await
        .assert_status(200);
    let s = app.get(&format!("stories/{story}/"), &alice).await;
    assert_eq!(s.body["status"], "previewing");
    assert!(legal(&s.body).is_empty(), "{}", s.text);
    let r = app
        .post(&format!("stories/{story}/render_final/"), &alice, json!({}))
        .await;
    r.assert_status(409);

    app.set_local_settings(json!({})).await;
    let r = app
        .post(&format!("jobs/{preview}/retry/"), &alice, json!({}))
        .await;
    r.assert_status(202);
    assert_eq!(r.body["retry_of"], preview.as_str());
    let previewed = app
        .wait_for(&alice, &story, LONG, |s| !s["preview_url"].is_null())
        .await;
    assert_eq!(legal(&previewed), ["rendering"]);
}

#[tokio::test]
async fn a_story_back_in_draft_drops_its_old_media() {
    let app = TestApp::spawn().await;
    let _worker = app.start_worker(WorkerTweaks::default()).await;
    let alice = app.tokens.user("alice");
    let (story, _) = app
        .planned_by_worker(&alice, &["One", "Two", "Three"])
        .await;
    app.fail_step(&alice, &story, "generate_preview", "Three")
        .await;
    let r = app
        .post(
            &format!("stories/{story}/transition/"),
            &alice,
            json!({"to": "draft"}),
        )
        .await;
    r.assert_status(200);
    assert_eq!(legal(&r.body["story"]), ["planning", "archived"]);
    assert!(r.body["story"]["last_error"].is_null());
    assert!(r.body["story"]["preview_url"].is_null());
}

#[tokio::test]
async fn two_retries_of_one_job_at_once_queue_one_run() {
    let app = TestApp::spawn().await;
    let worker = app.start_worker(WorkerTweaks::default()).await;
    let alice = app.tokens.user("alice");
    let (story, _) = app.planned_by_worker(&alice, &["One"]).await;
    app.fail_step(&alice, &story, "generate_preview", "One")
        .await;
    worker.stop().await;
    // No worker runs the retry: the test counts what was queued.
    app.allow_unfinished();
    let failed = app
        .jobs_of(&alice, &story)
        .await
        .into_iter()
        .find(|j| j["kind"] == "generate_preview")
        .unwrap();
    let path = format!("jobs/{}/retry/", failed["id"].as_str().unwrap());
    let (a, b) = tokio::join!(
        app.post(&path, &alice, json!({})),
        app.post(&path, &alice, json!({}))
    );
    let mut statuses = [a.status, b.status];
    statuses.sort_unstable();
    assert_eq!(statuses, [202, 409], "{} / {}", a.text, b.text);
    let previews = app
        .jobs_of(&alice, &story)
        .await
        .into_iter()
        .filter(|j| j["kind"] == "generate_preview")
        .count();
    assert_eq!(previews, 2, "the failed preview and one retry");
}
