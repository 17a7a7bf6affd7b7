//! Outputs are checked before they are used: a 2 GB "clip" is streamed to disk and
//! cut off at its cap without the worker's memory growing, and a clip that is not a
//! video fails the job with the reason; every clip bought for it is in its cost.

use std::time::Duration;

use ai_video_tests::fakes::OutputBody;
use ai_video_tests::providers::{ProviderFakes, runway_settings};
use ai_video_tests::{TempDir, TestApp};
use serde_json::{Value, json};

const LONG: Duration = Duration::from_secs(120);

/// The peak resident memory of a process, in MiB (`VmHWM`).
fn peak_rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib: f64 = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .expect("VmHWM");
    kib / 1024.0
}

async fn failed_preview(app: &TestApp, token: &str, id: &str) -> (Value, Value) {
    app.post(&format!("stories/{id}/generate_preview/"), token, json!({}))
        .await
        .assert_status(202);
    let story = app.wait_for_status(token, id, "failed", LONG).await;
    let job = app
        .jobs_of(token, id)
        .await
        .into_iter()
        .find(|j| j["kind"] == "generate_scene")
        .unwrap();
    (story, job)
}

#[tokio::test]
async fn a_2_gb_clip_is_cut_off_at_its_cap_with_little_memory() {
    let fakes = ProviderFakes::start();
    fakes
        .runway
        .set_output_body(Some(OutputBody::Huge(2 << 30)));
    let app = TestApp::spawn().await;
    let dir = TempDir::new();
    let mut tweaks = fakes.tweaks(&dir.path.join("worker.log"));
    tweaks
        .env
        .push(("PROVIDER_MAX_CLIP_MB".into(), "64".into()));
    let worker = app.spawn_worker_process(tweaks);
    let alice = app.tokens.user("alice");
    let id = app
        .story_on(
            &alice,
            &["Waves"],
            ("stability_ai", "runway_ml"),
            runway_settings(),
        )
        .await;
    let (story, job) = failed_preview(&app, &alice, &id).await;
    let reason = job["last_error"].as_str().unwrap();
    assert!(reason.contains("larger than the 64 MB cap"), "{reason}");
    assert!(story["last_error"].as_str().unwrap().contains("64 MB cap"));
    assert_eq!(
        job["attempt"], 1,
        "an oversized output is not fetched again"
    );
    let peak = peak_rss_mib(worker.child.id());
    assert!(peak < 200.0, "the worker peaked at {peak:.0} MiB");
    assert_eq!(
        fakes.runway.requests_to("POST", "/v1/image_to_video").len(),
        1
    );
    // The task was accepted, so it is paid for: 2 s of gen4_turbo at 5 credits.
    let cost: f64 = job["cost"].as_str().unwrap().parse().unwrap();
    assert!(
        cost >= 0.10,
        "the accepted task is in the job's cost: {job}"
    );
}

#[tokio::test]
async fn a_clip_that_is_not_a_video_fails_with_the_reason_and_every_purchase_counts() {
    let fakes = ProviderFakes::start();
    fakes.runway.set_output_body(Some(OutputBody::NotMedia));
    let app = TestApp::spawn().await;
    let dir = TempDir::new();
    let _worker = app.spawn_worker_process(fakes.tweaks(&dir.path.join("worker.log")));
    let alice = app.tokens.user("alice");
    let id = app
        .story_on(
            &alice,
            &["Cliffs"],
            ("stability_ai", "runway_ml"),
            runway_settings(),
        )
        .await;
    let (story, job) = failed_preview(&app, &alice, &id).await;
    let reason = job["last_error"].as_str().unwrap();
    assert!(
        reason.contains("the clip runway_ml made is unusable"),
        "{reason}"
    );
    assert!(story["last_error"].as_str().unwrap().contains("unusable"));
    // Each attempt bought a new clip (an unusable one is never adopted again), and
    // the keyframe was bought once.
    let creates = fakes.runway.requests_to("POST", "/v1/image_to_video").len();
    assert_eq!(creates, 3, "one clip per attempt");
    assert_eq!(
        fakes
            .stability
            .requests_to("POST", ai_video_tests::providers::SDXL_IMAGES)
            .len(),
        1
    );
    let cost: f64 = job["cost"].as_str().unwrap().parse().unwrap();
    let expected = 3.0 * 0.10 + 0.0006;
    assert!(
        (cost - expected).abs() < 0.0001,
        "three clips and a keyframe: {cost} vs {expected}"
    );
}
