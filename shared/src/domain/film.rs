//! How a story's video is finished: whether it is narrated, and how its captions are
//! burned into the pictures (an ASS script rendered by libass in the encoding pass).

use serde::{Deserialize, Serialize};

use super::{Cue, Invalid, Provider, string_enum};

/// Where burned captions sit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CaptionPosition {
    #[default]
    Bottom,
    Top,
}

string_enum!(CaptionPosition {
    Bottom => "bottom",
    Top => "top",
});

/// How large burned captions are, relative to the frame's height.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CaptionSize {
    Small,
    #[default]
    Medium,
    Large,
}

string_enum!(CaptionSize {
    Small => "small",
    Medium => "medium",
    Large => "large",
});

impl CaptionSize {
    /// Font size in pixels for a frame `height` pixels high.
    pub fn pixels(self, height: u32) -> u32 {
        let per_mille = match self {
            CaptionSize::Small => 45,
            CaptionSize::Medium => 60,
            CaptionSize::Large => 80,
        };
        (height * per_mille / 1000).max(12)
    }
}

/// How one scene gives way to the next.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TransitionKind {
    /// Straight on (the clips may be joined without re-encoding).
    #[default]
    Cut,
    /// The scene dissolves into the next.
    Crossfade,
    /// The scene fades to black and the next fades in.
    FadeBlack,
}

string_enum!(TransitionKind {
    Cut => "cut",
    Crossfade => "crossfade",
    FadeBlack => "fade_black",
});

/// The transitions between scenes. A transition never changes the video's length:
/// the last frame of a scene is held for the transition's time while the next scene
/// begins, so every scene still starts where the narration expects it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct TransitionOptions {
    pub kind: TransitionKind,
    /// 0.1 to 2 seconds; default 0.5.
    pub seconds: f64,
}

impl TransitionOptions {
    pub const MIN_SECONDS: f64 = 0.1;
    pub const MAX_SECONDS: f64 = 2.0;
}

impl Default for TransitionOptions {
    fn default() -> Self {
        Self {
            kind: TransitionKind::Cut,
            seconds: 0.5,
        }
    }
}

/// Captions burned into the video (the WebVTT and SubRip files are written always).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct CaptionOptions {
    /// Burn the captions into the pictures; default true.
    pub burn: bool,
    pub position: CaptionPosition,
    pub size: CaptionSize,
}

impl Default for CaptionOptions {
    fn default() -> Self {
        Self {
            burn: true,
            position: CaptionPosition::default(),
            size: CaptionSize::default(),
        }
    }
}

/// Who speaks the narration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct VoiceOptions {
    /// `local` (espeak-ng, offline; default), `openai` or `elevenlabs`.
    #[schema(value_type = String)]
    pub provider: Provider,
    /// One of the provider's voices ([`voices`]); null for its default.
    pub name: Option<String>,
}

impl Default for VoiceOptions {
    fn default() -> Self {
        Self {
            provider: Provider::Local,
            name: None,
        }
    }
}

/// The espeak-ng voice variants the local narrator offers (`-v <language>+<variant>`).
pub const LOCAL_VOICES: &[&str] = &[
    "m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4", "f5",
];

/// OpenAI's built-in speech voices.
pub const OPENAI_VOICES: &[&str] = &[
    "alloy", "ash", "ballad", "coral", "echo", "fable", "nova", "onyx", "sage", "shimmer", "verse",
    "marin", "cedar",
];

/// ElevenLabs' premade voices by name, with their voice ids; any other voice of
/// the account is chosen by its 20-character id.
pub const ELEVENLABS_VOICES: &[(&str, &str)] = &[
    ("rachel", "21m00Tcm4TlvDq8ikWAM"),
    ("george", "JBFqnCBsd6RMkjVDRZzb"),
    ("sarah", "EXAVITQu4vr4xnSDxMaL"),
    ("adam", "pNInz6obpgDQGcFmaJgB"),
    ("charlotte", "XB0fDUnXU5powFXDhCwa"),
];

impl VoiceOptions {
    /// The voice the provider is asked for: the chosen one or its default
    /// (espeak's own voice for the language, `alloy`, `rachel`'s id).
    pub fn resolved(&self) -> Option<String> {
        let name = self.name.as_deref();
        match self.provider {
            Provider::OpenAi => Some(name.unwrap_or("alloy").to_string()),
            Provider::ElevenLabs => {
                let name = name.unwrap_or("rachel");
                Some(
                    ELEVENLABS_VOICES
                        .iter()
                        .find(|(n, _)| n.eq_ignore_ascii_case(name))
                        .map_or(name, |(_, id)| id)
                        .to_string(),
                )
            }
            _ => name.map(str::to_string),
        }
    }

    /// Whether the provider speaks and knows the voice; the refusal lists the valid
    /// ones.
    pub fn check(&self) -> Result<(), (&'static str, Invalid)> {
        if !self.provider.serves(super::ProviderRole::Speech) {
            let valid: Vec<&str> = Provider::serving(super::ProviderRole::Speech)
                .map(|p| p.as_str())
                .collect();
            return Err((
                "provider",
                Invalid::new(format!("must be one of {}", valid.join(", "))),
            ));
        }
        let Some(name) = self.name.as_deref() else {
            return Ok(());
        };
        let listed = |valid: &[&str]| {
            if valid.contains(&name) {
                Ok(())
            } else {
                Err((
                    "name",
                    Invalid::new(format!(
                        "{} has no voice {name:?}; its voices are {}",
                        self.provider,
                        valid.join(", ")
                    )),
                ))
            }
        };
        match self.provider {
            Provider::OpenAi => listed(OPENAI_VOICES),
            Provider::ElevenLabs => {
                let is_id = name.len() == 20 && name.bytes().all(|b| b.is_ascii_alphanumeric());
                let names: Vec<&str> = ELEVENLABS_VOICES.iter().map(|(n, _)| *n).collect();
                if is_id || names.iter().any(|n| n.eq_ignore_ascii_case(name)) {
                    return Ok(());
                }
                Err((
                    "name",
                    Invalid::new(format!(
                        "elevenlabs has no voice {name:?}: name one of {} or give a \
                         20-character voice id of the account",
                        names.join(", ")
                    )),
                ))
            }
            _ => listed(LOCAL_VOICES),
        }
    }
}

/// A story's finishing options; every story is narrated and captioned unless it
/// says otherwise.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct FilmOptions {
    /// Who writes the scenes when the story has none: `local` (by rule, offline;
    /// default) or `openai` (an LLM over Chat Completions).
    #[schema(value_type = String)]
    pub planner: Provider,
    /// Speak the scenes' narration; default true.
    pub narrate: bool,
    pub voice: VoiceOptions,
    pub captions: CaptionOptions,
    pub transition: TransitionOptions,
}

impl Default for FilmOptions {
    fn default() -> Self {
        Self {
            planner: Provider::Local,
            narrate: true,
            voice: VoiceOptions::default(),
            captions: CaptionOptions::default(),
            transition: TransitionOptions::default(),
        }
    }
}

impl FilmOptions {
    /// The options stored on a story (`None` or unreadable: the defaults).
    pub fn from_stored(value: Option<&serde_json::Value>) -> Self {
        value
            .and_then(|v| serde_json::from_value(v.clone()).ok())
            .unwrap_or_default()
    }
}

/// The font burned captions are set in: Noto Sans CJK covers Latin, Hangul, kana and
/// hanzi, so a Korean or Japanese caption is never boxes.
pub const CAPTION_FONT: &str = "Noto Sans CJK KR";

fn ass_time(seconds: f64) -> String {
    let cs = (seconds.max(0.0) * 100.0).round() as u64;
    format!(
        "{}:{:02}:{:02}.{:02}",
        cs / 360_000,
        cs / 6000 % 60,
        cs / 100 % 60,
        cs % 100
    )
}

/// Text as ASS shows it literally: no override blocks, no line breaks.
fn ass_text(text: &str) -> String {
    text.replace('\\', "\u{29f5}")
        .replace('{', "(")
        .replace('}', ")")
        .replace(['\n', '\r'], " ")
}

/// The ASS script that burns `cues` into a `width`×`height` video.
pub fn ass(cues: &[Cue], width: u32, height: u32, options: CaptionOptions) -> String {
    let size = options.size.pixels(height);
    let alignment = match options.position {
        CaptionPosition::Bottom => 2,
        CaptionPosition::Top => 8,
    };
    let margin_v = height / 18;
    let margin_h = width / 20;
    let outline = (size / 14).max(2);
    let mut out = format!(
        "[Script Info]\nScriptType: v4.00+\nPlayResX: {width}\nPlayResY: {height}\nWrapStyle: 0\n\
         ScaledBorderAndShadow: yes\n\n[V4+ Styles]\n\
         Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, \
         BackColour, Bold, Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, \
         BorderStyle, Outline, Shadow, Alignment, MarginL, MarginR, MarginV, Encoding\n\
         Style: Caption,{CAPTION_FONT},{size},&H00FFFFFF,&H000000FF,&H00000000,&H80000000,\
         -1,0,0,0,100,100,0,0,1,{outline},1,{alignment},{margin_h},{margin_h},{margin_v},1\n\n\
         [Events]\nFormat: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, \
         Effect, Text\n"
    );
    for c in cues {
        out.push_str(&format!(
            "Dialogue: 0,{},{},Caption,,0,0,0,,{}\n",
            ass_time(c.start),
            ass_time(c.end),
            ass_text(&c.text)
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_story_without_options_is_narrated_with_burned_captions() {
        let o = FilmOptions::from_stored(None);
        assert!(o.narrate && o.captions.burn);
        let partial: FilmOptions =
            serde_json::from_value(serde_json::json!({"captions": {"position": "top"}})).unwrap();
        assert!(partial.narrate && partial.captions.burn);
        assert_eq!(partial.captions.position, CaptionPosition::Top);
    }

    #[test]
    fn voices_are_checked_against_the_providers_list() {
        let voice = |provider, name: &str| VoiceOptions {
            provider,
            name: Some(name.into()),
        };
        assert!(voice(Provider::OpenAi, "marin").check().is_ok());
        let (field, err) = voice(Provider::OpenAi, "bob").check().unwrap_err();
        assert_eq!(field, "name");
        assert!(err.0.contains("alloy, ash"), "{}", err.0);
        assert!(voice(Provider::Local, "f3").check().is_ok());
        assert!(voice(Provider::Local, "alloy").check().is_err());
        assert!(voice(Provider::ElevenLabs, "George").check().is_ok());
        assert!(
            voice(Provider::ElevenLabs, "AbCdEfGhIjKlMnOpQrSt")
                .check()
                .is_ok()
        );
        assert!(voice(Provider::ElevenLabs, "nobody").check().is_err());
        assert_eq!(
            voice(Provider::ElevenLabs, "George").resolved().as_deref(),
            Some("JBFqnCBsd6RMkjVDRZzb")
        );
        let (field, _) = voice(Provider::RunwayMl, "x").check().unwrap_err();
        assert_eq!(field, "provider");
    }

    #[test]
    fn the_ass_script_places_each_cue_literally() {
        let cues = [Cue {
            start: 1.234,
            end: 62.5,
            text: "A {tag} here\\N.".into(),
        }];
        let script = ass(&cues, 1280, 720, CaptionOptions::default());
        assert!(script.contains("PlayResY: 720"));
        assert!(script.contains(",Noto Sans CJK KR,43,"), "{script}");
        assert!(
            script.contains("Dialogue: 0,0:00:01.23,0:01:02.50,Caption,,0,0,0,,A (tag) here"),
            "{script}"
        );
        assert!(!script.contains("\\N."), "no override survives: {script}");
    }
}
