//! What the fake Replicate accepts as a prediction's `input`, and the file a model
//! makes from it. Real models each have their own schema; this one checks what
//! the common image and video models share and reports problems the way
//! Replicate does, as `invalid_fields` of a 422.
//!
//! Accepted inputs (all optional except `prompt`):
//! - `prompt`: non-empty string.
//! - images: `width` + `height` (64–4096), else `aspect_ratio` (`W:H`, default
//!   `1:1`; Stability's nine ratios get SDXL sizes, others about one megapixel);
//!   `output_format` `png` (default), `jpg`/`jpeg`, `webp`; `num_outputs` 1–4.
//! - videos: `width` + `height` (64–4096, rounded down to even), else
//!   `aspect_ratio` (default `16:9`) at `resolution` `480p`/`540p`/`720p`
//!   (default)/`1080p` on the short side; `fps` or `frames_per_second` (1–60,
//!   default 24); `num_frames` (1–1440), else `duration` seconds (0–60, default 5).
//! - `image`, `start_image`, `first_frame_image`, `input_image`, `last_frame_image`:
//!   an `http(s)://` or `data:` URI (not fetched).

use serde_json::{Value, json};

use super::media::{ImageFormat, MediaSpec, aspect_size, parse_ratio};

/// What a model outputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputKind {
    /// One PNG (or `output_format`) image; `output` is a URL string.
    Image,
    /// `num_outputs` images; `output` is a list of URL strings.
    ImageList,
    /// One H.264 MP4 clip; `output` is a URL string.
    Video,
}

impl OutputKind {
    /// The default for a model name: video for names containing `video`, `i2v`,
    /// `t2v`, `wan`, `kling`, `minimax`, `hailuo`, `seedance` or `veo`; a list
    /// for `flux-schnell` and `flux-dev` (as the real ones return); else one image.
    pub fn for_model(model: &str) -> Self {
        let m = model.to_lowercase();
        let video = [
            "video", "i2v", "t2v", "wan", "kling", "minimax", "hailuo", "seedance", "veo",
        ];
        if video.iter().any(|w| m.contains(w)) {
            Self::Video
        } else if m.ends_with("/flux-schnell") || m.ends_with("/flux-dev") {
            Self::ImageList
        } else {
            Self::Image
        }
    }
}

/// What a valid input will produce.
#[derive(Debug, Clone)]
pub(crate) struct Planned {
    pub prompt: String,
    pub spec: MediaSpec,
    pub count: usize,
    /// Whether `output` is a list of URLs rather than one.
    pub list: bool,
}

/// Checks `input` for a model of `kind`; `Err` holds the `invalid_fields`.
pub(crate) fn plan(kind: OutputKind, input: &Value) -> Result<Planned, Vec<Value>> {
    let mut bad = Vec::new();
    let mut invalid = |kind: &str, field: &str, description: String| {
        bad.push(json!({"type": kind, "field": field, "description": description}));
    };
    if !input.is_object() {
        invalid("type", "input", "Invalid type. Expected: object".into());
        return Err(bad);
    }
    let prompt = input["prompt"].as_str().unwrap_or("").to_string();
    if prompt.is_empty() {
        invalid("required", "input", "prompt is required".into());
    }
    let mut int = |name: &str, min: u64, max: u64| -> Option<u64> {
        let v = &input[name];
        if v.is_null() {
            return None;
        }
        let n = v.as_u64().filter(|n| (min..=max).contains(n));
        if n.is_none() {
            let description = format!("Must be an integer from {min} to {max}");
            invalid("range", &format!("input.{name}"), description);
        }
        n
    };
    let width = int("width", 64, 4096);
    let height = int("height", 64, 4096);
    let count = int("num_outputs", 1, 4).unwrap_or(1) as usize;
    let fps = int("fps", 1, 60).or(int("frames_per_second", 1, 60));
    let frames = int("num_frames", 1, 1440);
    let duration = match &input["duration"] {
        Value::Null => None,
        v => {
            let d = v.as_f64().filter(|d| *d > 0.0 && *d <= 60.0);
            if d.is_none() {
                let description = "Must be a number of seconds, at most 60".into();
                invalid("range", "input.duration", description);
            }
            d
        }
    };
    let ratio = input["aspect_ratio"].as_str();
    if !input["aspect_ratio"].is_null() && ratio.and_then(parse_ratio).is_none() {
        invalid("format", "input.aspect_ratio", "Must look like 16:9".into());
    }
    let short_side = match input["resolution"].as_str() {
        None if input["resolution"].is_null() => 720,
        Some("480p") => 480,
        Some("540p") => 540,
        Some("720p") => 720,
        Some("1080p") => 1080,
        _ => {
            let description = "Must be one of 480p, 540p, 720p, 1080p".into();
            invalid("enum", "input.resolution", description);
            720
        }
    };
    let format = match input["output_format"].as_str() {
        None if input["output_format"].is_null() => Some(ImageFormat::Png),
        Some(f) => ImageFormat::parse(f),
        None => None,
    };
    if format.is_none() {
        let description = "Must be one of png, jpg, webp".into();
        invalid("enum", "input.output_format", description);
    }
    for name in [
        "image",
        "start_image",
        "first_frame_image",
        "input_image",
        "last_frame_image",
    ] {
        let v = &input[name];
        let uri = v.as_str().is_some_and(|s| {
            s.starts_with("https://") || s.starts_with("http://") || s.starts_with("data:")
        });
        if !v.is_null() && !uri {
            invalid(
                "format",
                &format!("input.{name}"),
                "Does not match format 'uri'".into(),
            );
        }
    }
    if !bad.is_empty() {
        return Err(bad);
    }
    let spec = match kind {
        OutputKind::Video => {
            let (w, h) = match (width, height) {
                (Some(w), Some(h)) => (w as u32 & !1, h as u32 & !1),
                _ => video_size(ratio.unwrap_or("16:9"), short_side),
            };
            let fps = fps.unwrap_or(24) as u32;
            let frames = frames.map_or_else(
                || (duration.unwrap_or(5.0) * f64::from(fps)).round().max(1.0) as u32,
                |n| n as u32,
            );
            MediaSpec::Video {
                width: w,
                height: h,
                frames,
                fps,
            }
        }
        OutputKind::Image | OutputKind::ImageList => {
            let (w, h) = match (width, height) {
                (Some(w), Some(h)) => (w as u32, h as u32),
                _ => aspect_size(ratio.unwrap_or("1:1")).unwrap_or((1024, 1024)),
            };
            MediaSpec::Image {
                format: format.unwrap_or(ImageFormat::Png),
                width: w,
                height: h,
            }
        }
    };
    let list = kind == OutputKind::ImageList;
    Ok(Planned {
        prompt,
        spec,
        count: if list { count } else { 1 },
        list,
    })
}

/// A video size for `W:H` with `short` pixels on the short side, even on both.
fn video_size(ratio: &str, short: u32) -> (u32, u32) {
    let (a, b) = parse_ratio(ratio).unwrap_or((16, 9));
    let long = |x: u32, y: u32| {
        ((f64::from(short) * f64::from(x) / f64::from(y) / 2.0).round() as u32) * 2
    };
    if a >= b {
        (long(a, b), short)
    } else {
        (short, long(b, a))
    }
}
