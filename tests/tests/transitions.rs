//! Transitions between scenes: a crossfade blends the two scenes at their boundary,
//! a fade to black darkens it, and neither changes the video's length.

use std::path::Path;
use std::time::Duration;

use ai_video_tests::files::{download, duration, probe};
use ai_video_tests::worker::WorkerTweaks;
use ai_video_tests::{TempDir, TestApp};
use serde_json::{Value, json};

const LONG: Duration = Duration::from_secs(120);

/// The mean colour (r, g, b) of the frame at `at` seconds.
fn colour(video: &Path, at: f64) -> [f64; 3] {
    let out = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-ss", &format!("{at:.3}"), "-i"])
        .arg(video)
        .args([
            "-frames:v",
            "1",
            "-vf",
            "scale=1:1:flags=area",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "rgb24",
            "-",
        ])
        .output()
        .expect("ffmpeg runs");
    assert_eq!(
        out.stdout.len(),
        3,
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    [0, 1, 2].map(|i| f64::from(out.stdout[i]))
}

/// A planned two-scene story of 7 s scenes with `transition`, previewed; answers
/// the preview file.
async fn previewed(app: &TestApp, transition: Value, dir: &TempDir) -> std::path::PathBuf {
    let alice = app.tokens.user("alice");
    let story = app
        .post(
            "stories/",
            &alice,
            json!({"title": "Joined", "duration_seconds": 14,
                   "film": {"narrate": false, "transition": transition}}),
        )
        .await;
    story.assert_status(201);
    let id = story.body["id"].as_str().unwrap().to_string();
    app.bulk_scenes(
        &alice,
        &id,
        vec![
            json!({"duration_seconds": 7, "prompt": {"text": "A red desert at noon", "seed": 1}}),
            json!({"duration_seconds": 7, "prompt": {"text": "A cold blue sea at night", "seed": 2}}),
        ],
    )
    .await;
    app.start_planning(&alice, &id).await.assert_status(200);
    app.wait_for_status(&alice, &id, "planned", LONG).await;
    let done = app.preview(&alice, &id).await;
    let name = format!("{}.mp4", transition["kind"].as_str().unwrap());
    download(app, done["preview_url"].as_str().unwrap(), dir, &name).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crossfade_blends_the_scenes_and_keeps_the_length() {
    let app = TestApp::spawn().await;
    let _worker = app.start_worker(WorkerTweaks::default()).await;
    let dir = TempDir::new();
    let video = previewed(&app, json!({"kind": "crossfade", "seconds": 1.0}), &dir).await;
    let p = probe(&video);
    assert!(
        (duration(&p) - 14.0).abs() <= 0.1,
        "the story's length: {p}"
    );
    // Scene 1 before the boundary, scene 2 after the transition, and its middle.
    let (a, b, mid) = (
        colour(&video, 6.5),
        colour(&video, 8.6),
        colour(&video, 7.5),
    );
    let channel = (0..3)
        .max_by(|&i, &j| (a[i] - b[i]).abs().total_cmp(&(a[j] - b[j]).abs()))
        .unwrap();
    let (lo, hi) = (a[channel].min(b[channel]), a[channel].max(b[channel]));
    assert!(hi - lo > 20.0, "the scenes differ: {a:?} {b:?}");
    let margin = (hi - lo) * 0.15;
    assert!(
        mid[channel] > lo + margin && mid[channel] < hi - margin,
        "the boundary is a blend of both scenes: {a:?} {mid:?} {b:?}"
    );

    let cut = previewed(&app, json!({"kind": "cut"}), &dir).await;
    assert!((duration(&probe(&cut)) - 14.0).abs() <= 0.1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fade_to_black_darkens_the_boundary() {
    let app = TestApp::spawn().await;
    let _worker = app.start_worker(WorkerTweaks::default()).await;
    let dir = TempDir::new();
    let video = previewed(&app, json!({"kind": "fade_black", "seconds": 1.0}), &dir).await;
    assert!((duration(&probe(&video)) - 14.0).abs() <= 0.1);
    let light = |c: [f64; 3]| c.iter().sum::<f64>() / 3.0;
    let (a, b, mid) = (
        colour(&video, 6.5),
        colour(&video, 8.6),
        colour(&video, 7.5),
    );
    assert!(
        light(mid) < 0.5 * light(a).min(light(b)),
        "black between the scenes: {a:?} {mid:?} {b:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transitions_out_of_range_are_refused_by_name() {
    let app = TestApp::spawn().await;
    let alice = app.tokens.user("alice");
    let r = app
        .post(
            "stories/",
            &alice,
            json!({"title": "Slow", "duration_seconds": 7,
                   "film": {"transition": {"kind": "wipe", "seconds": 5}}}),
        )
        .await;
    r.assert_problem(422, "validation_error");
    for field in ["film.transition.kind", "film.transition.seconds"] {
        assert!(r.body["errors"][field].is_array(), "{field}: {}", r.text);
    }
}
