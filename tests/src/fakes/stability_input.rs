//! What Stability accepts: the multipart fields of the v2beta generate services
//! and the JSON body of v1 text-to-image, with the limits its API documents.
//! Problems are reported as Stability does: v2beta as a list of
//! `"<field>: <reason>"`, v1 as one error name and message.

use std::collections::HashMap;

use axum::body::Bytes;
use serde_json::Value;

use super::media::{ASPECT_SIZES, ImageFormat};
use super::record::Form;

pub(crate) const STYLE_PRESETS: [&str; 17] = [
    "3d-model",
    "analog-film",
    "anime",
    "cinematic",
    "comic-book",
    "digital-art",
    "enhance",
    "fantasy-art",
    "isometric",
    "line-art",
    "low-poly",
    "modeling-compound",
    "neon-punk",
    "origami",
    "photographic",
    "pixel-art",
    "tile-texture",
];

const SD3_MODELS: [&str; 7] = [
    "sd3.5-large",
    "sd3.5-large-turbo",
    "sd3.5-medium",
    "sd3.5-flash",
    "sd3-large",
    "sd3-large-turbo",
    "sd3-medium",
];

/// The only v1 engine still served; it takes only these sizes.
pub(crate) const SDXL: &str = "stable-diffusion-xl-1024-v1-0";
const SDXL_SIZES: [(u64, u64); 9] = [
    (1024, 1024),
    (1152, 896),
    (1216, 832),
    (1344, 768),
    (1536, 640),
    (640, 1536),
    (768, 1344),
    (832, 1216),
    (896, 1152),
];
const SAMPLERS: [&str; 10] = [
    "DDIM",
    "DDPM",
    "K_DPMPP_2M",
    "K_DPMPP_2S_ANCESTRAL",
    "K_DPM_2",
    "K_DPM_2_ANCESTRAL",
    "K_EULER",
    "K_EULER_ANCESTRAL",
    "K_HEUN",
    "K_LMS",
];
const CLIP_PRESETS: [&str; 7] = [
    "FAST_BLUE",
    "FAST_GREEN",
    "NONE",
    "SIMPLE",
    "SLOW",
    "SLOWER",
    "SLOWEST",
];

/// A valid v2beta request.
pub(crate) struct V2Input {
    pub prompt: String,
    pub format: ImageFormat,
    /// `None` for 0 or absent: the server picks one.
    pub seed: Option<u64>,
    /// The output size, unless it follows an input `image`.
    pub size: (u32, u32),
    pub image: Option<Bytes>,
}

/// Checks a v2beta form for `service` (`core`, `ultra` or `sd3`).
pub(crate) fn v2beta(
    service: &str,
    form: &Form,
    files: &HashMap<String, Bytes>,
) -> Result<V2Input, Vec<String>> {
    let mut errors = Vec::new();
    let field = |name: &str| form.fields.get(name).map(String::as_str);
    let prompt = field("prompt").unwrap_or("");
    match prompt.chars().count() {
        0 => errors.push("prompt: required".to_string()),
        n if n > 10_000 => errors.push("prompt: must be at most 10000 characters".into()),
        _ => {}
    }
    if field("negative_prompt").is_some_and(|p| p.chars().count() > 10_000) {
        errors.push("negative_prompt: must be at most 10000 characters".into());
    }
    let ratio = field("aspect_ratio").unwrap_or("1:1");
    let size = ASPECT_SIZES
        .iter()
        .find(|(r, _)| *r == ratio)
        .map(|(_, s)| *s);
    if size.is_none() {
        errors.push(format!(
            "aspect_ratio: must be one of {}",
            ASPECT_SIZES.map(|(r, _)| r).join(", ")
        ));
    }
    let format = ImageFormat::parse(field("output_format").unwrap_or("png"))
        .filter(|f| *f != ImageFormat::Jpeg || field("output_format") == Some("jpeg"));
    if format.is_none() {
        errors.push("output_format: must be one of jpeg, png, webp".into());
    }
    let seed = match field("seed").map(str::parse::<u64>) {
        None => None,
        Some(Ok(s)) if s <= 4_294_967_294 => Some(s).filter(|s| *s != 0),
        Some(_) => {
            errors.push("seed: must be an integer from 0 to 4294967294".into());
            None
        }
    };
    if field("style_preset").is_some_and(|s| !STYLE_PRESETS.contains(&s)) {
        errors.push(format!(
            "style_preset: must be one of {}",
            STYLE_PRESETS.join(", ")
        ));
    }
    let image = files.get("image").cloned();
    let wants_image = match service {
        "sd3" => {
            if field("model").is_some_and(|m| !SD3_MODELS.contains(&m)) {
                errors.push(format!("model: must be one of {}", SD3_MODELS.join(", ")));
            }
            if field("cfg_scale")
                .is_some_and(|c| !c.parse::<f64>().is_ok_and(|c| (1.0..=10.0).contains(&c)))
            {
                errors.push("cfg_scale: must be a number from 1 to 10".into());
            }
            match field("mode").unwrap_or("text-to-image") {
                "text-to-image" => false,
                "image-to-image" => true,
                _ => {
                    errors.push("mode: must be one of text-to-image, image-to-image".into());
                    false
                }
            }
        }
        "ultra" => image.is_some(),
        _ => false,
    };
    if wants_image {
        if image.is_none() {
            errors.push("image: required for image-to-image".into());
        }
        match field("strength").map(str::parse::<f64>) {
            Some(Ok(s)) if (0.0..=1.0).contains(&s) => {}
            Some(_) => errors.push("strength: must be a number from 0 to 1".into()),
            None => errors.push("strength: required when an image is sent".into()),
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(V2Input {
        prompt: prompt.to_string(),
        format: format.unwrap_or(ImageFormat::Png),
        seed,
        size: size.unwrap_or((1024, 1024)),
        image: image.filter(|_| wants_image),
    })
}

/// A valid v1 text-to-image request.
pub(crate) struct V1Input {
    pub prompts: Vec<String>,
    pub width: u32,
    pub height: u32,
    pub samples: u32,
    pub seed: Option<u64>,
}

/// Checks a v1 JSON body; `Err((name, message))` is a 400.
pub(crate) fn v1(body: &Value, png: bool) -> Result<V1Input, (&'static str, String)> {
    let bad = |m: &str| Err(("bad_request", m.to_string()));
    let Some(list) = body["text_prompts"].as_array().filter(|l| !l.is_empty()) else {
        return bad("text_prompts: required, at least one prompt");
    };
    let mut prompts = Vec::new();
    for p in list {
        match p["text"].as_str() {
            Some(t) if !t.is_empty() && t.chars().count() <= 2000 => prompts.push(t.to_string()),
            _ => return bad("text_prompts[].text: required, 1 to 2000 characters"),
        }
        if !p["weight"].is_null() && !p["weight"].is_number() {
            return bad("text_prompts[].weight: must be a number");
        }
    }
    let int = |name: &str, default: u64| match &body[name] {
        Value::Null => Some(default),
        v => v.as_u64(),
    };
    let (Some(width), Some(height)) = (int("width", 512), int("height", 512)) else {
        return bad("height and width: must be integers");
    };
    if !SDXL_SIZES.contains(&(width, height)) {
        return Err((
            "invalid_height_or_width",
            format!(
                "{width}x{height}: for {SDXL} the allowed dimensions are 1024x1024, 1152x896, \
                 1216x832, 1344x768, 1536x640, 640x1536, 768x1344, 832x1216, 896x1152"
            ),
        ));
    }
    let samples = int("samples", 1).unwrap_or(0);
    if !(1..=10).contains(&samples) {
        return Err(("invalid_samples", "samples: must be from 1 to 10".into()));
    }
    if png && samples > 1 {
        return Err((
            "invalid_samples",
            "samples: must be 1 when accepting image/png".into(),
        ));
    }
    let Some(seed) = int("seed", 0).filter(|s| *s <= 4_294_967_295) else {
        return bad("seed: must be an integer from 0 to 4294967295");
    };
    if int("steps", 30).is_none_or(|s| !(10..=150).contains(&s)) {
        return bad("steps: must be an integer from 10 to 150");
    }
    if !body["cfg_scale"].is_null()
        && body["cfg_scale"]
            .as_f64()
            .is_none_or(|c| !(0.0..=35.0).contains(&c))
    {
        return bad("cfg_scale: must be a number from 0 to 35");
    }
    let one_of = |name: &str, allowed: &[&str]| {
        body[name].is_null() || body[name].as_str().is_some_and(|v| allowed.contains(&v))
    };
    if !one_of("sampler", &SAMPLERS) {
        return bad("sampler: unknown sampler");
    }
    if !one_of("clip_guidance_preset", &CLIP_PRESETS) {
        return bad("clip_guidance_preset: unknown preset");
    }
    if !one_of("style_preset", &STYLE_PRESETS) {
        return bad("style_preset: unknown style preset");
    }
    Ok(V1Input {
        prompts,
        width: width as u32,
        height: height as u32,
        samples: samples as u32,
        seed: Some(seed).filter(|s| *s != 0),
    })
}
