//! Media links are private capabilities: the URLs the API hands out are signed and
//! expire; an unsigned, tampered or expired link is a 403, and nothing outside the
//! stories' media (the SQLite database, a `../` path) is served even when signed.

use std::time::Duration;

use ai_video_tests::TestApp;
use ai_video_tests::tokens::media_signer;
use ai_video_tests::worker::WorkerTweaks;
use serde_json::Value;

async fn status_and_code(app: &TestApp, path: &str) -> (u16, String) {
    let r = app.client.get(app.url(path)).send().await.unwrap();
    let status = r.status().as_u16();
    let body: Value = r.json().await.unwrap_or(Value::Null);
    (
        status,
        body["code"].as_str().unwrap_or_default().to_string(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn links_are_signed_expire_and_reach_only_story_media() {
    let app = TestApp::spawn().await;
    let _worker = app.start_worker(WorkerTweaks::default()).await;
    let alice = app.tokens.user("alice");
    let (story, _) = app.planned_by_worker(&alice, &["Quay", "Gull"]).await;
    let done = app.preview(&alice, &story).await;
    let link = done["preview_url"].as_str().unwrap().to_string();
    assert!(link.starts_with("/media/stories/"), "{link}");
    assert!(
        link.contains("?expires=") && link.contains("&signature="),
        "{link}"
    );

    // The link works, for anyone who holds it.
    let r = app.client.get(app.url(&link)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "video/mp4");

    // The job's result carries a working link too.
    let preview_job = app
        .jobs_of(&alice, &story)
        .await
        .into_iter()
        .find(|j| j["kind"] == "generate_preview")
        .unwrap();
    let job_link = preview_job["result"]["result"]["preview_url"]
        .as_str()
        .unwrap();
    assert!(job_link.contains("&signature="), "{job_link}");
    let r = app.client.get(app.url(job_link)).send().await.unwrap();
    assert_eq!(r.status(), 200);

    let (path, query) = link.split_once('?').unwrap();
    // Unsigned, tampered, or moved to another key: refused.
    assert_eq!(
        status_and_code(&app, path).await,
        (403, "media_link_invalid".into())
    );
    let mut tampered = link.clone();
    let last = tampered.pop().unwrap();
    tampered.push(if last == '0' { '1' } else { '0' });
    assert_eq!(
        status_and_code(&app, &tampered).await,
        (403, "media_link_invalid".into())
    );
    let moved = format!("{}?{query}", path.replace("preview.mp4", "final.mp4"));
    assert_eq!(
        status_and_code(&app, &moved).await,
        (403, "media_link_invalid".into())
    );

    // An expired link, once valid, is refused as expired.
    let signer = media_signer(Duration::from_secs(86_400));
    let key = path.trim_start_matches("/media/");
    let long_ago = chrono::Utc::now().timestamp() - 2 * 86_400;
    let expired = signer.link(key, long_ago);
    assert_eq!(
        status_and_code(&app, &expired).await,
        (403, "media_link_expired".into())
    );

    // Outside the stories' media nothing is served, signed or not.
    let now = chrono::Utc::now().timestamp();
    for key in [
        "ai-video.db",
        "stories/../ai-video.db",
        "media/../../etc/passwd",
    ] {
        let signed = signer.link(key, now);
        let (status, _) = status_and_code(&app, &signed).await;
        assert_eq!(status, 404, "{key}");
    }
}
