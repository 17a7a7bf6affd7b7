//! The story chooses its narrator: OpenAI-compatible speech and ElevenLabs (whose
//! character timing places the captions) stand beside the offline voice. Speech is
//! bought once: the final reuses what the preview paid for. Unknown voices are
//! refused, listing the valid ones.

use std::time::Duration;

use ai_video_tests::TempDir;
use ai_video_tests::TestApp;
use ai_video_tests::fakes::{
    FakeElevenLabs, FakeOpenAi, FakeOptions, SECONDS_PER_CHAR, SENTENCE_PAUSE,
};
use ai_video_tests::files::{download, duration, probe, text};
use ai_video_tests::sound::cues;
use ai_video_tests::worker::WorkerTweaks;
use serde_json::{Value, json};

const LONG: Duration = Duration::from_secs(120);

fn tweaks(env: &[(&str, String)]) -> WorkerTweaks {
    WorkerTweaks {
        env: env
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect(),
        ..WorkerTweaks::default()
    }
}

/// Plans, previews and renders the story; answers it completed.
async fn film(app: &TestApp, token: &str, id: &str) -> Value {
    app.start_planning(token, id).await.assert_status(200);
    app.wait_for_status(token, id, "planned", LONG).await;
    app.preview(token, id).await;
    app.post(&format!("stories/{id}/render_final/"), token, json!({}))
        .await
        .assert_status(202);
    app.wait_for_status(token, id, "completed", LONG).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openai_speech_narrates_and_the_final_reuses_what_the_preview_bought() {
    let fake = FakeOpenAi::start(FakeOptions::with_key("sk-test"));
    let app = TestApp::spawn().await;
    let _worker = app
        .start_worker(tweaks(&[
            ("OPENAI_API_KEY", "sk-test".into()),
            ("OPENAI_API_BASE", fake.api_base()),
        ]))
        .await;
    let alice = app.tokens.user("alice");
    let story = app
        .post(
            "stories/",
            &alice,
            json!({"title": "Voiced", "synopsis": "The keeper climbs. The storm breaks.",
                   "duration_seconds": 14, "film": {"voice": {"provider": "openai", "name": "nova"}}}),
        )
        .await;
    story.assert_status(201);
    assert_eq!(
        story.body["film"]["voice"],
        json!({"provider": "openai", "name": "nova"})
    );
    let id = story.body["id"].as_str().unwrap().to_string();
    let done = film(&app, &alice, &id).await;

    let spoken = fake.speech_log();
    let mut inputs: Vec<&str> = spoken
        .iter()
        .map(|s| s.request["input"].as_str().unwrap())
        .collect();
    // Two scenes are spoken at once: in either order.
    inputs.sort_unstable();
    let jobs = app
        .get(&format!("jobs/?story={id}&page_size=100"), &alice)
        .await;
    assert_eq!(
        inputs,
        ["The keeper climbs.", "The storm breaks."],
        "each scene spoken once for the preview and the final together: {}",
        jobs.text
    );
    for s in &spoken {
        assert_eq!(s.request["voice"], "nova");
        assert_eq!(s.request["model"], "tts-1");
        assert_eq!(s.request["response_format"], "pcm");
    }
    // tts-1 at $15 per million characters, each speech costed on its own.
    let cost: f64 = spoken
        .iter()
        .map(|s| (s.characters as f64 * 15.0 / 1e6 * 1e4).round() / 1e4)
        .sum();
    let actual: f64 = done["actual_cost"].as_str().unwrap().parse().unwrap();
    assert!(
        (actual - cost).abs() < 1e-9 && cost > 0.0,
        "the story paid {actual} for speech worth {cost}: {}",
        jobs.text
    );

    let dir = TempDir::new();
    let path = download(&app, done["final_url"].as_str().unwrap(), &dir, "final.mp4").await;
    let p = probe(&path);
    assert!((duration(&p) - 14.0).abs() <= 0.15, "{p}");
    let vtt = text(&app, done["final_captions"]["vtt"].as_str().unwrap()).await;
    let texts: Vec<String> = cues(&vtt).into_iter().map(|c| c.2).collect();
    assert_eq!(texts, ["The keeper climbs.", "The storm breaks."]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn elevenlabs_times_the_captions_by_its_alignment() {
    let fake = FakeElevenLabs::start(FakeOptions::with_key("xi-test"));
    let app = TestApp::spawn().await;
    let _worker = app
        .start_worker(tweaks(&[
            ("ELEVENLABS_API_KEY", "xi-test".into()),
            ("ELEVENLABS_API_BASE", fake.base_url()),
        ]))
        .await;
    let alice = app.tokens.user("alice");
    let first = "A gull cries.";
    let second = "The keeper waves back at the passing ship.";
    let story = app
        .post(
            "stories/",
            &alice,
            json!({"title": "Aligned", "synopsis": format!("{first} {second}"), "duration_seconds": 7,
                   "film": {"voice": {"provider": "elevenlabs", "name": "george"}}}),
        )
        .await;
    story.assert_status(201);
    let id = story.body["id"].as_str().unwrap().to_string();
    let done = film(&app, &alice, &id).await;

    let calls = fake.tts_log();
    assert_eq!(calls.len(), 1, "one speech for the one scene, bought once");
    assert_eq!(calls[0].voice_id, "JBFqnCBsd6RMkjVDRZzb", "george's id");
    assert!(calls[0].with_timestamps);
    assert_eq!(calls[0].query["output_format"], "pcm_24000");
    assert_eq!(calls[0].body["model_id"], "eleven_multilingual_v2");

    let vtt = text(&app, done["final_captions"]["vtt"].as_str().unwrap()).await;
    let cues = cues(&vtt);
    assert_eq!(cues.len(), 2, "{vtt}");
    // The second sentence starts where the speech says it: after the first one's
    // characters, its pause and the space.
    let said_at = (first.chars().count() + 1) as f64 * SECONDS_PER_CHAR + SENTENCE_PAUSE;
    assert!(
        (cues[1].0 - said_at).abs() < 0.01,
        "the caption follows the speech: {} s, said at {said_at} s\n{vtt}",
        cues[1].0
    );
    let first_end = first.chars().count() as f64 * SECONDS_PER_CHAR;
    assert!((cues[0].1 - first_end).abs() < 0.01, "{vtt}");
    // ElevenLabs bills characters: $100 per million for Multilingual v2.
    let actual: f64 = done["actual_cost"].as_str().unwrap().parse().unwrap();
    let billed = calls[0].characters as f64 * 100.0 / 1e6;
    assert!(
        (actual - (billed * 1e4).round() / 1e4).abs() < 1e-9,
        "{actual} vs {billed}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_voices_are_refused_listing_the_valid_ones() {
    let app = TestApp::spawn().await;
    let alice = app.tokens.user("alice");
    for (voice, field, listed) in [
        (
            json!({"provider": "openai", "name": "bob"}),
            "film.voice.name",
            "alloy",
        ),
        (
            json!({"provider": "elevenlabs", "name": "nobody"}),
            "film.voice.name",
            "rachel",
        ),
        (json!({"name": "alloy"}), "film.voice.name", "m1"),
        (
            json!({"provider": "runway_ml"}),
            "film.voice.provider",
            "elevenlabs",
        ),
        (json!({"provider": "stability"}), "film.voice.provider", ""),
    ] {
        let r = app
            .post(
                "stories/",
                &alice,
                json!({"title": "Voice", "duration_seconds": 7, "film": {"voice": voice}}),
            )
            .await;
        r.assert_problem(422, "validation_error");
        let errors = r.field_errors(field);
        assert!(
            errors.iter().any(|e| e.contains(listed)),
            "{voice}: {field} lists {listed:?}: {}",
            r.text
        );
    }
    let planner = app
        .post(
            "stories/",
            &alice,
            json!({"title": "Plan", "duration_seconds": 7, "film": {"planner": "elevenlabs"}}),
        )
        .await;
    planner.assert_problem(422, "validation_error");
    assert!(
        planner.field_errors("film.planner")[0].contains("local, openai"),
        "{}",
        planner.text
    );
    let list = app.get("stories/", &alice).await;
    assert_eq!(list.body["count"], 0, "no story was written");
}
