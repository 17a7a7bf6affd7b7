//! The fake OpenAI's speech: the tone's length and shape, WAV and the formats
//! ffmpeg encodes, and the request checks.

use ai_video_tests::fakes::speech_seconds;
use serde_json::{Value, json};

use super::openai::{assert_error, fake, speech};
use crate::probe_audio;

#[tokio::test]
async fn pcm_speech_lasts_what_speech_seconds_predicts() {
    let fake = fake();
    let input = "Hello, world. How are you?";
    for speed in [1.0, 2.0, 0.5] {
        let body = json!({"model": "gpt-4o-mini-tts", "input": input, "voice": "marin",
                          "response_format": "pcm", "speed": speed});
        let r = speech(&fake, &body).await;
        r.assert_status(200);
        assert_eq!(r.header("content-type"), Some("application/octet-stream"));
        assert!(r.header("x-request-id").is_some());
        let seconds = r.bytes.len() as f64 / 2.0 / 24_000.0;
        let expected = speech_seconds(input, speed);
        assert!(
            (seconds - expected).abs() < 1.0 / 24_000.0,
            "{seconds} vs {expected}"
        );
    }
    assert!((speech_seconds(input, 1.0) - (26.0 * 0.065 + 2.0 * 0.25)).abs() < 1e-9);

    let samples: Vec<i16> = {
        let r = speech(
            &fake,
            &json!({"model": "tts-1", "input": input, "voice": "alloy",
                                       "response_format": "pcm"}),
        )
        .await;
        r.bytes
            .chunks_exact(2)
            .map(|b| i16::from_le_bytes([b[0], b[1]]))
            .collect()
    };
    let per_char = 1560; // 0.065 s at 24 kHz
    let peak = |range: std::ops::Range<usize>| {
        samples[range]
            .iter()
            .map(|s| s.unsigned_abs())
            .max()
            .unwrap_or(0)
    };
    let loud = peak(0..per_char);
    assert!(
        (9_000..=10_500).contains(&loud),
        "0.3 of full scale: {loud}"
    );
    assert_eq!(peak(5 * per_char..6 * per_char), 0, "the comma is silent");
    assert_eq!(peak(6 * per_char..7 * per_char), 0, "the space is silent");
    let pause = 13 * per_char; // after the full stop
    assert_eq!(
        peak(pause..pause + 6_000),
        0,
        "a quarter second after the sentence"
    );
    assert!(
        peak(pause + 6_000 + per_char..pause + 6_000 + 2 * per_char) > 9_000,
        "'H' of How"
    );

    let log = fake.speech_log();
    assert_eq!(log.len(), 4);
    assert_eq!(log[0].characters, 26);
    assert!((log[1].seconds - speech_seconds(input, 2.0)).abs() < 1e-9);
    assert_eq!(log[3].request["voice"], "alloy");
}

#[tokio::test]
async fn wav_and_compressed_speech_are_audio_ffprobe_reads() {
    let fake = fake();
    let input = "The lighthouse keeper waves. Ships pass by!";
    let expected = speech_seconds(input, 1.0);
    let body = |format: &str| json!({"model": "tts-1-hd", "input": input, "voice": "nova", "response_format": format});
    let wav = speech(&fake, &body("wav")).await;
    wav.assert_status(200);
    assert_eq!(&wav.bytes[..4], b"RIFF");
    assert_eq!(&wav.bytes[8..12], b"WAVE");
    let riff = u32::from_le_bytes(wav.bytes[4..8].try_into().unwrap()) as usize;
    let data = u32::from_le_bytes(wav.bytes[40..44].try_into().unwrap()) as usize;
    assert_eq!((riff, data), (wav.bytes.len() - 8, wav.bytes.len() - 44));
    let (codec, rate, seconds) = probe_audio(&wav.bytes, "wav");
    assert_eq!((codec.as_str(), rate), ("pcm_s16le", 24_000));
    assert!((seconds - expected).abs() < 0.01, "{seconds} vs {expected}");

    let mp3 = speech(
        &fake,
        &json!({"model": "tts-1", "input": input, "voice": "onyx"}),
    )
    .await;
    mp3.assert_status(200);
    let (codec, rate, seconds) = probe_audio(&mp3.bytes, "mp3");
    assert_eq!(
        (codec.as_str(), rate),
        ("mp3", 24_000),
        "mp3 is the default"
    );
    assert!((seconds - expected).abs() < 0.1, "{seconds} vs {expected}");

    for (format, ext, codec_name) in [
        ("opus", "ogg", "opus"),
        ("aac", "aac", "aac"),
        ("flac", "flac", "flac"),
    ] {
        let r = speech(&fake, &body(format)).await;
        r.assert_status(200);
        let (codec, _, seconds) = probe_audio(&r.bytes, ext);
        assert_eq!(codec, codec_name);
        assert!(
            (seconds - expected).abs() < 0.15,
            "{format}: {seconds} vs {expected}"
        );
    }
}

#[tokio::test]
async fn speech_requests_are_checked_as_openai_checks_them() {
    let fake = fake();
    let base = json!({"model": "gpt-4o-mini-tts", "input": "Hi.", "voice": "coral", "response_format": "pcm"});
    let with = |key: &str, value: Value| {
        let mut body = base.clone();
        body[key] = value;
        body
    };
    speech(&fake, &base).await.assert_status(200);
    assert_error(
        &speech(&fake, &with("model", json!("tts-2"))).await,
        404,
        Some("model_not_found"),
    );
    let r = speech(&fake, &with("input", json!("a".repeat(4097)))).await;
    assert_error(&r, 400, Some("string_above_max_length"));
    assert_eq!(r.json["error"]["param"], "input");
    speech(&fake, &with("input", json!("a".repeat(4096))))
        .await
        .assert_status(200);
    let mut no_input = base.clone();
    no_input.as_object_mut().unwrap().remove("input");
    assert_error(
        &speech(&fake, &no_input).await,
        400,
        Some("missing_required_parameter"),
    );

    let r = speech(
        &fake,
        &json!({"model": "tts-1", "input": "Hi.", "voice": "marin"}),
    )
    .await;
    assert_error(&r, 400, Some("invalid_value"));
    assert_eq!(r.json["error"]["param"], "voice");
    let custom = with("voice", json!({"id": "voice_1234abcd"}));
    speech(&fake, &custom).await.assert_status(200);
    assert_error(
        &speech(&fake, &with("voice", json!("robot"))).await,
        400,
        Some("invalid_value"),
    );
    let r = speech(&fake, &with("instructions", json!("x".repeat(4097)))).await;
    assert_error(&r, 400, Some("string_above_max_length"));
    assert_error(
        &speech(&fake, &with("response_format", json!("ogg"))).await,
        400,
        Some("invalid_value"),
    );
    assert_error(
        &speech(&fake, &with("speed", json!(4.5))).await,
        400,
        Some("decimal_above_max_value"),
    );
    assert_error(
        &speech(&fake, &with("speed", json!(0.1))).await,
        400,
        Some("decimal_below_min_value"),
    );
    let r = speech(&fake, &with("stream_format", json!("sse"))).await;
    r.assert_status(400);
    assert_eq!(r.json["error"]["param"], "stream_format");
    speech(&fake, &with("stream_format", json!("audio")))
        .await
        .assert_status(200);
    assert_eq!(fake.speech_log().len(), 4);
}
