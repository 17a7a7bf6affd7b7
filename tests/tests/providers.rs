//! The real provider adapters against local servers that speak Stability's,
//! Runway's and Replicate's APIs: whole stories with each combination, the fields
//! each request carries, a 429 storm across two workers sharing one limit,
//! moderation refusals, cancelling a running Runway task, and no key in any log.

use std::time::Duration;

use ai_video_tests::fakes::{FakeOptions, FakeReplicate, FakeRunway, FakeStability, OutputKind};
use ai_video_tests::worker::WorkerTweaks;
use ai_video_tests::{TempDir, TestApp};
use serde_json::{Value, json};

const LONG: Duration = Duration::from_secs(120);
const STABILITY_KEY: &str = "sk-test-stability-0123456789";
const RUNWAY_KEY: &str = "key_0123456789abcdef0123456789abcdef";
const REPLICATE_KEY: &str = "r8_test_replicate_0123456789";

struct Fakes {
    stability: FakeStability,
    runway: FakeRunway,
    replicate: FakeReplicate,
}

impl Fakes {
    fn start() -> Self {
        Self {
            stability: FakeStability::start(FakeOptions::with_key(STABILITY_KEY)),
            runway: FakeRunway::start(FakeOptions::with_key(RUNWAY_KEY)),
            replicate: FakeReplicate::start(FakeOptions::with_key(REPLICATE_KEY)),
        }
    }

    fn env(&self) -> Vec<(String, String)> {
        [
            ("STABILITY_AI_KEY", STABILITY_KEY.to_string()),
            ("RUNWAY_ML_KEY", RUNWAY_KEY.to_string()),
            ("REPLICATE_API_TOKEN", REPLICATE_KEY.to_string()),
            ("STABILITY_API_BASE", self.stability.base_url()),
            ("RUNWAY_API_BASE", self.runway.base_url()),
            ("REPLICATE_API_BASE", self.replicate.base_url()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }

    fn tweaks(&self) -> WorkerTweaks {
        WorkerTweaks {
            env: self.env(),
            ..WorkerTweaks::default()
        }
    }
}

async fn configure(app: &TestApp, provider: &str, patch: Value) {
    let admin = app.tokens.admin("ops");
    let r = app
        .patch(&format!("providers/{provider}/"), &admin, patch)
        .await;
    r.assert_status(200);
}

async fn story(app: &TestApp, token: &str, body: Value) -> String {
    let r = app.post("stories/", token, body).await;
    r.assert_status(201);
    r.body["id"].as_str().unwrap().to_string()
}

fn ffprobe(path: &std::path::Path) -> Value {
    let out = std::process::Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "format=duration:stream=width,height,codec_name",
            "-of",
            "json",
        ])
        .arg(path)
        .output()
        .unwrap();
    serde_json::from_slice(&out.stdout).unwrap()
}

async fn render(app: &TestApp, token: &str, id: &str) -> Value {
    app.start_planning(token, id).await.assert_status(200);
    app.wait_for_status(token, id, "planned", LONG).await;
    app.post(&format!("stories/{id}/generate_preview/"), token, json!({}))
        .await
        .assert_status(202);
    app.wait_for(token, id, LONG, |s| {
        s["preview_url"].is_string() || s["status"] == "failed"
    })
    .await;
    app.post(&format!("stories/{id}/render_final/"), token, json!({}))
        .await
        .assert_status(202);
    app.wait_for(token, id, LONG, |s| {
        s["status"] == "completed" || s["status"] == "failed"
    })
    .await
}

async fn final_video(app: &TestApp, story: &Value, dir: &TempDir) -> Value {
    let url = app.url(story["final_url"].as_str().unwrap());
    let bytes = app
        .client
        .get(url)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let path = dir.path.join("final.mp4");
    std::fs::write(&path, bytes).unwrap();
    ffprobe(&path)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn stability_images_and_runway_video_make_a_story() {
    let fakes = Fakes::start();
    let app = TestApp::spawn().await;
    configure(
        &app,
        "runway_ml",
        json!({"settings": {"default_model": "gen4_turbo", "image_model": "gen4_image",
        "max_duration": 4, "max_concurrency": 4, "poll_interval_ms": 100}}),
    )
    .await;
    let _worker = app.start_worker(fakes.tweaks()).await;
    let alice = app.tokens.user("alice");
    let id = story(&app, &alice, json!({"title": "Harbour", "synopsis": "Boats leave at dawn. Gulls circle the mast.",
        "duration_seconds": 14, "aspect_ratio": "16:9", "image_provider": "stability_ai", "video_provider": "runway_ml"})).await;
    let done = render(&app, &alice, &id).await;
    assert_eq!(done["status"], "completed", "{done}");
    let dir = TempDir::new();
    let f = final_video(&app, &done, &dir).await;
    let seconds: f64 = f["format"]["duration"].as_str().unwrap().parse().unwrap();
    assert!((seconds - 14.0).abs() <= 0.1, "{f}");
    assert_eq!(
        (
            f["streams"][0]["width"].as_u64(),
            f["streams"][0]["height"].as_u64()
        ),
        (Some(1280), Some(720))
    );

    // Stability: the seed's SDXL engine on the v1 JSON API, at the 16:9 SDXL size.
    let images = fakes.stability.requests_to(
        "POST",
        "/v1/generation/stable-diffusion-xl-1024-v1-0/text-to-image",
    );
    assert_eq!(images.len(), 4, "2 scenes × preview and final");
    for r in &images {
        assert_eq!(
            r.header("authorization"),
            Some(format!("Bearer {STABILITY_KEY}").as_str())
        );
        assert_eq!(r.header("accept"), Some("image/png"));
        let body = r.json().unwrap();
        let keys: Vec<&str> = body
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            [
                "cfg_scale",
                "height",
                "samples",
                "seed",
                "steps",
                "text_prompts",
                "width"
            ],
            "{body}"
        );
        assert_eq!(
            (body["width"].as_u64(), body["height"].as_u64()),
            (Some(1344), Some(768))
        );
        assert_eq!(
            (body["steps"].as_u64(), body["samples"].as_u64()),
            (Some(30), Some(1))
        );
        assert_eq!(body["text_prompts"][0]["weight"], 1.0);
        assert_eq!(
            body["text_prompts"][1]["weight"], -1.0,
            "the negative prompt"
        );
    }
    // Runway: 7 s scenes become 4 s + 3 s gen4_turbo clips (max_duration 4).
    let tasks = fakes.runway.requests_to("POST", "/v1/image_to_video");
    assert_eq!(tasks.len(), 8);
    let mut durations: Vec<u64> = Vec::new();
    for r in &tasks {
        assert_eq!(r.header("x-runway-version"), Some("2024-11-06"));
        assert_eq!(
            r.header("authorization"),
            Some(format!("Bearer {RUNWAY_KEY}").as_str())
        );
        let body = r.json().unwrap();
        let keys: Vec<&str> = body
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            [
                "duration",
                "model",
                "promptImage",
                "promptText",
                "ratio",
                "seed"
            ],
            "{body}"
        );
        assert_eq!(body["model"], "gen4_turbo");
        assert_eq!(body["ratio"], "1280:720");
        assert!(
            body["promptImage"]
                .as_str()
                .unwrap()
                .starts_with("data:image/png;base64,")
        );
        durations.push(body["duration"].as_u64().unwrap());
    }
    durations.sort();
    assert_eq!(durations, [3, 3, 3, 3, 4, 4, 4, 4]);
    assert!(
        fakes.runway.requests_to("GET", "/v1/tasks/").len() >= 8,
        "tasks are polled"
    );

    // Costs: Runway bills 5 credits a second; SDXL 0.06 credits an image.
    let jobs = app
        .get(
            &format!("jobs/?story={id}&kind=generate_scene&page_size=100"),
            &alice,
        )
        .await;
    for job in jobs.body["results"].as_array().unwrap() {
        assert_eq!(job["cost"], "0.3506", "{job}");
        assert_eq!(job["provider"], "runway_ml");
        assert_eq!(job["progress"], 1.0);
        let meta = &job["result"]["result"]["metadata"];
        assert_eq!(meta["clip"]["details"]["units"]["credits"], "35");
        assert_eq!(meta["clip"]["details"]["segments"], json!([4, 3]));
    }
    let story = app.get(&format!("stories/{id}/"), &alice).await;
    assert_eq!(story.body["actual_cost"], "1.4024");
    let stats = app
        .get(&format!("jobs/statistics/?story={id}"), &alice)
        .await;
    let runway = stats.body["by_provider"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["provider"] == "runway_ml")
        .unwrap()
        .clone();
    assert_eq!(runway["total_cost"], "1.4024");
    assert_eq!(runway["success_rate"], 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replicate_makes_both_images_and_video() {
    let fakes = Fakes::start();
    fakes
        .replicate
        .set_output_kind("black-forest-labs/flux-schnell", OutputKind::Image);
    fakes
        .replicate
        .set_output_kind("wan-video/wan-2.2-i2v-fast", OutputKind::Video);
    let app = TestApp::spawn().await;
    configure(
        &app,
        "replicate",
        json!({"settings": {"image_model": "black-forest-labs/flux-schnell",
        "video_model": "wan-video/wan-2.2-i2v-fast", "poll_interval_ms": 100}}),
    )
    .await;
    let _worker = app.start_worker(fakes.tweaks()).await;
    let alice = app.tokens.user("alice");
    let id = story(
        &app,
        &alice,
        json!({"title": "Tower", "synopsis": "A tall tower in fog.", "duration_seconds": 7,
        "aspect_ratio": "9:16", "image_provider": "replicate", "video_provider": "replicate"}),
    )
    .await;
    let done = render(&app, &alice, &id).await;
    assert_eq!(done["status"], "completed", "{done}");
    let dir = TempDir::new();
    let f = final_video(&app, &done, &dir).await;
    let seconds: f64 = f["format"]["duration"].as_str().unwrap().parse().unwrap();
    assert!((seconds - 7.0).abs() <= 0.1, "{f}");
    assert_eq!(
        (
            f["streams"][0]["width"].as_u64(),
            f["streams"][0]["height"].as_u64()
        ),
        (Some(720), Some(1280))
    );

    let images = fakes.replicate.requests_to(
        "POST",
        "/v1/models/black-forest-labs/flux-schnell/predictions",
    );
    assert_eq!(images.len(), 2);
    for r in &images {
        assert_eq!(
            r.header("prefer"),
            Some("wait=30"),
            "image predictions wait in the request, for half the 60 s client timeout"
        );
        assert_eq!(
            r.header("authorization"),
            Some(format!("Bearer {REPLICATE_KEY}").as_str())
        );
        let input = &r.json().unwrap()["input"];
        let keys: Vec<&str> = input
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            [
                "aspect_ratio",
                "num_outputs",
                "output_format",
                "prompt",
                "seed"
            ],
            "{input}"
        );
        assert_eq!(input["aspect_ratio"], "9:16");
    }
    let clips = fakes
        .replicate
        .requests_to("POST", "/v1/models/wan-video/wan-2.2-i2v-fast/predictions");
    assert_eq!(clips.len(), 2);
    for r in &clips {
        let input = &r.json().unwrap()["input"];
        assert!(
            input["image"]
                .as_str()
                .unwrap()
                .starts_with("data:image/png;base64,")
        );
        assert_eq!(input["duration"], 7);
        assert_eq!(r.header("prefer"), None, "video is polled");
    }
    // Replicate bills by model: the config's unit prices.
    let jobs = app
        .get(&format!("jobs/?story={id}&kind=generate_scene"), &alice)
        .await;
    for job in jobs.body["results"].as_array().unwrap() {
        assert_eq!(job["cost"], "0.6330", "0.003 per image + 7 s × 0.09: {job}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_429_storm_fails_no_job_and_the_shared_limit_holds() {
    let fakes = Fakes::start();
    // The provider refuses more than 3 requests a second; our own limit is 5 a minute.
    fakes
        .stability
        .set_rate_limit(Some((3, Duration::from_secs(1))));
    let app = TestApp::spawn().await;
    configure(
        &app,
        "stability_ai",
        json!({"rate_limit_per_minute": 5, "settings": {"default_model": "core"}}),
    )
    .await;
    let alice = app.tokens.user("alice");
    let id = story(
        &app,
        &alice,
        json!({"title": "Storm", "duration_seconds": 6, "image_provider": "stability_ai",
        "video_provider": "local"}),
    )
    .await;
    let scenes: Vec<Value> = (0..6)
        .map(|i| json!({"duration_seconds": 1, "prompt": {"text": format!("Wave {i}")}}))
        .collect();
    app.post(
        "scenes/bulk_create/",
        &alice,
        json!({"story": id, "scenes": scenes}),
    )
    .await
    .assert_status(201);
    app.force_status(&id, "planned").await;
    let tweaks = |name: &str| WorkerTweaks {
        name: name.into(),
        ..fakes.tweaks()
    };
    let _a = app.spawn_worker_process(tweaks("a"));
    let _b = app.spawn_worker_process(tweaks("b"));
    app.post(
        &format!("stories/{id}/generate_preview/"),
        &alice,
        json!({}),
    )
    .await
    .assert_status(202);
    let done = app
        .wait_for(&alice, &id, Duration::from_secs(150), |s| {
            s["preview_url"].is_string() || s["status"] == "failed"
        })
        .await;
    assert_eq!(done["status"], "previewing", "{done}");

    let jobs = app
        .get(&format!("jobs/?story={id}&page_size=100"), &alice)
        .await;
    for job in jobs.body["results"].as_array().unwrap() {
        assert_eq!(job["status"], "succeeded", "no job failed: {job}");
    }
    let accepted = fakes.stability.accepted_creates().len();
    assert_eq!(accepted, 6);
    assert!(
        !fakes.stability.refused_creates().is_empty(),
        "the provider did refuse some: a 429 storm"
    );
    // Our limiter grants a slot by Redis's clock and the request reaches the fake a
    // moment later: two requests a full minute apart by the limiter can arrive a few
    // milliseconds less apart, so the fake's window is a second shorter.
    assert!(
        fakes
            .stability
            .max_accepted_in_window(Duration::from_secs(59))
            <= 5,
        "our limit held across both workers"
    );
    assert!(
        fakes
            .stability
            .max_accepted_in_window(Duration::from_secs(1))
            <= 3,
        "the provider's limit was never broken"
    );
    // Waiting for a limit uses no attempt: BullMQ counts one attempt per scene job.
    let mut redis = app.redis().await;
    for job in jobs.body["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|j| j["kind"] == "generate_scene")
    {
        let atm: Option<String> = redis::cmd("HGET")
            .arg(app.job_key(job["queue_id"].as_str().unwrap()))
            .arg("atm")
            .query_async(&mut redis)
            .await
            .unwrap();
        assert_eq!(atm.as_deref(), Some("1"), "{job}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn moderation_refusals_fail_at_once_with_the_providers_reason() {
    let fakes = Fakes::start();
    fakes.stability.set_moderate_word(Some("forbidden"));
    fakes.runway.set_moderate_word(Some("forbidden"));
    let app = TestApp::spawn().await;
    configure(
        &app,
        "stability_ai",
        json!({"settings": {"default_model": "core"}}),
    )
    .await;
    configure(&app, "runway_ml", json!({"settings": {"default_model": "gen4_turbo", "max_duration": 10, "max_concurrency": 4, "poll_interval_ms": 100}})).await;
    let _worker = app.start_worker(fakes.tweaks()).await;
    let alice = app.tokens.user("alice");
    for (image, video, word) in [
        ("stability_ai", "local", "stability_ai content moderation"),
        ("local", "runway_ml", "runway_ml content moderation"),
    ] {
        let id = story(&app, &alice, json!({"title": "Refused", "duration_seconds": 7, "image_provider": image, "video_provider": video})).await;
        app.post("scenes/bulk_create/", &alice, json!({"story": id, "scenes": [{"duration_seconds": 7, "prompt": {"text": "a forbidden scene"}}]}))
            .await
            .assert_status(201);
        app.force_status(&id, "planned").await;
        app.post(
            &format!("stories/{id}/generate_preview/"),
            &alice,
            json!({}),
        )
        .await
        .assert_status(202);
        let failed = app.wait_for_status(&alice, &id, "failed", LONG).await;
        let error = failed["last_error"].as_str().unwrap();
        assert!(error.contains(word), "{error}");
        let jobs = app
            .get(&format!("jobs/?story={id}&kind=generate_scene"), &alice)
            .await;
        let job = &jobs.body["results"][0];
        assert_eq!(job["status"], "failed");
        assert_eq!(job["attempt"], 1, "a refusal is not retried");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cancelling_a_job_cancels_its_runway_task() {
    let fakes = Fakes::start();
    fakes.runway.set_polls(1000, 1000);
    let app = TestApp::spawn().await;
    configure(&app, "runway_ml", json!({"settings": {"default_model": "gen4_turbo", "max_duration": 10, "max_concurrency": 4, "poll_interval_ms": 100}})).await;
    let _worker = app.start_worker(fakes.tweaks()).await;
    let alice = app.tokens.user("alice");
    let id = story(&app, &alice, json!({"title": "Stop", "duration_seconds": 5, "image_provider": "local", "video_provider": "runway_ml"})).await;
    let r = app
        .post(
            "scenes/bulk_create/",
            &alice,
            json!({"story": id, "scenes": [{"duration_seconds": 5, "prompt": {"text": "slow"}}]}),
        )
        .await;
    let scene = r.body["results"][0]["id"].as_str().unwrap().to_string();
    app.force_status(&id, "planned").await;
    let job = app
        .post(&format!("scenes/{scene}/generate/"), &alice, json!({}))
        .await;
    let job = job.body["id"].as_str().unwrap().to_string();
    let deadline = tokio::time::Instant::now() + LONG;
    while fakes.runway.task_ids().is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no runway task was created"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let task = fakes.runway.task_ids()[0].clone();
    app.post(&format!("jobs/{job}/cancel/"), &alice, json!({}))
        .await
        .assert_status(200);
    while !fakes.runway.cancelled_tasks().contains(&task) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the runway task was not cancelled"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        fakes
            .runway
            .requests_to("DELETE", &format!("/v1/tasks/{task}"))
            .len(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_key_appears_in_any_log_line() {
    let fakes = Fakes::start();
    fakes.stability.fail_next(1, 503);
    let app = TestApp::spawn().await;
    configure(&app, "runway_ml", json!({"settings": {"default_model": "gen4_turbo", "max_duration": 10, "max_concurrency": 4, "poll_interval_ms": 100}})).await;
    let dir = TempDir::new();
    let log = dir.path.join("worker.log");
    let mut tweaks = fakes.tweaks();
    tweaks.env.push(("RUST_LOG".into(), "debug".into()));
    tweaks.log_file = Some(log.clone());
    let mut worker = app.spawn_worker_process(tweaks);
    let alice = app.tokens.user("alice");
    let id = story(&app, &alice, json!({"title": "Keys", "duration_seconds": 4, "image_provider": "stability_ai", "video_provider": "runway_ml"})).await;
    app.start_planning(&alice, &id).await;
    app.wait_for_status(&alice, &id, "planned", LONG).await;
    app.post(
        &format!("stories/{id}/generate_preview/"),
        &alice,
        json!({}),
    )
    .await;
    app.wait_for(&alice, &id, LONG, |s| s["preview_url"].is_string())
        .await;
    worker.terminate();
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.lines().count() > 20,
        "the worker logged at debug level: {} lines",
        text.lines().count()
    );
    for key in [
        STABILITY_KEY,
        RUNWAY_KEY,
        REPLICATE_KEY,
        ai_video_tests::tokens::SECRET,
    ] {
        assert!(!text.contains(key), "a key leaked into the log");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replicate_webhooks_replace_polling() {
    let fakes = Fakes::start();
    fakes
        .replicate
        .set_output_kind("wan-video/wan-2.2-i2v-fast", OutputKind::Video);
    fakes
        .replicate
        .set_webhook_secret(ai_video_tests::tokens::WEBHOOK_SECRET);
    fakes.replicate.set_wait_time(Duration::from_secs(5));
    let app = TestApp::spawn().await;
    configure(
        &app,
        "replicate",
        json!({"settings": {"image_model": "black-forest-labs/flux-schnell",
        "video_model": "wan-video/wan-2.2-i2v-fast", "poll_interval_ms": 1500,
        "webhook_url": app.url("webhooks/replicate/")}}),
    )
    .await;
    let _worker = app.start_worker(fakes.tweaks()).await;
    let alice = app.tokens.user("alice");
    let id = story(
        &app,
        &alice,
        json!({"title": "Hooks", "duration_seconds": 3, "image_provider": "replicate",
        "video_provider": "replicate"}),
    )
    .await;
    app.post(
        "scenes/bulk_create/",
        &alice,
        json!({"story": id, "scenes": [{"duration_seconds": 3, "prompt": {"text": "a pier"}}]}),
    )
    .await
    .assert_status(201);
    app.force_status(&id, "planned").await;
    app.post(
        &format!("stories/{id}/generate_preview/"),
        &alice,
        json!({}),
    )
    .await
    .assert_status(202);
    app.wait_for(&alice, &id, LONG, |s| {
        s["preview_url"].is_string() || s["status"] == "failed"
    })
    .await;
    let deliveries = fakes.replicate.webhook_deliveries();
    assert!(!deliveries.is_empty(), "Replicate called the webhook");
    for d in &deliveries {
        assert_eq!(d.status, Some(204), "the API verified and took it: {d:?}");
    }
    let creates = fakes.replicate.requests_to("POST", "/v1/models/");
    for r in &creates {
        let body = r.json().unwrap();
        assert_eq!(body["webhook"], app.url("webhooks/replicate/"));
        assert_eq!(body["webhook_events_filter"], json!(["completed"]));
    }
    let polls = fakes.replicate.requests_to("GET", "/v1/predictions/");
    assert!(
        polls.is_empty(),
        "the worker took the verified webhooks instead of polling: {} polls",
        polls.len()
    );
}
