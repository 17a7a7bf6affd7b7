//! What the fake ElevenLabs accepts in a text-to-speech request: the models and
//! their character caps, the `output_format`s, and FastAPI's validation of the
//! query (`output_format`, `enable_logging`, `optimize_streaming_latency`) and
//! the body (`text`, `model_id`, `voice_settings`, `seed`, `language_code`,
//! `previous_text`, `next_text`), which reports every problem at once as a 422.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::record::RecordedBody;
use super::tone::{self, Codec};

/// A text-to-speech model.
pub(crate) struct Model {
    pub id: &'static str,
    pub name: &'static str,
    /// The most characters one request may carry.
    pub max_chars: usize,
    /// Flash and Turbo bill one credit per two characters.
    pub half_price: bool,
    /// A few of the languages it speaks.
    pub languages: &'static [(&'static str, &'static str)],
}

const MULTILINGUAL: &[(&str, &str)] = &[
    ("en", "English"),
    ("ko", "Korean"),
    ("ja", "Japanese"),
    ("de", "German"),
    ("fr", "French"),
    ("es", "Spanish"),
];
const ENGLISH: &[(&str, &str)] = &[("en", "English")];

/// The models and their per-request character caps.
pub(crate) const MODELS: [Model; 6] = [
    Model {
        id: "eleven_v3",
        name: "Eleven v3",
        max_chars: 3_000,
        half_price: false,
        languages: MULTILINGUAL,
    },
    Model {
        id: "eleven_multilingual_v2",
        name: "Eleven Multilingual v2",
        max_chars: 10_000,
        half_price: false,
        languages: MULTILINGUAL,
    },
    Model {
        id: "eleven_flash_v2_5",
        name: "Eleven Flash v2.5",
        max_chars: 40_000,
        half_price: true,
        languages: MULTILINGUAL,
    },
    Model {
        id: "eleven_turbo_v2_5",
        name: "Eleven Turbo v2.5",
        max_chars: 40_000,
        half_price: true,
        languages: MULTILINGUAL,
    },
    Model {
        id: "eleven_flash_v2",
        name: "Eleven Flash v2",
        max_chars: 30_000,
        half_price: true,
        languages: ENGLISH,
    },
    Model {
        id: "eleven_turbo_v2",
        name: "Eleven Turbo v2",
        max_chars: 30_000,
        half_price: true,
        languages: ENGLISH,
    },
];

const DEFAULT_MODEL: &str = "eleven_multilingual_v2";

/// Every `output_format` accepted.
const OUTPUT_FORMATS: [&str; 28] = [
    "mp3_22050_32",
    "mp3_24000_48",
    "mp3_44100_32",
    "mp3_44100_64",
    "mp3_44100_96",
    "mp3_44100_128",
    "mp3_44100_192",
    "pcm_8000",
    "pcm_16000",
    "pcm_22050",
    "pcm_24000",
    "pcm_32000",
    "pcm_44100",
    "pcm_48000",
    "wav_8000",
    "wav_16000",
    "wav_22050",
    "wav_24000",
    "wav_32000",
    "wav_44100",
    "wav_48000",
    "opus_48000_32",
    "opus_48000_64",
    "opus_48000_96",
    "opus_48000_128",
    "opus_48000_192",
    "ulaw_8000",
    "alaw_8000",
];

/// An `output_format`, `codec_samplerate[_bitrate]`.
pub(crate) struct Output {
    codec: &'static str,
    pub rate: u32,
    kbps: u32,
}

impl Output {
    fn parse(format: &str) -> Option<Self> {
        let name = OUTPUT_FORMATS.iter().find(|f| **f == format)?;
        let mut parts = name.split('_');
        let codec = parts.next()?;
        let rate = parts.next()?.parse().ok()?;
        let kbps = parts.next().map_or(Some(0), |k| k.parse().ok())?;
        Some(Self { codec, rate, kbps })
    }

    pub fn content_type(&self) -> &'static str {
        match self.codec {
            "mp3" => "audio/mpeg",
            "pcm" => "audio/pcm",
            "wav" => "audio/wav",
            "opus" => "audio/opus",
            "ulaw" => "audio/basic",
            _ => "audio/alaw",
        }
    }

    pub async fn encode(&self, samples: &[i16]) -> Result<Vec<u8>, String> {
        let codec = match self.codec {
            "pcm" => return Ok(tone::pcm_bytes(samples)),
            "wav" => return Ok(tone::wav_bytes(samples, self.rate)),
            "mp3" => Codec::Mp3(self.kbps),
            "opus" => Codec::Opus(self.kbps),
            "ulaw" => Codec::Mulaw,
            _ => Codec::Alaw,
        };
        tone::encode(samples, self.rate, codec).await
    }
}

/// A request whose query and body passed FastAPI's checks.
pub(crate) struct Checked {
    pub text: String,
    pub model_id: String,
    /// `voice_settings.speed`, 1.0 if not given.
    pub speed: f64,
    pub output: Output,
}

/// FastAPI's validation problems, gathered.
#[derive(Default)]
struct Problems(Vec<Value>);

impl Problems {
    fn push(&mut self, loc: &[&str], kind: &str, msg: &str, input: &Value) {
        self.0
            .push(json!({"type": kind, "loc": loc, "msg": msg, "input": input}));
    }

    fn not_string(&mut self, loc: &[&str], input: &Value) {
        self.push(loc, "string_type", "Input should be a valid string", input);
    }

    fn not_object(&mut self, loc: &[&str], input: &Value) {
        let msg = "Input should be a valid dictionary or object to extract fields from";
        self.push(loc, "model_attributes_type", msg, input);
    }

    /// Checks a number between `min` and `max` (an integer if `integer`); gives
    /// it if it is one.
    fn number(
        &mut self,
        loc: &[&str],
        value: &Value,
        range: (f64, f64),
        integer: bool,
    ) -> Option<f64> {
        let parsed = if integer {
            value
                .as_u64()
                .map(|n| n as f64)
                .or_else(|| value.as_i64().map(|n| n as f64))
        } else {
            value.as_f64()
        };
        let Some(n) = parsed else {
            let (kind, msg) = if integer {
                ("int_type", "Input should be a valid integer")
            } else {
                ("float_type", "Input should be a valid number")
            };
            self.push(loc, kind, msg, value);
            return None;
        };
        let (min, max) = range;
        if n < min {
            let msg = format!("Input should be greater than or equal to {min}");
            self.push(loc, "greater_than_equal", &msg, value);
            return None;
        }
        if n > max {
            let msg = format!("Input should be less than or equal to {max}");
            self.push(loc, "less_than_equal", &msg, value);
            return None;
        }
        Some(n)
    }
}

/// FastAPI's checks of the query and the body, every problem at once.
pub(crate) fn check(
    query: &BTreeMap<String, String>,
    body: &RecordedBody,
) -> Result<Checked, Vec<Value>> {
    let mut problems = Problems::default();
    let output = check_query(&mut problems, query);
    let fields = match body {
        RecordedBody::Json(Value::Object(fields)) => Some(fields),
        RecordedBody::Json(other) => {
            problems.not_object(&["body"], other);
            None
        }
        RecordedBody::Empty => {
            problems.push(&["body"], "missing", "Field required", &Value::Null);
            None
        }
        _ => {
            problems.push(&["body"], "json_invalid", "JSON decode error", &json!({}));
            None
        }
    };
    let Some(fields) = fields else {
        return Err(problems.0);
    };
    let text = check_body(&mut problems, fields);
    let speed = match fields.get("voice_settings") {
        None | Some(Value::Null) => 1.0,
        Some(Value::Object(settings)) => check_voice_settings(&mut problems, settings),
        Some(other) => {
            problems.not_object(&["body", "voice_settings"], other);
            1.0
        }
    };
    match (text, output) {
        (Some(text), Some(output)) if problems.0.is_empty() => Ok(Checked {
            text,
            model_id: fields
                .get("model_id")
                .and_then(Value::as_str)
                .unwrap_or(DEFAULT_MODEL)
                .to_string(),
            speed,
            output,
        }),
        _ => Err(problems.0),
    }
}

/// The query's problems; gives the output format if it is a known one.
fn check_query(problems: &mut Problems, query: &BTreeMap<String, String>) -> Option<Output> {
    let format = query
        .get("output_format")
        .map_or("mp3_44100_128", String::as_str);
    let output = Output::parse(format);
    if output.is_none() {
        let names: Vec<String> = OUTPUT_FORMATS.iter().map(|f| format!("'{f}'")).collect();
        let msg = format!("Input should be {}", names.join(", "));
        problems.push(&["query", "output_format"], "enum", &msg, &json!(format));
    }
    if let Some(logging) = query.get("enable_logging") {
        let known = [
            "true", "false", "1", "0", "yes", "no", "on", "off", "t", "f", "y", "n",
        ];
        if !known.contains(&logging.to_lowercase().as_str()) {
            let msg = "Input should be a valid boolean, unable to interpret input";
            problems.push(
                &["query", "enable_logging"],
                "bool_parsing",
                msg,
                &json!(logging),
            );
        }
    }
    if let Some(latency) = query.get("optimize_streaming_latency") {
        let loc = ["query", "optimize_streaming_latency"];
        match latency.parse::<i64>() {
            Ok(n) => {
                problems.number(&loc, &json!(n), (0.0, 4.0), true);
            }
            Err(_) => {
                let msg = "Input should be a valid integer, unable to parse string as an integer";
                problems.push(&loc, "int_parsing", msg, &json!(latency));
            }
        }
    }
    output
}

/// The body's problems but `voice_settings`; gives the text if it is one.
fn check_body(problems: &mut Problems, fields: &Map<String, Value>) -> Option<String> {
    let text = match fields.get("text") {
        None => {
            let whole = Value::Object(fields.clone());
            problems.push(&["body", "text"], "missing", "Field required", &whole);
            None
        }
        Some(Value::String(t)) if t.is_empty() => {
            let msg = "String should have at least 1 character";
            problems.push(&["body", "text"], "string_too_short", msg, &json!(t));
            None
        }
        Some(Value::String(t)) => Some(t.clone()),
        Some(other) => {
            problems.not_string(&["body", "text"], other);
            None
        }
    };
    for field in ["model_id", "language_code", "previous_text", "next_text"] {
        match fields.get(field) {
            None | Some(Value::Null | Value::String(_)) => {}
            Some(other) => problems.not_string(&["body", field], other),
        }
    }
    if let Some(seed) = fields.get("seed").filter(|s| !s.is_null()) {
        problems.number(&["body", "seed"], seed, (0.0, 4_294_967_295.0), true);
    }
    text
}

/// The problems of `voice_settings`; gives its speed (1.0 if not given).
fn check_voice_settings(problems: &mut Problems, settings: &Map<String, Value>) -> f64 {
    let mut speed = 1.0;
    for (name, range) in [
        ("speed", (0.7, 1.2)),
        ("stability", (0.0, 1.0)),
        ("similarity_boost", (0.0, 1.0)),
        ("style", (0.0, 1.0)),
    ] {
        let Some(value) = settings.get(name).filter(|v| !v.is_null()) else {
            continue;
        };
        let checked = problems.number(&["body", "voice_settings", name], value, range, false);
        if let (Some(n), "speed") = (checked, name) {
            speed = n;
        }
    }
    if let Some(boost) = settings
        .get("use_speaker_boost")
        .filter(|b| !b.is_null() && !b.is_boolean())
    {
        let loc = ["body", "voice_settings", "use_speaker_boost"];
        problems.push(&loc, "bool_type", "Input should be a valid boolean", boost);
    }
    speed
}
