//! The whole workflow over HTTP with a real worker: draft → planning → planned (3
//! scenes for 21 s) → previewing (preview URL) → rendering → completed, with the
//! final MP4 checked by ffprobe and every object present in the S3 bucket.

use std::time::Duration;

use ai_video_tests::files::{download, duration, probe};
use ai_video_tests::worker::WorkerTweaks;
use ai_video_tests::{Backend, Media, Options, TempDir, TestApp};
use serde_json::{Value, json};

const LONG: Duration = Duration::from_secs(120);

async fn whole_workflow(app: TestApp) {
    let worker = app.start_worker(WorkerTweaks::default()).await;
    let alice = app.tokens.user("alice");
    let story = app
        .post(
            "stories/",
            &alice,
            json!({"title": "The Lighthouse", "synopsis": "A keeper climbs the stairs. A storm hits the tower. Dawn breaks over calm water.",
                   "duration_seconds": 21, "aspect_ratio": "16:9"}),
        )
        .await;
    let id = story.body["id"].as_str().unwrap().to_string();

    app.start_planning(&alice, &id).await.assert_status(200);
    let planned = app.wait_for_status(&alice, &id, "planned", LONG).await;
    assert_eq!(
        planned["estimated_cost"], "0.1000",
        "local costs nothing; storage is 0.10"
    );
    assert_eq!(planned["cost_estimate"]["total"], "0.1000");
    let scenes = app.get(&format!("scenes/?story={id}"), &alice).await;
    assert_eq!(scenes.body["count"], 3);
    let texts: Vec<&str> = scenes.body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["prompt"]["text"].as_str().unwrap())
        .collect();
    assert_eq!(
        texts,
        [
            "A keeper climbs the stairs.",
            "A storm hits the tower.",
            "Dawn breaks over calm water."
        ]
    );
    for s in scenes.body["results"].as_array().unwrap() {
        assert_eq!(s["duration_seconds"], 7);
    }

    app.post(
        &format!("stories/{id}/generate_preview/"),
        &alice,
        json!({}),
    )
    .await
    .assert_status(202);
    let previewed = app
        .wait_for(&alice, &id, LONG, |s| s["preview_url"].is_string())
        .await;
    assert_eq!(previewed["status"], "previewing");
    let dir = TempDir::new();
    let preview = download(
        &app,
        previewed["preview_url"].as_str().unwrap(),
        &dir,
        "preview.mp4",
    )
    .await;
    let p = probe(&preview);
    assert!(
        (duration(&p) - 21.0).abs() <= 0.1,
        "preview lasts the story: {p}"
    );
    assert_eq!(
        p["streams"][0]["width"], 640,
        "the preview is low resolution"
    );
    assert_eq!(p["streams"][0]["height"], 360);

    app.post(&format!("stories/{id}/render_final/"), &alice, json!({}))
        .await
        .assert_status(202);
    let done = app.wait_for_status(&alice, &id, "completed", LONG).await;
    let final_path = download(&app, done["final_url"].as_str().unwrap(), &dir, "final.mp4").await;
    let f = probe(&final_path);
    assert!(
        (duration(&f) - 21.0).abs() <= 0.1,
        "final lasts the sum of the scenes: {f}"
    );
    assert_eq!(f["streams"][0]["codec_name"], "h264");
    assert_eq!(f["streams"][0]["pix_fmt"], "yuv420p");
    assert_eq!(
        (
            f["streams"][0]["width"].as_u64(),
            f["streams"][0]["height"].as_u64()
        ),
        (Some(1280), Some(720))
    );
    let bytes = std::fs::read(&final_path).unwrap();
    let at = |tag: &[u8]| bytes.windows(4).position(|w| w == tag).unwrap();
    assert!(at(b"moov") < at(b"mdat"), "+faststart puts the index first");

    // Every accepted move is logged once, by the right actor.
    let log = app.get(&format!("stories/{id}/transitions/"), &alice).await;
    let moves: Vec<String> = log.body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            format!(
                "{}->{} by {}",
                t["from_status"].as_str().unwrap(),
                t["to_status"].as_str().unwrap(),
                t["actor"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        moves,
        [
            "draft->planning by alice",
            "planning->planned by worker",
            "planned->previewing by alice",
            "previewing->rendering by alice",
            "rendering->completed by worker"
        ]
    );

    // Every job succeeded once, with the seed's response shape.
    let jobs = app
        .get(&format!("jobs/?story={id}&page_size=100"), &alice)
        .await;
    assert_eq!(jobs.body["count"], 9, "plan + (3 scenes + assembly) × 2");
    for job in jobs.body["results"].as_array().unwrap() {
        assert_eq!(job["status"], "succeeded", "{job}");
        assert_eq!(job["attempt"], 1, "{job}");
        let result = &job["result"];
        assert_eq!(result["success"], true, "{job}");
        assert_eq!(result["error"], Value::Null);
        assert!(result["result"]["generation_time"].is_number(), "{job}");
        assert!(result["result"].get("metadata").is_some());
        if job["kind"] != "plan_story" {
            assert!(result["result"]["preview_url"].is_string(), "{job}");
        }
        assert!(job["started_at"].is_string() && job["finished_at"].is_string());
    }
    let stats = app
        .get(&format!("jobs/statistics/?story={id}"), &alice)
        .await;
    assert_eq!(stats.body["succeeded"], 9);
    assert_eq!(stats.body["success_rate"], 1.0);
    assert!(
        stats.body["average_generation_time_seconds"]
            .as_f64()
            .unwrap()
            > 0.0
    );

    // The objects are where the keys say, in the bucket.
    let keys = app.stored_keys().await;
    let scene_ids: Vec<String> = scenes.body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect();
    let mut expected: Vec<String> = ["preview", "final"]
        .iter()
        .flat_map(|v| ["mp4", "vtt", "srt"].map(|ext| format!("stories/{id}/{v}.{ext}")))
        .collect();
    for s in &scene_ids {
        for file in [
            "image.png",
            "clip.mp4",
            "preview/image.png",
            "preview/clip.mp4",
        ] {
            expected.push(format!("stories/{id}/scenes/{s}/{file}"));
        }
    }
    expected.sort();
    assert_eq!(keys, expected);
    worker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_story_becomes_a_video_on_postgres_and_s3() {
    whole_workflow(
        TestApp::spawn_with(Options {
            media: Media::S3,
            ..Options::default()
        })
        .await,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_story_becomes_a_video_on_sqlite_and_a_local_directory() {
    whole_workflow(TestApp::spawn_on(Backend::Sqlite).await).await;
}
