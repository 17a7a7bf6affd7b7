//! Stability AI, for keyframe images.
//!
//! The provider config's `settings.default_model` chooses the API:
//! - an engine id such as the seed's `stable-diffusion-xl-1024-v1-0` uses the v1 JSON
//!   text-to-image API, at the SDXL size closest to the story's aspect ratio, with
//!   `steps` and `cfg_scale` from the settings;
//! - `core`, `ultra`, or an SD3 model (`sd3.5-large`, `sd3.5-large-turbo`,
//!   `sd3.5-medium`, …) uses the current Stable Image API (multipart), with the
//!   closest aspect ratio it offers.
//!
//! Generation is synchronous: the image is the response body. A prompt refused by
//! moderation (403 `content_moderation`, or a `CONTENT_FILTERED` finish reason) fails
//! the job at once with Stability's reason. Billing is in credits (1 credit = $0.01).

use std::path::Path;

use ai_video_shared::config::Secret;
use ai_video_shared::domain::{AspectRatio, Provider};
use reqwest::multipart::Form;
use rust_decimal::Decimal;
use serde_json::{Value, json};

use super::http::{Caps, classify, retry_after, send_once, write_body};
use super::{Call, Generated, ImageProvider, ImageRequest, ProviderError, credits_to_money};

const PROVIDER: Provider = Provider::StabilityAi;

pub struct Stability {
    client: reqwest::Client,
    base: String,
    key: Secret,
    caps: Caps,
}

impl Stability {
    pub fn new(client: reqwest::Client, base: &str, key: Secret, caps: Caps) -> Self {
        Self {
            client,
            base: base.to_string(),
            key,
            caps,
        }
    }
}

/// SDXL 1.0 accepts only these sizes; the closest to the story's ratio is used.
fn sdxl_size(aspect: AspectRatio) -> (u32, u32) {
    match aspect {
        AspectRatio::Landscape => (1344, 768),
        AspectRatio::Portrait => (768, 1344),
        AspectRatio::Square => (1024, 1024),
        AspectRatio::Classic => (1152, 896),
        AspectRatio::ClassicPortrait => (896, 1152),
        AspectRatio::Cinema => (1536, 640),
    }
}

/// The Stable Image API's aspect ratio closest to the story's.
fn v2_aspect(aspect: AspectRatio) -> &'static str {
    match aspect {
        AspectRatio::Landscape => "16:9",
        AspectRatio::Portrait => "9:16",
        AspectRatio::Square => "1:1",
        AspectRatio::Classic => "5:4",
        AspectRatio::ClassicPortrait => "4:5",
        AspectRatio::Cinema => "21:9",
    }
}

/// Credits per image (Stability's price list; 1 credit = $0.01).
fn credits(model: &str, steps: u64) -> Decimal {
    match model {
        "ultra" => Decimal::from(8),
        "core" => Decimal::from(3),
        "sd3.5-large" | "sd3-large" => Decimal::new(65, 1),
        "sd3.5-large-turbo" | "sd3-large-turbo" => Decimal::from(4),
        "sd3.5-medium" | "sd3-medium" => Decimal::new(35, 1),
        "sd3.5-flash" => Decimal::new(25, 1),
        // SDXL 1.0 on v1 is priced by steps, well under a credit at 30 steps.
        _ => Decimal::new(steps.clamp(10, 150) as i64, 2) * Decimal::new(2, 1),
    }
}

/// Stability's message from an error body (v1 `message`, v2beta `errors[]`).
fn reason(body: &str) -> (String, String) {
    let v: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    let name = v["name"].as_str().unwrap_or_default().to_string();
    let message = match (&v["errors"], &v["message"]) {
        (Value::Array(errors), _) => errors
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join("; "),
        (_, Value::String(m)) => m.clone(),
        _ => body.to_string(),
    };
    (name, message)
}

#[async_trait::async_trait]
impl ImageProvider for Stability {
    async fn generate_image(
        &self,
        req: &ImageRequest<'_>,
        call: &Call<'_>,
        work: &Path,
    ) -> Result<Generated, ProviderError> {
        let settings = call.settings.clone();
        let model = settings.default_model.unwrap_or_else(|| "core".into());
        let steps = u64::from(settings.steps.unwrap_or(30));
        let cfg_scale = settings.cfg_scale.unwrap_or(7.0);
        let style = settings.style_preset;
        let prompt = super::full_prompt(req.prompt);
        let negative = req.prompt.negative_prompt.trim().to_string();
        call.gate.pass().await?;
        let v1 = model.starts_with("stable-diffusion");
        let response = if v1 {
            let (width, height) = sdxl_size(req.aspect);
            let mut prompts = vec![json!({"text": prompt, "weight": 1.0})];
            if !negative.is_empty() {
                prompts.push(json!({"text": negative, "weight": -1.0}));
            }
            let mut body = json!({
                "text_prompts": prompts,
                "width": width,
                "height": height,
                "cfg_scale": cfg_scale,
                "steps": steps,
                "samples": 1,
                "seed": req.prompt.seed,
            });
            if let Some(style) = &style {
                body["style_preset"] = json!(style);
            }
            let url = format!("{}/v1/generation/{model}/text-to-image", self.base);
            send_once(
                self.client
                    .post(&url)
                    .bearer_auth(self.key.expose())
                    .header("accept", "image/png")
                    .json(&body),
                PROVIDER,
            )
            .await?
        } else {
            let (endpoint, sd3) = match model.as_str() {
                "core" | "ultra" => (model.as_str(), false),
                _ => ("sd3", true),
            };
            let url = format!("{}/v2beta/stable-image/generate/{endpoint}", self.base);
            let form = {
                let mut form = Form::new()
                    .text("prompt", prompt.clone())
                    .text("aspect_ratio", v2_aspect(req.aspect))
                    .text("seed", req.prompt.seed.to_string())
                    .text("output_format", "png");
                if !negative.is_empty() && !model.contains("turbo") {
                    form = form.text("negative_prompt", negative.clone());
                }
                if sd3 {
                    form = form.text("model", model.clone());
                }
                if let Some(style) = &style {
                    form = form.text("style_preset", style.clone());
                }
                form
            };
            send_once(
                self.client
                    .post(&url)
                    .bearer_auth(self.key.expose())
                    .header("accept", "image/*")
                    .multipart(form),
                PROVIDER,
            )
            .await?
        };

        let status = response.status();
        if !status.is_success() {
            let wait = retry_after(&response);
            let body = response.text().await.unwrap_or_default();
            let (name, message) = reason(&body);
            if name == "content_moderation" {
                return Err(ProviderError::Permanent(format!(
                    "stability_ai content moderation refused the prompt: {message}"
                )));
            }
            return Err(classify(
                PROVIDER,
                status,
                &format!("{name} {message}"),
                wait,
            ));
        }
        let finish = response
            .headers()
            .get("finish-reason")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("SUCCESS")
            .to_ascii_uppercase();
        let seed = response
            .headers()
            .get("seed")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        if finish == "CONTENT_FILTERED" {
            return Err(ProviderError::Permanent(
                "stability_ai content moderation filtered the generated image".into(),
            ));
        }
        let path = work.join("image.png");
        write_body(response, &path, PROVIDER, self.caps.image()).await?;
        let credits = credits(&model, steps);
        (call.progress)(1.0);
        Ok(Generated {
            path,
            content_type: "image/png",
            cost: credits_to_money(credits),
            metadata: json!({
                "provider": PROVIDER,
                "api": if v1 { "v1" } else { "v2beta" },
                "model": model,
                "seed": seed,
                "finish_reason": finish,
                "units": {"credits": credits},
            }),
        })
    }
}
