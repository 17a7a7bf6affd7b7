//! The fake Stability AI: v2beta multipart generate, v1 SDXL JSON, its errors.

use std::time::{Duration, Instant};

use ai_video_tests::fakes::{FakeOptions, FakeStability};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use reqwest::multipart::Form;
use serde_json::json;

use crate::{Answer, client, probe};

const KEY: &str = "sk-test";

fn fake() -> FakeStability {
    FakeStability::start(FakeOptions::with_key(KEY))
}

async fn core(fake: &FakeStability, form: Form, accept: &str) -> Answer {
    let resp = client()
        .post(format!(
            "{}/v2beta/stable-image/generate/core",
            fake.base_url()
        ))
        .bearer_auth(KEY)
        .header("accept", accept)
        .multipart(form)
        .send()
        .await
        .expect("request");
    Answer::read(resp).await
}

async fn sdxl(fake: &FakeStability, body: serde_json::Value, accept: &str) -> Answer {
    let url = format!(
        "{}/v1/generation/stable-diffusion-xl-1024-v1-0/text-to-image",
        fake.base_url()
    );
    let resp = client()
        .post(url)
        .bearer_auth(KEY)
        .header("accept", accept)
        .json(&body)
        .send()
        .await
        .expect("request");
    Answer::read(resp).await
}

#[tokio::test]
async fn a_wrong_key_is_refused_and_a_bare_key_accepted() {
    let fake = fake();
    let url = format!("{}/v2beta/stable-image/generate/core", fake.base_url());
    let form = || Form::new().text("prompt", "a lighthouse");
    let r = Answer::read(
        client()
            .post(&url)
            .bearer_auth("sk-wrong")
            .multipart(form())
            .send()
            .await
            .unwrap(),
    )
    .await;
    r.assert_status(401);
    assert_eq!(r.json["name"], "unauthorized");
    assert!(r.json["errors"][0].is_string(), "{}", r.json);
    let r = Answer::read(
        client()
            .post(&url)
            .header("authorization", KEY)
            .multipart(form())
            .send()
            .await
            .unwrap(),
    )
    .await;
    r.assert_status(200);
    let v1 = sdxl(&fake, json!({}), "application/json").await;
    assert_ne!(v1.status, 401, "the right key passes v1 too");
    assert!(fake.creates().iter().all(|c| c.accepted));
}

#[tokio::test]
async fn core_returns_a_png_of_the_aspect_ratio_as_bytes_or_json() {
    let fake = fake();
    let form = Form::new()
        .text("prompt", "a lighthouse at dawn")
        .text("aspect_ratio", "16:9")
        .text("seed", "42")
        .text("output_format", "png");
    let r = core(&fake, form, "image/*").await;
    r.assert_status(200);
    assert_eq!(r.header("content-type"), Some("image/png"));
    assert_eq!(r.header("finish-reason"), Some("SUCCESS"));
    assert_eq!(r.header("seed"), Some("42"));
    let p = probe(&r.bytes, "png");
    assert_eq!((p.width, p.height, p.codec.as_str()), (1344, 768, "png"));

    let sent = &fake.requests_to("POST", "/v2beta/")[0];
    let form = sent.form().expect("multipart");
    assert_eq!(form.fields["prompt"], "a lighthouse at dawn");
    assert_eq!(form.fields["aspect_ratio"], "16:9");
    assert!(form.files.is_empty());
    assert_eq!(sent.header("authorization"), Some("Bearer sk-test"));

    let r = core(
        &fake,
        Form::new().text("prompt", "a keeper"),
        "application/json",
    )
    .await;
    r.assert_status(200);
    assert_eq!(r.json["finish_reason"], "SUCCESS");
    assert!(
        r.json["seed"].as_u64().is_some_and(|s| s > 0),
        "a random seed"
    );
    let png = STANDARD.decode(r.json["image"].as_str().unwrap()).unwrap();
    let p = probe(&png, "png");
    assert_eq!((p.width, p.height), (1024, 1024), "1:1 by default");

    let r = core(
        &fake,
        Form::new()
            .text("prompt", "tall")
            .text("aspect_ratio", "9:16")
            .text("output_format", "jpeg"),
        "image/*",
    )
    .await;
    r.assert_status(200);
    assert_eq!(r.header("content-type"), Some("image/jpeg"));
    let p = probe(&r.bytes, "jpg");
    assert_eq!((p.width, p.height), (768, 1344));
}

#[tokio::test]
async fn v2beta_forms_are_validated() {
    let fake = fake();
    let cases = [
        (Form::new().text("aspect_ratio", "1:1"), "prompt: required"),
        (
            Form::new().text("prompt", "x").text("aspect_ratio", "4:3"),
            "aspect_ratio",
        ),
        (
            Form::new().text("prompt", "x").text("seed", "4294967295"),
            "seed",
        ),
        (
            Form::new().text("prompt", "x").text("output_format", "gif"),
            "output_format",
        ),
    ];
    for (form, field) in cases {
        let r = core(&fake, form, "image/*").await;
        r.assert_status(400);
        assert_eq!(r.json["name"], "bad_request");
        let errors = r.json["errors"].to_string();
        assert!(errors.contains(field), "{field} in {errors}");
    }
    let sd3 = |form: Form| async {
        let url = format!("{}/v2beta/stable-image/generate/sd3", fake.base_url());
        Answer::read(
            client()
                .post(url)
                .bearer_auth(KEY)
                .multipart(form)
                .send()
                .await
                .unwrap(),
        )
        .await
    };
    let r = sd3(Form::new().text("prompt", "x").text("model", "sd2")).await;
    r.assert_status(400);
    let r = sd3(Form::new()
        .text("prompt", "x")
        .text("mode", "image-to-image"))
    .await;
    r.assert_status(400);
    assert!(r.json["errors"].to_string().contains("image"), "{}", r.json);
    let r = sd3(Form::new()
        .text("prompt", "x")
        .text("model", "sd3.5-large-turbo"))
    .await;
    r.assert_status(200);

    let url = format!("{}/v2beta/stable-image/generate/core", fake.base_url());
    let r = Answer::read(
        client()
            .post(&url)
            .bearer_auth(KEY)
            .json(&json!({"prompt": "x"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    r.assert_status(400);
    let r = Answer::read(
        client()
            .post(format!("{}/v2beta/image-to-video", fake.base_url()))
            .bearer_auth(KEY)
            .send()
            .await
            .unwrap(),
    )
    .await;
    r.assert_status(404);
    assert_eq!(r.json["name"], "not_found");
}

#[tokio::test]
async fn ultra_image_to_image_keeps_the_input_size() {
    let fake = fake();
    let first = core(
        &fake,
        Form::new()
            .text("prompt", "seed image")
            .text("aspect_ratio", "21:9"),
        "image/*",
    )
    .await;
    first.assert_status(200);
    let part = reqwest::multipart::Part::bytes(first.bytes.clone())
        .file_name("in.png")
        .mime_str("image/png")
        .unwrap();
    let form = Form::new()
        .text("prompt", "same but at night")
        .text("strength", "0.6")
        .part("image", part);
    let url = format!("{}/v2beta/stable-image/generate/ultra", fake.base_url());
    let r = Answer::read(
        client()
            .post(url)
            .bearer_auth(KEY)
            .multipart(form)
            .send()
            .await
            .unwrap(),
    )
    .await;
    r.assert_status(200);
    let p = probe(&r.bytes, "png");
    assert_eq!((p.width, p.height), (1536, 640));
    let sent = fake.requests_to("POST", "/v2beta/stable-image/generate/ultra");
    let form = sent[0].form().unwrap();
    assert_eq!(form.files["image"], first.bytes.len());
    assert_eq!(form.fields["strength"], "0.6");
}

#[tokio::test]
async fn v1_sdxl_answers_artifacts_or_a_png() {
    let fake = fake();
    let body = json!({"text_prompts": [{"text": "a lighthouse", "weight": 1.0}], "width": 1344, "height": 768, "samples": 2, "seed": 7, "steps": 30, "cfg_scale": 7});
    let r = sdxl(&fake, body.clone(), "application/json").await;
    r.assert_status(200);
    let artifacts = r.json["artifacts"].as_array().unwrap();
    assert_eq!(artifacts.len(), 2);
    assert_eq!(artifacts[0]["finishReason"], "SUCCESS");
    assert_eq!(artifacts[0]["seed"], 7);
    let png = STANDARD
        .decode(artifacts[0]["base64"].as_str().unwrap())
        .unwrap();
    assert_eq!(
        (probe(&png, "png").width, probe(&png, "png").height),
        (1344, 768)
    );
    assert_eq!(fake.requests_to("POST", "/v1/")[0].json(), Some(&body));

    let r = sdxl(
        &fake,
        json!({"text_prompts": [{"text": "x"}], "width": 1024, "height": 1024}),
        "image/png",
    )
    .await;
    r.assert_status(200);
    assert_eq!(r.header("content-type"), Some("image/png"));
    assert_eq!(r.header("finish-reason"), Some("SUCCESS"));
    assert!(r.header("seed").is_some());
    assert_eq!(probe(&r.bytes, "png").width, 1024);

    let r = sdxl(
        &fake,
        json!({"text_prompts": [{"text": "x"}], "width": 1024, "height": 1024, "samples": 2}),
        "image/png",
    )
    .await;
    r.assert_status(400);
    assert_eq!(r.json["name"], "invalid_samples");
    let r = sdxl(
        &fake,
        json!({"text_prompts": [{"text": "x"}], "width": 896, "height": 512}),
        "application/json",
    )
    .await;
    r.assert_status(400);
    assert_eq!(r.json["name"], "invalid_height_or_width");
    assert!(r.json["message"].is_string() && r.json["id"].is_string());
    let r = sdxl(
        &fake,
        json!({"text_prompts": [], "width": 1024, "height": 1024}),
        "application/json",
    )
    .await;
    r.assert_status(400);

    let url = format!(
        "{}/v1/generation/stable-diffusion-v1-6/text-to-image",
        fake.base_url()
    );
    let r = Answer::read(
        client()
            .post(url)
            .bearer_auth(KEY)
            .json(&json!({"text_prompts": [{"text": "x"}]}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    r.assert_status(404);
    assert_eq!(r.json["name"], "not_found");
}

#[tokio::test]
async fn moderation_refuses_and_the_output_filter_flags() {
    let fake = FakeStability::start(FakeOptions {
        moderate_word: Some("forbidden".into()),
        filter_word: Some("blurry".into()),
        ..FakeOptions::with_key(KEY)
    });
    let r = core(
        &fake,
        Form::new().text("prompt", "A FORBIDDEN thing"),
        "image/*",
    )
    .await;
    r.assert_status(403);
    assert_eq!(r.json["name"], "content_moderation");
    assert!(r.json["errors"][0].is_string());
    let r = sdxl(
        &fake,
        json!({"text_prompts": [{"text": "forbidden"}], "width": 1024, "height": 1024}),
        "application/json",
    )
    .await;
    r.assert_status(400);
    assert_eq!(r.json["name"], "invalid_prompts");
    let r = core(
        &fake,
        Form::new().text("prompt", "a blurry photo"),
        "image/*",
    )
    .await;
    r.assert_status(200);
    assert_eq!(r.header("finish-reason"), Some("CONTENT_FILTERED"));
}

#[tokio::test]
async fn over_the_limit_is_a_429_with_retry_after() {
    let fake = fake();
    fake.set_rate_limit(Some((2, Duration::from_secs(1))));
    let form = || Form::new().text("prompt", "x");
    core(&fake, form(), "image/*").await.assert_status(200);
    core(&fake, form(), "image/*").await.assert_status(200);
    let r = core(&fake, form(), "image/*").await;
    r.assert_status(429);
    assert_eq!(r.header("retry-after"), Some("1"));
    assert!(r.json["name"].is_string() && r.json["errors"].is_array());
    assert_eq!(fake.accepted_creates().len(), 2);
    assert_eq!(fake.refused_creates().len(), 1);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    core(&fake, form(), "image/*").await.assert_status(200);
    assert_eq!(fake.max_accepted_in_window(Duration::from_secs(1)), 2);
}

#[tokio::test]
async fn injected_failures_credits_and_latency() {
    let fake = fake();
    fake.fail_next(2, 503);
    let form = || Form::new().text("prompt", "x");
    for _ in 0..2 {
        let r = core(&fake, form(), "image/*").await;
        r.assert_status(503);
        assert_eq!(r.json["name"], "server_error");
    }
    core(&fake, form(), "image/*").await.assert_status(200);

    fake.set_out_of_credits(true);
    let r = core(&fake, form(), "image/*").await;
    r.assert_status(402);
    assert_eq!(r.json["name"], "payment_required");
    fake.set_out_of_credits(false);

    fake.set_latency(Duration::from_millis(300));
    let started = Instant::now();
    core(&fake, form(), "image/*").await.assert_status(200);
    assert!(started.elapsed() >= Duration::from_millis(300));
}
