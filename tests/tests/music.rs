//! A music bed under the story: an upload checked with ffprobe and size-capped, or an
//! https URL the worker fetches through its outbound guard; looped to the video's
//! length, ducked while the narrator speaks, the mix at the target loudness.

use std::time::Duration;

use ai_video_tests::files::{download, duration, probe, text};
use ai_video_tests::sound::{band_level, cues, loudness, tone_bed};
use ai_video_tests::worker::WorkerTweaks;
use ai_video_tests::{TempDir, TestApp};
use ai_video_worker::media::LOUDNESS_LUFS;
use serde_json::json;

const LONG: Duration = Duration::from_secs(120);
/// The bed's tone: far above anything the offline voice (22 kHz, so nothing above
/// 11 kHz) says, so a high-pass filter hears the music alone.
const BED_HZ: u32 = 13_000;

/// Plans the story with the running worker and asks for its preview.
async fn plan_and_ask_preview(app: &TestApp, token: &str, id: &str) {
    app.start_planning(token, id).await.assert_status(200);
    app.wait_for_status(token, id, "planned", LONG).await;
    app.post(&format!("stories/{id}/generate_preview/"), token, json!({}))
        .await
        .assert_status(202);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_music_is_looped_ducked_under_the_voice_and_mixed_to_the_target() {
    let app = TestApp::spawn().await;
    let _worker = app.start_worker(WorkerTweaks::default()).await;
    let alice = app.tokens.user("alice");
    let dir = TempDir::new();
    let story = app
        .post(
            "stories/",
            &alice,
            json!({"title": "Bed", "synopsis": "The keeper climbs the long stairs to the lamp at dusk.",
                   "duration_seconds": 14, "film": {"captions": {"burn": false}}}),
        )
        .await;
    story.assert_status(201);
    let id = story.body["id"].as_str().unwrap().to_string();
    // Six seconds of music under fourteen of video: it must loop.
    let bed = dir.path.join("bed.ogg");
    tone_bed(&bed, BED_HZ, 6);
    let r = app
        .post_raw(
            &format!("stories/{id}/music/"),
            &alice,
            "audio/ogg",
            std::fs::read(&bed).unwrap(),
        )
        .await;
    r.assert_status(200);
    assert_eq!(r.body["music"]["source"], "upload", "{}", r.text);
    assert_eq!(r.body["music"]["codec"], "vorbis");
    assert!((r.body["music"]["seconds"].as_f64().unwrap() - 6.0).abs() < 0.1);

    app.start_planning(&alice, &id).await.assert_status(200);
    app.wait_for_status(&alice, &id, "planned", LONG).await;
    // The one sentence is said over the first scene; the second is music alone.
    let scenes = app.get(&format!("scenes/?story={id}"), &alice).await;
    let said: Vec<&str> = scenes.body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["narration"].as_str().unwrap())
        .collect();
    assert_eq!(said[1], "", "{said:?}");
    app.preview(&alice, &id).await;
    app.post(&format!("stories/{id}/render_final/"), &alice, json!({}))
        .await
        .assert_status(202);
    let done = app.wait_for_status(&alice, &id, "completed", LONG).await;
    let path = download(&app, done["final_url"].as_str().unwrap(), &dir, "final.mp4").await;
    let p = probe(&path);
    assert!((duration(&p) - 14.0).abs() <= 0.15, "{p}");
    let lufs = loudness(&path);
    assert!(
        (lufs - LOUDNESS_LUFS).abs() <= 1.0,
        "the mix is at {lufs} LUFS, target {LOUDNESS_LUFS}"
    );
    let vtt = text(&app, done["final_captions"]["vtt"].as_str().unwrap()).await;
    let cue = cues(&vtt)[0].clone();
    let middle = (cue.0 + cue.1) / 2.0;
    let under = band_level(&path, 12_000, middle - 0.5, 1.0);
    // Well after the voice ends (the ducking releases in half a second).
    let alone = band_level(&path, 12_000, 10.0, 2.0);
    let late = band_level(&path, 12_000, 12.5, 1.0);
    assert!(
        alone > under + 6.0,
        "the music is ducked under the voice: {under} dB while it speaks, {alone} dB alone"
    );
    assert!(
        late > alone - 1.5,
        "the bed loops to the end: {late} dB at 12.5 s, {alone} dB at 10 s"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_music_is_refused_by_name_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let alice = app.tokens.user("alice");
    let story = app.create_story(&alice, "Quiet", 7).await;
    let id = story["id"].as_str().unwrap();
    let path = format!("stories/{id}/music/");
    let r = app
        .post_raw(
            &path,
            &alice,
            "audio/mpeg",
            "this is not music".as_bytes().to_vec(),
        )
        .await;
    r.assert_problem(422, "validation_error");
    assert!(!r.field_errors("file").is_empty(), "{}", r.text);
    // Over the cap (2 MiB in the tests): refused from the announced length, before
    // the body is read.
    app.post_announcing(&path, &alice, 3 << 20)
        .await
        .assert_problem(413, "payload_too_large");
    let r = app
        .post(
            &path,
            &alice,
            json!({"url": "http://cdn.example.com/bed.mp3"}),
        )
        .await;
    r.assert_problem(422, "validation_error");
    assert!(r.field_errors("url")[0].contains("https"), "{}", r.text);
    let r = app
        .post_raw(&path, &alice, "text/plain", "bed".as_bytes().to_vec())
        .await;
    r.assert_problem(415, "unsupported_media_type");
    let bob = app.tokens.user("bob");
    let r = app
        .post(
            &path,
            &bob,
            json!({"url": "https://cdn.example.com/bed.mp3"}),
        )
        .await;
    r.assert_status(404);
    let after = app.get(&format!("stories/{id}/"), &alice).await;
    assert!(after.body["music"].is_null(), "{}", after.text);
    assert_eq!(after.body["version"], story["version"], "nothing changed");

    // A URL is kept, and removed again.
    let r = app
        .post(
            &path,
            &alice,
            json!({"url": "https://cdn.example.com/bed.mp3"}),
        )
        .await;
    r.assert_status(200);
    assert_eq!(
        r.body["music"],
        json!({"source": "url", "url": "https://cdn.example.com/bed.mp3"})
    );
    let r = app
        .request(reqwest::Method::DELETE, &path, Some(&alice), None)
        .await;
    r.assert_status(200);
    assert!(r.body["music"].is_null());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_music_url_into_the_workers_own_network_fails_the_render_with_the_reason() {
    let app = TestApp::spawn().await;
    let _worker = app.start_worker(WorkerTweaks::default()).await;
    let alice = app.tokens.user("alice");
    let story = app.create_story(&alice, "Guarded", 7).await;
    let id = story["id"].as_str().unwrap().to_string();
    app.post(
        &format!("stories/{id}/music/"),
        &alice,
        json!({"url": "https://169.254.169.254/latest/meta-data/bed.mp3"}),
    )
    .await
    .assert_status(200);
    plan_and_ask_preview(&app, &alice, &id).await;
    let failed = app.wait_for_status(&alice, &id, "failed", LONG).await;
    let error = failed["last_error"].as_str().unwrap_or_default();
    assert!(
        error.contains("music") && error.contains("169.254.169.254"),
        "the guard's reason: {failed}"
    );
}

/// A host serving a music bed at `/bed.ogg` and three megabytes of it at `/huge.ogg`;
/// answers how many requests it got.
async fn music_host(bed: Vec<u8>) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use axum::http::header;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let hits = std::sync::Arc::new(AtomicUsize::new(0));
    let counted = hits.clone();
    let app = axum::Router::new()
        .route(
            "/bed.ogg",
            axum::routing::get(move || async move { ([(header::CONTENT_TYPE, "audio/ogg")], bed) }),
        )
        .route(
            "/huge.ogg",
            axum::routing::get(|| async {
                ([(header::CONTENT_TYPE, "audio/ogg")], vec![7u8; 3 << 20])
            }),
        )
        .layer(axum::middleware::from_fn(
            move |req: axum::extract::Request, next: axum::middleware::Next| {
                counted.fetch_add(1, Ordering::SeqCst);
                next.run(req)
            },
        ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let host = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (host, hits)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_music_url_is_fetched_by_the_worker_within_its_download_limits() {
    let dir = TempDir::new();
    let bed = dir.path.join("bed.ogg");
    tone_bed(&bed, BED_HZ, 4);
    let (host, hits) = music_host(std::fs::read(&bed).unwrap()).await;
    let app = TestApp::spawn().await;
    // The host is trusted as a test's own server must be (it is plain http on
    // loopback); the cap is 1 MB.
    let _worker = app
        .start_worker(WorkerTweaks {
            env: vec![
                ("OUTBOUND_ALLOW_HOSTS".into(), host.clone()),
                ("MUSIC_MAX_MB".into(), "1".into()),
            ],
            ..WorkerTweaks::default()
        })
        .await;
    let alice = app.tokens.user("alice");
    let mut stories = Vec::new();
    for path in ["bed.ogg", "huge.ogg"] {
        let story = app.create_story(&alice, path, 7).await;
        let id = story["id"].as_str().unwrap().to_string();
        // Stored as the API stores an https URL; only the scheme differs.
        let bed = json!({"source": "url", "url": format!("http://{host}/{path}")});
        sea_orm::ConnectionTrait::execute_unprepared(
            &app.db,
            &format!("UPDATE stories SET music = '{bed}' WHERE id = '{id}'"),
        )
        .await
        .unwrap();
        plan_and_ask_preview(&app, &alice, &id).await;
        stories.push(id);
    }
    let fine = app
        .wait_for(&alice, &stories[0], LONG, |s| s["preview_url"].is_string())
        .await;
    let path = download(
        &app,
        fine["preview_url"].as_str().unwrap(),
        &dir,
        "preview.mp4",
    )
    .await;
    let music = band_level(&path, 12_000, 5.0, 1.5);
    assert!(
        music > -60.0,
        "the fetched bed is heard in the preview: {music} dB"
    );
    let failed = app
        .wait_for_status(&alice, &stories[1], "failed", LONG)
        .await;
    let error = failed["last_error"].as_str().unwrap_or_default();
    assert!(
        error.contains("larger than the 1 MB cap"),
        "the download limit holds: {failed}"
    );
    assert_eq!(
        hits.load(std::sync::atomic::Ordering::SeqCst),
        2,
        "each bed fetched once"
    );
}
