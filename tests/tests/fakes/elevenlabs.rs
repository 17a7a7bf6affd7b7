//! The fake ElevenLabs: auth, voices and models, rate limiting and injected
//! failures, audio in each kind of `output_format`, character timings that match
//! the audio, and the refusals (422 arrays, unknown voice, character caps).

use std::time::Duration;

use ai_video_tests::fakes::{FakeElevenLabs, FakeOptions, speech_seconds};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use crate::{Answer, client, probe_audio};

const KEY: &str = "sk_0123456789abcdef";
const RACHEL: &str = "21m00Tcm4TlvDq8ikWAM";

fn fake() -> FakeElevenLabs {
    FakeElevenLabs::start(FakeOptions::with_key(KEY))
}

/// `POST /v1/text-to-speech/{voice}{suffix}?{query}`.
async fn tts(
    fake: &FakeElevenLabs,
    voice: &str,
    suffix: &str,
    query: &str,
    body: &Value,
) -> Answer {
    let url = format!(
        "{}/v1/text-to-speech/{voice}{suffix}?{query}",
        fake.base_url()
    );
    let resp = client()
        .post(url)
        .header("xi-api-key", KEY)
        .json(body)
        .send()
        .await
        .expect("request");
    Answer::read(resp).await
}

async fn get(fake: &FakeElevenLabs, path: &str, key: &str) -> Answer {
    let resp = client()
        .get(format!("{}{path}", fake.base_url()))
        .header("xi-api-key", key)
        .send()
        .await
        .expect("request");
    Answer::read(resp).await
}

#[track_caller]
fn assert_detail(r: &Answer, status: u16, detail_status: &str) {
    r.assert_status(status);
    assert_eq!(r.json["detail"]["status"], detail_status, "{}", r.json);
    assert!(r.json["detail"]["message"].is_string(), "{}", r.json);
}

/// The 422's problems as `(loc, type)`.
fn problems(r: &Answer) -> Vec<(Value, String)> {
    r.assert_status(422);
    r.json["detail"]
        .as_array()
        .expect("a 422 detail is an array")
        .iter()
        .map(|p| {
            assert!(p["msg"].is_string(), "{p}");
            (p["loc"].clone(), p["type"].as_str().unwrap().to_string())
        })
        .collect()
}

#[tokio::test]
async fn a_wrong_or_missing_key_is_refused_and_voices_and_models_are_listed() {
    let fake = fake();
    let r = get(&fake, "/v1/voices", "sk_wrong").await;
    r.assert_status(401);
    assert_eq!(
        r.json,
        json!({"detail": {"status": "invalid_api_key", "message": "Invalid API key"}})
    );
    let url = format!("{}/v1/text-to-speech/{RACHEL}", fake.base_url());
    let r = Answer::read(
        client()
            .post(url)
            .json(&json!({"text": "Hi"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_detail(&r, 401, "invalid_api_key");
    assert!(fake.creates().is_empty());

    let r = get(&fake, "/v1/voices", KEY).await;
    r.assert_status(200);
    let voices: Vec<(&str, &str, &str)> = r.json["voices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            assert!(v["labels"].is_object());
            (
                v["voice_id"].as_str().unwrap(),
                v["name"].as_str().unwrap(),
                v["category"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        voices,
        [
            (RACHEL, "Rachel", "premade"),
            ("JBFqnCBsd6RMkjVDRZzb", "George", "premade"),
            ("EXAVITQu4vr4xnSDxMaL", "Sarah", "premade"),
        ]
    );
    fake.set_voices(vec![("abcdefghij0123456789".into(), "Narrator".into())]);
    let r = get(&fake, "/v1/voices", KEY).await;
    assert_eq!(r.json["voices"][0]["voice_id"], "abcdefghij0123456789");
    assert_eq!(r.json["voices"].as_array().unwrap().len(), 1);

    let r = get(&fake, "/v1/models", KEY).await;
    r.assert_status(200);
    let caps: Vec<(&str, u64)> = r
        .json
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["model_id"].as_str().unwrap(),
                m["max_characters_request_subscribed_user"]
                    .as_u64()
                    .unwrap(),
            )
        })
        .collect();
    assert!(
        caps.contains(&("eleven_multilingual_v2", 10_000)),
        "{caps:?}"
    );
    assert!(caps.contains(&("eleven_flash_v2_5", 40_000)), "{caps:?}");
    assert!(caps.contains(&("eleven_v3", 3_000)), "{caps:?}");
    assert_eq!(caps.len(), 6);
}

#[tokio::test]
async fn a_rate_limit_answers_429_with_retry_after_and_failures_are_refused() {
    let fake = fake();
    fake.set_rate_limit(Some((1, Duration::from_secs(2))));
    let body = json!({"text": "Hello."});
    tts(&fake, RACHEL, "", "output_format=pcm_8000", &body)
        .await
        .assert_status(200);
    let r = tts(&fake, RACHEL, "/with-timestamps", "", &body).await;
    assert_detail(&r, 429, "too_many_concurrent_requests");
    let retry: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=2).contains(&retry), "{retry}");
    fake.set_rate_limit(None);

    fake.fail_next(1, 503);
    fake.fail_next(1, 500);
    assert_detail(&tts(&fake, RACHEL, "", "", &body).await, 503, "system_busy");
    let r = tts(&fake, RACHEL, "", "", &body).await;
    r.assert_status(500);
    assert!(r.json["detail"]["message"].is_string());
    tts(&fake, RACHEL, "", "output_format=pcm_8000", &body)
        .await
        .assert_status(200);
    assert_eq!(fake.tts_log().len(), 2);
}

#[tokio::test]
async fn pcm_wav_and_mp3_last_what_speech_seconds_predicts() {
    let fake = fake();
    let text = "One small step. Then another!";
    let body = json!({"text": text, "model_id": "eleven_flash_v2_5", "seed": 7,
                      "voice_settings": {"stability": 0.5, "speed": 1.2}});
    let expected = speech_seconds(text, 1.2);
    let r = tts(
        &fake,
        RACHEL,
        "",
        "output_format=pcm_16000&enable_logging=false",
        &body,
    )
    .await;
    r.assert_status(200);
    assert_eq!(r.header("content-type"), Some("audio/pcm"));
    assert!(r.header("request-id").is_some());
    assert_eq!(
        r.header("character-cost"),
        Some("15"),
        "29 characters, half, rounded up"
    );
    let seconds = r.bytes.len() as f64 / 2.0 / 16_000.0;
    assert!(
        (seconds - expected).abs() < 1.0 / 16_000.0,
        "{seconds} vs {expected}"
    );

    let plain = json!({"text": text});
    let r = tts(&fake, RACHEL, "", "output_format=wav_22050", &plain).await;
    r.assert_status(200);
    assert_eq!(r.header("content-type"), Some("audio/wav"));
    assert_eq!(r.header("character-cost"), Some("29"));
    let (codec, rate, seconds) = probe_audio(&r.bytes, "wav");
    assert_eq!((codec.as_str(), rate), ("pcm_s16le", 22_050));
    assert!(
        (seconds - speech_seconds(text, 1.0)).abs() < 0.01,
        "{seconds}"
    );

    let r = tts(&fake, RACHEL, "", "", &plain).await;
    r.assert_status(200);
    assert_eq!(r.header("content-type"), Some("audio/mpeg"));
    let (codec, rate, seconds) = probe_audio(&r.bytes, "mp3");
    assert_eq!(
        (codec.as_str(), rate),
        ("mp3", 44_100),
        "mp3_44100_128 is the default"
    );
    assert!(
        (seconds - speech_seconds(text, 1.0)).abs() < 0.1,
        "{seconds}"
    );

    let r = tts(&fake, RACHEL, "", "output_format=opus_48000_64", &plain).await;
    assert_eq!(probe_audio(&r.bytes, "ogg").0, "opus");
    let r = tts(&fake, RACHEL, "", "output_format=ulaw_8000", &plain).await;
    assert_eq!(
        r.bytes.len(),
        (speech_seconds(text, 1.0) * 8_000.0).round() as usize
    );

    let log = fake.tts_log();
    assert_eq!(log.len(), 5);
    assert_eq!(
        (log[0].voice_id.as_str(), log[0].with_timestamps),
        (RACHEL, false)
    );
    assert_eq!(log[0].query["output_format"], "pcm_16000");
    assert_eq!(log[0].query["enable_logging"], "false");
    assert_eq!(log[0].body["seed"], 7);
    assert_eq!((log[0].characters, log[1].characters), (15, 29));
    assert!((log[0].seconds - expected).abs() < 1e-9);
}

#[tokio::test]
async fn timestamps_cover_every_character_where_the_audio_has_it() {
    let fake = fake();
    let text = "Hi there. How are you? Fine";
    let body = json!({"text": text, "previous_text": "Earlier.", "next_text": "Later."});
    let r = tts(
        &fake,
        RACHEL,
        "/with-timestamps",
        "output_format=pcm_24000",
        &body,
    )
    .await;
    r.assert_status(200);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.header("character-cost"), Some("27"));
    let audio = STANDARD
        .decode(r.json["audio_base64"].as_str().unwrap())
        .unwrap();
    let samples: Vec<i16> = audio
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect();
    let audio_seconds = samples.len() as f64 / 24_000.0;
    assert!((audio_seconds - speech_seconds(text, 1.0)).abs() < 1e-3);

    let alignment = &r.json["alignment"];
    assert_eq!(&r.json["normalized_alignment"], alignment);
    let floats = |name: &str| -> Vec<f64> {
        alignment[name]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect()
    };
    let chars: Vec<String> = alignment["characters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    let (starts, ends) = (
        floats("character_start_times_seconds"),
        floats("character_end_times_seconds"),
    );
    assert_eq!(chars.concat(), text, "every character, whitespace included");
    assert_eq!((chars.len(), starts.len(), ends.len()), (27, 27, 27));
    assert_eq!(starts[0], 0.0);
    for i in 0..chars.len() {
        assert!(ends[i] > starts[i], "{i}");
        if i + 1 < chars.len() {
            assert!(starts[i + 1] >= ends[i] - 1e-9, "{i}");
            let gap = starts[i + 1] - ends[i];
            let pause = if [".", "?"].contains(&chars[i].as_str()) {
                0.25
            } else {
                0.0
            };
            assert!(
                (gap - pause).abs() < 1e-3,
                "gap after {:?}: {gap}",
                chars[i]
            );
        }
    }
    assert!(
        (ends[26] - audio_seconds).abs() < 0.05,
        "{} vs {audio_seconds}",
        ends[26]
    );

    let peak_at = |start: f64, end: f64| {
        let (a, b) = (
            (start * 24_000.0).round() as usize,
            (end * 24_000.0).round() as usize,
        );
        samples[a..b]
            .iter()
            .map(|s| s.unsigned_abs())
            .max()
            .unwrap_or(0)
    };
    for i in 0..chars.len() {
        let voiced = chars[i].chars().all(char::is_alphanumeric);
        let peak = peak_at(starts[i], ends[i]);
        assert_eq!(
            peak > 9_000,
            voiced,
            "{:?} at {}: peak {peak}",
            chars[i],
            starts[i]
        );
        assert_eq!(peak == 0, !voiced, "{:?}", chars[i]);
    }
    assert_eq!(
        peak_at(ends[8], starts[9]),
        0,
        "the pause after the full stop"
    );

    let r = tts(
        &fake,
        RACHEL,
        "/with-timestamps",
        "",
        &json!({"text": text}),
    )
    .await;
    r.assert_status(200);
    let mp3 = STANDARD
        .decode(r.json["audio_base64"].as_str().unwrap())
        .unwrap();
    let (codec, _, seconds) = probe_audio(&mp3, "mp3");
    assert_eq!(codec, "mp3");
    assert!(
        (seconds - audio_seconds).abs() < 0.1,
        "{seconds} vs {audio_seconds}"
    );
    let log = fake.tts_log();
    assert!(
        log.iter()
            .all(|e| e.with_timestamps && e.path.ends_with("/with-timestamps"))
    );
    assert_eq!(log[0].body["previous_text"], "Earlier.");
}

#[tokio::test]
async fn unknown_voices_long_texts_and_bad_fields_are_refused_in_elevenlabs_shapes() {
    let fake = fake();
    let r = tts(
        &fake,
        "zzzzzzzzzzzzzzzzzzzz",
        "",
        "",
        &json!({"text": "Hi"}),
    )
    .await;
    assert_detail(&r, 400, "voice_not_found");

    let long = "a".repeat(3_001);
    let r = tts(
        &fake,
        RACHEL,
        "",
        "",
        &json!({"text": long, "model_id": "eleven_v3"}),
    )
    .await;
    assert_detail(&r, 400, "max_character_limit_exceeded");
    let r = tts(&fake, RACHEL, "", "", &json!({"text": "a".repeat(10_001)})).await;
    assert_detail(&r, 400, "max_character_limit_exceeded");
    let r = tts(
        &fake,
        RACHEL,
        "",
        "output_format=pcm_8000",
        &json!({"text": long}),
    )
    .await;
    r.assert_status(200);
    assert_eq!(
        r.header("character-cost"),
        Some("3001"),
        "multilingual v2 takes 10 000"
    );

    let r = tts(
        &fake,
        RACHEL,
        "",
        "output_format=mp3_44100_999",
        &json!({"text": "Hi"}),
    )
    .await;
    assert_eq!(
        problems(&r),
        [(json!(["query", "output_format"]), "enum".to_string())]
    );
    let r = tts(
        &fake,
        RACHEL,
        "",
        "optimize_streaming_latency=9",
        &json!({"model_id": 3}),
    )
    .await;
    let mut found = problems(&r);
    found.sort_by_key(|(loc, _)| loc.to_string());
    assert_eq!(
        found,
        [
            (json!(["body", "model_id"]), "string_type".to_string()),
            (json!(["body", "text"]), "missing".to_string()),
            (
                json!(["query", "optimize_streaming_latency"]),
                "less_than_equal".to_string()
            ),
        ]
    );
    let fast = json!({"text": "Hi", "voice_settings": {"speed": 1.5}});
    let r = tts(&fake, RACHEL, "", "", &fast).await;
    assert_eq!(
        problems(&r),
        [(
            json!(["body", "voice_settings", "speed"]),
            "less_than_equal".to_string()
        )]
    );

    fake.set_moderate_word(Some("forbidden"));
    let r = tts(&fake, RACHEL, "", "", &json!({"text": "A Forbidden tale"})).await;
    assert_detail(&r, 400, "content_against_policy");
    assert_eq!(fake.tts_log().len(), 1);
}
