//! The three fake providers at once, workers pointed at them, and stories on them:
//! for the tests that count what the providers were asked for.

use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};

use crate::TestApp;
use crate::fakes::{FakeOptions, FakeReplicate, FakeRunway, FakeStability};
use crate::worker::WorkerTweaks;

pub const STABILITY_KEY: &str = "sk-test-stability-0123456789";
pub const RUNWAY_KEY: &str = "key_0123456789abcdef0123456789abcdef";
pub const REPLICATE_KEY: &str = "r8_test_replicate_0123456789";
/// Where Stability's default (SDXL) images are bought.
pub const SDXL_IMAGES: &str = "/v1/generation/stable-diffusion-xl-1024-v1-0/text-to-image";

pub struct ProviderFakes {
    pub stability: FakeStability,
    pub runway: FakeRunway,
    pub replicate: FakeReplicate,
}

impl ProviderFakes {
    pub fn start() -> Self {
        Self {
            stability: FakeStability::start(FakeOptions::with_key(STABILITY_KEY)),
            runway: FakeRunway::start(FakeOptions::with_key(RUNWAY_KEY)),
            replicate: FakeReplicate::start(FakeOptions::with_key(REPLICATE_KEY)),
        }
    }

    /// A worker process on the fakes, logging JSON at INFO into `log`.
    pub fn tweaks(&self, log: &Path) -> WorkerTweaks {
        WorkerTweaks {
            env: vec![
                ("STABILITY_AI_KEY".into(), STABILITY_KEY.into()),
                ("RUNWAY_ML_KEY".into(), RUNWAY_KEY.into()),
                ("REPLICATE_API_TOKEN".into(), REPLICATE_KEY.into()),
                ("STABILITY_API_BASE".into(), self.stability.base_url()),
                ("RUNWAY_API_BASE".into(), self.runway.base_url()),
                ("REPLICATE_API_BASE".into(), self.replicate.base_url()),
                ("RUST_LOG".into(), "info".into()),
                ("LOG_FORMAT".into(), "json".into()),
            ],
            log_file: Some(log.to_path_buf()),
            ..WorkerTweaks::default()
        }
    }
}

/// Runway with one concurrent task and fast polls.
pub fn runway_settings() -> Value {
    json!({"default_model": "gen4_turbo", "max_duration": 10, "max_concurrency": 1,
           "poll_interval_ms": 100})
}

impl TestApp {
    /// A story on the given (image, video) providers, the video one configured with
    /// `settings`, with one 2-second scene per prompt, planned by the worker.
    pub async fn story_on(
        &self,
        token: &str,
        prompts: &[&str],
        (image, video): (&str, &str),
        settings: Value,
    ) -> String {
        let admin = self.tokens.admin("ops");
        self.patch(
            &format!("providers/{video}/"),
            &admin,
            json!({ "settings": settings }),
        )
        .await
        .assert_status(200);
        let r = self
            .post(
                "stories/",
                token,
                json!({"title": "Pay once", "synopsis": "Each scene is bought once.",
                       "duration_seconds": 2 * prompts.len(), "image_provider": image,
                       "video_provider": video}),
            )
            .await;
        r.assert_status(201);
        let id = r.body["id"].as_str().unwrap().to_string();
        let scenes: Vec<Value> = prompts
            .iter()
            .enumerate()
            .map(|(i, t)| json!({"duration_seconds": 2, "prompt": {"text": t, "seed": i}}))
            .collect();
        self.bulk_scenes(token, &id, scenes).await;
        self.start_planning(token, &id).await.assert_status(200);
        self.wait_for_status(token, &id, "planned", Duration::from_secs(120))
            .await;
        // Workers re-read provider settings at most once a second.
        tokio::time::sleep(Duration::from_millis(1100)).await;
        id
    }
}
