//! The worker fetches only what it may. A provider whose answer names an internal
//! address, the worker's own metrics port, a redirect that ends on loopback, or a
//! foreign host that wants a credential gets a clear job error, and the provider's
//! token never leaves for a host that is not the provider's API.

use std::time::Duration;

use ai_video_tests::providers::{ProviderFakes, REPLICATE_KEY};
use ai_video_tests::receiver::Receiver;
use ai_video_tests::{TempDir, TestApp, free_port};
use serde_json::{Value, json};

const LONG: Duration = Duration::from_secs(90);

/// The scene job of a preview whose keyframe comes from Replicate, once it failed.
async fn failed_scene_job(app: &TestApp, token: &str) -> Value {
    let story = app
        .story_on(token, &["Harbour"], ("replicate", "local"), json!({}))
        .await;
    app.post(
        &format!("stories/{story}/generate_preview/"),
        token,
        json!({}),
    )
    .await
    .assert_status(202);
    let done = app
        .wait_for(token, &story, LONG, |s| s["status"] == "failed")
        .await;
    assert!(done["last_error"].is_string(), "{done}");
    app.jobs_of(token, &story)
        .await
        .into_iter()
        .find(|j| j["kind"] == "generate_scene")
        .expect("a scene job")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_output_urls_are_refused_and_the_token_stays_home() {
    let fakes = ProviderFakes::start();
    let receiver = Receiver::start().await;
    let app = TestApp::spawn().await;
    let dir = TempDir::new();
    let metrics_port = free_port();
    let mut tweaks = fakes.tweaks(&dir.path.join("worker.log"));
    tweaks.env.extend([
        ("METRICS_ADDR".into(), format!("127.0.0.1:{metrics_port}")),
        ("OUTBOUND_ALLOW_HOSTS".into(), receiver.host_port()),
    ]);
    let _worker = app.spawn_worker_process(tweaks);
    let alice = app.tokens.user("alice");
    let metrics = format!("127.0.0.1:{metrics_port}/metrics");
    let cases = [
        (
            "http://169.254.169.254/latest/meta-data/iam/security-credentials/".to_string(),
            "http:// is not allowed",
        ),
        (
            "https://169.254.169.254/latest/meta-data/".to_string(),
            "169.254.169.254 is a link-local (cloud metadata) address",
        ),
        (format!("http://{metrics}"), "http:// is not allowed"),
        (
            format!("https://{metrics}"),
            "127.0.0.1 is a loopback address",
        ),
        (
            format!("{}/redirect?to=http://{metrics}", receiver.base),
            "http:// is not allowed",
        ),
        (
            format!(
                "{}/redirect?to={}/redirect%3Fto%3Dhttps://127.0.0.1:{metrics_port}/",
                receiver.base, receiver.base
            ),
            "127.0.0.1 is a loopback address",
        ),
    ];
    for (url, expected) in cases {
        fakes.replicate.set_output_url(Some(&url));
        let job = failed_scene_job(&app, &alice).await;
        let error = job["last_error"].as_str().unwrap_or_default();
        assert!(error.contains(expected), "{url}: {error}");
        assert!(error.contains("refused to fetch"), "{url}: {error}");
        // Refused at once: trying again cannot help.
        assert_eq!(job["attempt"], 1, "{url}: {job}");
    }

    // A foreign host that wants a credential gets none: the download fails.
    fakes
        .replicate
        .set_output_url(Some(&format!("{}/outputs/out-0.png", receiver.base)));
    let job = failed_scene_job(&app, &alice).await;
    let error = job["last_error"].as_str().unwrap_or_default();
    assert!(error.contains("401"), "{error}");
    let received = receiver.received();
    assert!(received.iter().any(|r| r.path == "/outputs/out-0.png"));
    for r in &received {
        assert!(
            r.headers.get("authorization").is_none(),
            "a credential went to a foreign host: {r:?}"
        );
        let all = format!("{:?}", r.headers);
        assert!(!all.contains(REPLICATE_KEY), "{all}");
    }
    // The provider's own API still got its token on every call.
    let api_calls = fakes.replicate.requests_to("GET", "/v1/predictions");
    assert!(!api_calls.is_empty());
}
