//! What Runway accepts on its create endpoints, model by model: which fields are
//! required, the ratio and duration whitelists, the 1000 UTF-16 unit prompt limit,
//! and the asset URI rules for images (HTTPS URL with a host name, `runway://`
//! upload, or a base64 `data:image/...` URI of at most 5 MB). Problems are reported
//! as Runway does, as issues with the JSON path of the offending field. Fields a
//! model does not know are ignored.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use super::media::{MediaSpec, parse_ratio};

/// The create endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Endpoint {
    ImageToVideo,
    TextToVideo,
    TextToImage,
}

/// One problem with a request body.
pub(crate) struct Issue {
    pub path: Vec<Value>,
    pub message: String,
}

#[derive(Default)]
struct Issues(Vec<Issue>);

impl Issues {
    fn add(&mut self, path: &[&str], message: String) {
        self.0.push(Issue {
            // Array indices are numbers in a path, as in Runway's (zod) issues.
            path: path
                .iter()
                .map(|p| p.parse::<u64>().map_or_else(|_| json!(p), |n| json!(n)))
                .collect(),
            message,
        });
    }
}

/// A valid create request.
pub(crate) struct Accepted {
    pub model: String,
    pub prompt: String,
    pub output: MediaSpec,
}

/// Which keyframes a video model takes in `promptImage`.
#[derive(Clone, Copy, PartialEq)]
enum Frames {
    None,
    First,
    FirstAndLast,
}

struct VideoModel {
    name: &'static str,
    frames: Frames,
    prompt_required: bool,
    ratios: &'static [&'static str],
    durations: &'static [u64],
    /// `None`: `duration` is required.
    default_duration: Option<u64>,
    /// Whether `seed` and `contentModeration` are fields of this model.
    seed: bool,
}

const GEN4_RATIOS: &[&str] = &[
    "1280:720", "720:1280", "1104:832", "832:1104", "960:960", "1584:672",
];
const VEO_RATIOS: &[&str] = &["1280:720", "720:1280", "1080:1920", "1920:1080"];
const TWO_TO_TEN: &[u64] = &[2, 3, 4, 5, 6, 7, 8, 9, 10];

const fn video(
    name: &'static str,
    frames: Frames,
    prompt_required: bool,
    ratios: &'static [&'static str],
    durations: &'static [u64],
    default_duration: Option<u64>,
    seed: bool,
) -> VideoModel {
    VideoModel {
        name,
        frames,
        prompt_required,
        ratios,
        durations,
        default_duration,
        seed,
    }
}

/// `gen4_turbo`'s default duration is not documented; 10 s is believed.
const IMAGE_TO_VIDEO: [VideoModel; 5] = [
    video(
        "gen4_turbo",
        Frames::First,
        false,
        GEN4_RATIOS,
        TWO_TO_TEN,
        Some(10),
        true,
    ),
    video(
        "gen4.5",
        Frames::First,
        true,
        GEN4_RATIOS,
        TWO_TO_TEN,
        None,
        true,
    ),
    video(
        "veo3.1",
        Frames::FirstAndLast,
        false,
        VEO_RATIOS,
        &[4, 6, 8],
        Some(8),
        false,
    ),
    video(
        "veo3.1_fast",
        Frames::FirstAndLast,
        false,
        VEO_RATIOS,
        &[4, 6, 8],
        Some(8),
        false,
    ),
    video("veo3", Frames::First, false, VEO_RATIOS, &[8], None, false),
];

const TEXT_TO_VIDEO: [VideoModel; 4] = [
    video(
        "gen4.5",
        Frames::None,
        true,
        &["1280:720", "720:1280"],
        TWO_TO_TEN,
        None,
        true,
    ),
    video(
        "veo3.1",
        Frames::None,
        true,
        VEO_RATIOS,
        &[4, 6, 8],
        Some(8),
        false,
    ),
    video(
        "veo3.1_fast",
        Frames::None,
        true,
        VEO_RATIOS,
        &[4, 6, 8],
        Some(8),
        false,
    ),
    video("veo3", Frames::None, true, VEO_RATIOS, &[8], None, false),
];

const IMAGE_RATIOS: &[&str] = &[
    "1024:1024",
    "1080:1080",
    "1168:880",
    "1360:768",
    "1440:1080",
    "1080:1440",
    "1808:768",
    "1920:1080",
    "1080:1920",
    "2112:912",
    "1280:720",
    "720:1280",
    "720:720",
    "960:720",
    "720:960",
    "1680:720",
];
/// Text-to-image models and whether they require `referenceImages`.
const IMAGE_MODELS: [(&str, bool); 2] = [("gen4_image", false), ("gen4_image_turbo", true)];

/// Checks a create body for `endpoint`.
pub(crate) fn check(endpoint: Endpoint, body: &Value) -> Result<Accepted, Vec<Issue>> {
    let mut issues = Issues::default();
    if !body.is_object() {
        issues.add(&[], "Expected object".into());
        return Err(issues.0);
    }
    let model = body["model"].as_str().unwrap_or("");
    let names: Vec<&str> = match endpoint {
        Endpoint::ImageToVideo => IMAGE_TO_VIDEO.iter().map(|m| m.name).collect(),
        Endpoint::TextToVideo => TEXT_TO_VIDEO.iter().map(|m| m.name).collect(),
        Endpoint::TextToImage => IMAGE_MODELS.iter().map(|m| m.0).collect(),
    };
    if !names.contains(&model) {
        issues.add(
            &["model"],
            format!("Invalid discriminator value. Expected {}", quoted(&names)),
        );
        return Err(issues.0);
    }
    let prompt = body["promptText"].as_str().unwrap_or("").to_string();
    let output = if endpoint == Endpoint::TextToImage {
        let refs_required = IMAGE_MODELS.iter().any(|m| m.0 == model && m.1);
        check_text(&body["promptText"], true, &mut issues);
        let ratio = check_ratio(&body["ratio"], IMAGE_RATIOS, &mut issues);
        check_references(&body["referenceImages"], refs_required, &mut issues);
        check_seed(body, &mut issues);
        ratio.map(|(w, h)| MediaSpec::png(w, h))
    } else {
        let list = match endpoint {
            Endpoint::ImageToVideo => &IMAGE_TO_VIDEO[..],
            _ => &TEXT_TO_VIDEO[..],
        };
        let spec = list
            .iter()
            .find(|m| m.name == model)
            .expect("a listed model");
        if spec.frames != Frames::None {
            check_prompt_image(&body["promptImage"], spec.frames, &mut issues);
        }
        check_text(&body["promptText"], spec.prompt_required, &mut issues);
        let ratio = check_ratio(&body["ratio"], spec.ratios, &mut issues);
        let seconds = check_duration(&body["duration"], spec, &mut issues);
        if spec.seed {
            check_seed(body, &mut issues);
        }
        ratio
            .zip(seconds)
            .map(|((w, h), s)| MediaSpec::clip(w, h, s as u32))
    };
    match output {
        Some(output) if issues.0.is_empty() => Ok(Accepted {
            model: model.to_string(),
            prompt,
            output,
        }),
        _ => Err(issues.0),
    }
}

fn quoted(values: &[&str]) -> String {
    values
        .iter()
        .map(|v| format!("'{v}'"))
        .collect::<Vec<_>>()
        .join(" | ")
}

fn check_text(value: &Value, required: bool, issues: &mut Issues) {
    match value {
        Value::Null if required => issues.add(&["promptText"], "Required".into()),
        Value::Null => {}
        Value::String(s) if s.is_empty() => issues.add(
            &["promptText"],
            "String must contain at least 1 character(s)".into(),
        ),
        Value::String(s) if s.encode_utf16().count() > 1000 => issues.add(
            &["promptText"],
            "String must contain at most 1000 character(s)".into(),
        ),
        Value::String(_) => {}
        _ => issues.add(&["promptText"], "Expected string".into()),
    }
}

fn check_ratio(value: &Value, allowed: &[&str], issues: &mut Issues) -> Option<(u32, u32)> {
    match value.as_str() {
        Some(r) if allowed.contains(&r) => parse_ratio(r),
        Some(r) => {
            let expected = quoted(allowed);
            issues.add(
                &["ratio"],
                format!("Invalid enum value. Expected {expected}, received '{r}'"),
            );
            None
        }
        None => {
            issues.add(&["ratio"], "Required".into());
            None
        }
    }
}

fn check_duration(value: &Value, model: &VideoModel, issues: &mut Issues) -> Option<u64> {
    let seconds = match value {
        Value::Null => model.default_duration,
        v => v.as_u64(),
    };
    match seconds {
        Some(s) if model.durations.contains(&s) => Some(s),
        None if value.is_null() => {
            issues.add(&["duration"], "Required".into());
            None
        }
        _ => {
            let allowed: Vec<String> = model.durations.iter().map(u64::to_string).collect();
            issues.add(
                &["duration"],
                format!("Expected an integer, one of {}", allowed.join(", ")),
            );
            None
        }
    }
}

fn check_seed(body: &Value, issues: &mut Issues) {
    let seed = &body["seed"];
    if !seed.is_null() && seed.as_u64().is_none_or(|s| s > 4_294_967_295) {
        issues.add(&["seed"], "Expected an integer from 0 to 4294967295".into());
    }
    let moderation = &body["contentModeration"];
    if !moderation.is_null() {
        let threshold = &moderation["publicFigureThreshold"];
        if !moderation.is_object()
            || !(threshold.is_null() || threshold == "auto" || threshold == "low")
        {
            issues.add(
                &["contentModeration", "publicFigureThreshold"],
                "Invalid enum value. Expected 'auto' | 'low'".into(),
            );
        }
    }
}

fn check_prompt_image(value: &Value, frames: Frames, issues: &mut Issues) {
    match value {
        Value::Null => issues.add(&["promptImage"], "Required".into()),
        Value::String(uri) => {
            if let Err(m) = check_uri(uri) {
                issues.add(&["promptImage"], m);
            }
        }
        Value::Array(items) => {
            let positions: Vec<&str> = items
                .iter()
                .filter_map(|i| i["position"].as_str())
                .collect();
            for (i, item) in items.iter().enumerate() {
                let index = i.to_string();
                match item["uri"].as_str().map(check_uri) {
                    Some(Ok(())) => {}
                    Some(Err(m)) => issues.add(&["promptImage", &index, "uri"], m),
                    None => issues.add(&["promptImage", &index, "uri"], "Required".into()),
                }
                let allowed = match frames {
                    Frames::FirstAndLast => &["first", "last"][..],
                    _ => &["first"][..],
                };
                if !item["position"]
                    .as_str()
                    .is_some_and(|p| allowed.contains(&p))
                {
                    let message = format!("Invalid enum value. Expected {}", quoted(allowed));
                    issues.add(&["promptImage", &index, "position"], message);
                }
            }
            let firsts = positions.iter().filter(|p| **p == "first").count();
            if items.is_empty() || firsts != 1 || positions.len() > 2 {
                let message = "Exactly one image with position 'first' is required".into();
                issues.add(&["promptImage"], message);
            }
        }
        _ => issues.add(&["promptImage"], "Expected string or array".into()),
    }
}

fn check_references(value: &Value, required: bool, issues: &mut Issues) {
    let items = match value {
        Value::Null if required => return issues.add(&["referenceImages"], "Required".into()),
        Value::Null => return,
        Value::Array(items) => items,
        _ => return issues.add(&["referenceImages"], "Expected array".into()),
    };
    if items.len() > 3 || (required && items.is_empty()) {
        issues.add(
            &["referenceImages"],
            "Array must contain 1 to 3 element(s)".into(),
        );
    }
    for (i, item) in items.iter().enumerate() {
        let index = i.to_string();
        match item["uri"].as_str().map(check_uri) {
            Some(Ok(())) => {}
            Some(Err(m)) => issues.add(&["referenceImages", &index, "uri"], m),
            None => issues.add(&["referenceImages", &index, "uri"], "Required".into()),
        }
        let tag = &item["tag"];
        let good_tag = tag.as_str().is_some_and(|t| {
            (3..=16).contains(&t.len())
                && t.starts_with(|c: char| c.is_ascii_alphabetic())
                && t.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        });
        if !tag.is_null() && !good_tag {
            let message = "Tags are 3 to 16 letters, digits or underscores, starting with a letter";
            issues.add(&["referenceImages", &index, "tag"], message.into());
        }
    }
}

/// An image asset: an HTTPS URL on a host name, a `runway://` upload, or a data URI.
fn check_uri(uri: &str) -> Result<(), String> {
    if let Some(rest) = uri.strip_prefix("https://") {
        let host = rest.split(['/', '?', '#']).next().unwrap_or("");
        let name = host.rsplit_once(':').map_or(host, |(h, _)| h);
        if uri.len() > 2048 {
            return Err("URLs must be at most 2048 characters".into());
        }
        if name.is_empty() || name.parse::<std::net::Ipv4Addr>().is_ok() || name.starts_with('[') {
            return Err("URLs must use a host name, not an IP address".into());
        }
        return Ok(());
    }
    if uri.starts_with("runway://") {
        return Ok(());
    }
    if let Some(rest) = uri.strip_prefix("data:") {
        let Some((mime, data)) = rest.split_once(";base64,") else {
            return Err("Invalid data URI: expected data:<type>;base64,<data>".into());
        };
        if !["image/png", "image/jpeg", "image/jpg", "image/webp"].contains(&mime) {
            return Err(format!(
                "Unsupported asset type {mime}: use JPEG, PNG or WebP"
            ));
        }
        if uri.len() > 5 * 1024 * 1024 {
            return Err("Data URIs of images must be at most 5 MB".into());
        }
        if STANDARD.decode(data).is_err() {
            return Err("Invalid data URI: the data is not valid base64".into());
        }
        return Ok(());
    }
    if uri.starts_with("http://") {
        return Err("URLs must use HTTPS".into());
    }
    Err("Invalid asset URI: expected an HTTPS URL, a runway:// URI or a data URI".into())
}
