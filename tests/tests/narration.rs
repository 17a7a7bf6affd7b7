//! The story is told: planning gives every scene the synopsis's sentences as its
//! narration, the offline voice (espeak-ng) speaks them in the story's language, the
//! final MP4 carries the voice as AAC at 48 kHz for as long as the pictures, and the
//! captions sit beside it as WebVTT and SubRip, one cue per sentence, in order.

use std::time::Duration;

use ai_video_tests::TempDir;
use ai_video_tests::TestApp;
use ai_video_tests::files::{download, duration, probe, text};
use ai_video_tests::sound::{cues, loudness};
use ai_video_tests::worker::WorkerTweaks;
use ai_video_worker::media::LOUDNESS_LUFS;
use serde_json::{Value, json};

const LONG: Duration = Duration::from_secs(120);

/// The words tesseract reads in the caption band of the frame at `at` seconds.
fn read_captions(video: &std::path::Path, at: f64, language: &str, dir: &TempDir) -> String {
    let frame = dir.path.join(format!("frame-{at:.2}.png"));
    let status = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-ss", &format!("{at:.3}"), "-i"])
        .arg(video)
        // The lower third, where captions sit, enlarged, with only the white of the
        // letters kept, black on white, for the OCR.
        .args([
            "-frames:v",
            "1",
            "-vf",
            r"crop=iw:ih/3:0:ih*2/3,scale=iw*2:-1,format=gray,lut=c0=if(gt(val\,200)\,0\,255)",
        ])
        .arg(&frame)
        .status()
        .expect("ffmpeg runs");
    assert!(status.success());
    let tess = if language == "ko" { "kor" } else { "eng" };
    let out = std::process::Command::new("tesseract")
        .arg(&frame)
        .args(["stdout", "-l", tess, "--psm", "6"])
        .output()
        .expect("tesseract runs (scripts/test.sh installs tesseract-ocr)");
    String::from_utf8_lossy(&out.stdout).to_string()
}

async fn told(language: &str, synopsis: &str, sentences: &[&str], read: &[&str]) {
    let app = TestApp::spawn().await;
    let _worker = app.start_worker(WorkerTweaks::default()).await;
    let alice = app.tokens.user("alice");
    let story = app
        .post(
            "stories/",
            &alice,
            json!({"title": "Told", "synopsis": synopsis, "duration_seconds": 14,
                   "language": language}),
        )
        .await;
    story.assert_status(201);
    assert_eq!(story.body["language"], language);
    let id = story.body["id"].as_str().unwrap().to_string();
    app.start_planning(&alice, &id).await.assert_status(200);
    app.wait_for_status(&alice, &id, "planned", LONG).await;
    let scenes = app.get(&format!("scenes/?story={id}"), &alice).await;
    let said: Vec<&str> = scenes.body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["narration"].as_str().unwrap())
        .collect();
    assert_eq!(
        said.join(" "),
        sentences.join(" "),
        "every sentence said once, in order"
    );

    app.preview(&alice, &id).await;
    app.post(&format!("stories/{id}/render_final/"), &alice, json!({}))
        .await
        .assert_status(202);
    let done = app.wait_for_status(&alice, &id, "completed", LONG).await;
    let dir = TempDir::new();
    let path = download(&app, done["final_url"].as_str().unwrap(), &dir, "final.mp4").await;
    let p = probe(&path);
    let streams = p["streams"].as_array().unwrap();
    let video = streams.iter().find(|s| s["codec_type"] == "video").unwrap();
    let audio = streams
        .iter()
        .find(|s| s["codec_type"] == "audio")
        .unwrap_or_else(|| panic!("a voice track: {p}"));
    assert_eq!(audio["codec_name"], "aac");
    assert_eq!(audio["sample_rate"], "48000");
    let length = |s: &Value| s["duration"].as_str().unwrap().parse::<f64>().unwrap();
    assert!(
        (length(audio) - length(video)).abs() <= 0.1,
        "the voice lasts as long as the pictures: {p}"
    );
    assert!((duration(&p) - 14.0).abs() <= 0.15, "{p}");
    let lufs = loudness(&path);
    assert!(
        (lufs - LOUDNESS_LUFS).abs() <= 1.0,
        "the voice is at {lufs} LUFS, target {LOUDNESS_LUFS}"
    );

    let captions = &done["final_captions"];
    let vtt = text(&app, captions["vtt"].as_str().unwrap()).await;
    assert!(vtt.starts_with("WEBVTT\n"), "{vtt}");
    let srt = text(&app, captions["srt"].as_str().unwrap()).await;
    for file in [&vtt, &srt] {
        let cues = cues(file);
        let texts: Vec<&str> = cues.iter().map(|c| c.2.as_str()).collect();
        assert_eq!(texts, sentences, "one cue per sentence, in order: {file}");
        let mut last = 0.0;
        for (start, end, _) in &cues {
            assert!(*start >= last && end > start, "times increase: {file}");
            assert!(*end <= duration(&p) + 0.01, "inside the video: {file}");
            last = *end;
        }
    }
    // Burned in: the words of a cue are on the pictures while it shows.
    let cue = cues(&vtt)[sentences.len() - 1].clone();
    let seen = read_captions(&path, (cue.0 + cue.1) / 2.0, language, &dir);
    let squeezed: String = seen.split_whitespace().collect();
    for word in read {
        assert!(
            squeezed.contains(word),
            "OCR finds {word:?} in {seen:?} at {cue:?}"
        );
    }
    let preview = &done["preview_captions"];
    assert!(
        preview["vtt"].is_string(),
        "the preview has captions too: {done}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_english_story_is_spoken_and_captioned() {
    told(
        "en",
        "A keeper wakes at dawn. The storm comes in from the sea. The light holds.",
        &[
            "A keeper wakes at dawn.",
            "The storm comes in from the sea.",
            "The light holds.",
        ],
        &["light", "holds"],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_korean_story_is_spoken_and_captioned() {
    told(
        "ko",
        "등대지기가 새벽에 깨어난다. 바다에서 폭풍이 온다.",
        &["등대지기가 새벽에 깨어난다.", "바다에서 폭풍이 온다."],
        &["폭풍"],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_narration_and_languages_are_refused_by_name() {
    let app = TestApp::spawn().await;
    let alice = app.tokens.user("alice");
    let r = app
        .post(
            "stories/",
            &alice,
            json!({"title": "Klingon", "duration_seconds": 7, "language": "tlh"}),
        )
        .await;
    r.assert_problem(422, "validation_error");
    let why = r.body["errors"]["language"][0].as_str().unwrap();
    assert!(
        why.contains("en") && why.contains("ko"),
        "lists the languages: {why}"
    );

    let story = app.create_story(&alice, "Long-winded", 7).await;
    let id = story["id"].as_str().unwrap();
    let r = app
        .post(
            "scenes/bulk_create/",
            &alice,
            json!({"story": id, "scenes": [{"duration_seconds": 7, "prompt": {"text": "x"},
                   "narration": "a".repeat(1001)}]}),
        )
        .await;
    r.assert_problem(422, "validation_error");
    assert!(
        r.body["errors"]["scenes[0].narration"].is_array(),
        "{}",
        r.text
    );
    let scenes = app.get(&format!("scenes/?story={id}"), &alice).await;
    assert_eq!(scenes.body["count"], 0, "nothing written");

    let ok = app
        .post(
            "scenes/bulk_create/",
            &alice,
            json!({"story": id, "scenes": [{"duration_seconds": 7, "prompt": {"text": "x"},
                   "narration": "Said by the owner."}]}),
        )
        .await;
    ok.assert_status(201);
    assert_eq!(ok.body["results"][0]["narration"], "Said by the owner.");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_story_may_turn_narration_and_burned_captions_off() {
    let app = TestApp::spawn().await;
    let _worker = app.start_worker(WorkerTweaks::default()).await;
    let alice = app.tokens.user("alice");
    for (film, spoken, burned) in [
        (json!({"captions": {"burn": false}}), true, false),
        (json!({"narrate": false}), false, false),
    ] {
        let story = app
            .post(
                "stories/",
                &alice,
                json!({"title": "Quiet", "synopsis": "One. Two.", "duration_seconds": 4,
                       "film": film}),
            )
            .await;
        story.assert_status(201);
        assert_eq!(story.body["film"]["narrate"], spoken, "{}", story.text);
        let id = story.body["id"].as_str().unwrap().to_string();
        app.start_planning(&alice, &id).await.assert_status(200);
        app.wait_for_status(&alice, &id, "planned", LONG).await;
        app.preview(&alice, &id).await;
        let preview = app
            .jobs_of(&alice, &id)
            .await
            .into_iter()
            .find(|j| j["kind"] == "generate_preview")
            .unwrap();
        let meta = &preview["result"]["result"]["metadata"];
        assert_eq!(meta["narration"]["captions_burned"], burned, "{meta}");
        assert_eq!(
            meta["narration"]["captions"],
            if spoken { 2 } else { 0 },
            "{meta}"
        );
        // Nothing burned or held: the pictures were copied, only the audio encoded.
        assert_eq!(meta["narration"]["video_copied"], true, "{meta}");
    }
    let r = app
        .post(
            "stories/",
            &alice,
            json!({"title": "Sideways", "duration_seconds": 4,
                   "film": {"captions": {"position": "left"}}}),
        )
        .await;
    r.assert_problem(422, "validation_error");
    assert!(
        r.body["errors"]["film.captions.position"].is_array(),
        "{}",
        r.text
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_planned_scene_is_edited_until_its_preview() {
    let app = TestApp::spawn().await;
    let _worker = app.start_worker(WorkerTweaks::default()).await;
    let alice = app.tokens.user("alice");
    let (story, scenes) = app.planned_by_worker(&alice, &["Dawn", "Dusk"]).await;
    let path = format!("scenes/{}/", scenes[0]);
    let r = app
        .patch(
            &path,
            &alice,
            json!({"narration": "The keeper wakes.", "prompt": {"text": "A lighthouse at dawn",
                   "camera_motion": "pan_left"}}),
        )
        .await;
    r.assert_status(200);
    assert_eq!(r.body["narration"], "The keeper wakes.");
    assert_eq!(r.body["prompt"]["text"], "A lighthouse at dawn");
    assert_eq!(r.body["prompt"]["camera_motion"], "pan_left");
    assert_eq!(r.body["prompt"]["seed"], 0, "members left out stay");

    let bad = app
        .patch(
            &path,
            &alice,
            json!({"narration": "x".repeat(1001), "prompt": {"text": " "}}),
        )
        .await;
    bad.assert_problem(422, "validation_error");
    for field in ["narration", "prompt.text"] {
        assert!(
            bad.body["errors"][field].is_array(),
            "{field}: {}",
            bad.text
        );
    }
    let mallory = app.tokens.user("mallory");
    app.patch(&path, &mallory, json!({"narration": "Mine now."}))
        .await
        .assert_problem(404, "not_found");

    // The preview speaks the edited narration; after it, the scene is settled.
    app.preview(&alice, &story).await;
    let vtt_url =
        app.get(&format!("stories/{story}/"), &alice).await.body["preview_captions"]["vtt"]
            .as_str()
            .unwrap()
            .to_string();
    let vtt = text(&app, &vtt_url).await;
    assert!(vtt.contains("The keeper wakes."), "{vtt}");
    app.patch(&path, &alice, json!({"narration": "Too late."}))
        .await
        .assert_problem(409, "invalid_story_status");
}
