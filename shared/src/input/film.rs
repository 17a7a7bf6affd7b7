//! The `film` member of a story body: who plans and narrates, how captions are
//! burned and how scenes give way to each other.

use serde::Deserialize;
use utoipa::ToSchema;

use super::{Checked, FieldErrors, optional_object};
use crate::domain::{
    CaptionPosition, CaptionSize, FilmOptions, Provider, ProviderRole, TransitionKind,
    TransitionOptions, VoiceOptions,
};

/// How the story's video is finished.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FilmIn {
    /// Who writes the scenes of a story that has none: `local` (by rule, offline;
    /// default) or `openai` (an LLM over Chat Completions).
    #[schema(value_type = Option<PlanProvider>)]
    pub planner: Option<Checked<Provider>>,
    /// Speak the scenes' narration; default true.
    pub narrate: Option<bool>,
    /// Who speaks it; default the offline voice.
    #[serde(default, deserialize_with = "optional_object")]
    #[schema(schema_with = voice_schema)]
    pub voice: Option<VoiceIn>,
    #[serde(default, deserialize_with = "optional_object")]
    pub captions: Option<CaptionsIn>,
    #[serde(default, deserialize_with = "optional_object")]
    pub transition: Option<SceneTransitionIn>,
}

/// The narrator.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VoiceIn {
    /// `local` (espeak-ng; default), `openai` or `elevenlabs`.
    #[schema(value_type = Option<SpeechProvider>)]
    pub provider: Option<Checked<Provider>>,
    /// One of the provider's voices (a 422 lists them); null for its default.
    #[schema(value_type = Option<String>, max_length = 40, pattern = r"^[^\u0000]*$")]
    pub name: Option<String>,
}

/// `VoiceIn` as the provider decides it: each provider with its own voices.
fn voice_schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    use crate::domain::{ELEVENLABS_VOICES, LOCAL_VOICES, OPENAI_VOICES};
    let names = |list: Vec<&str>| {
        let mut values: Vec<serde_json::Value> = list.into_iter().map(Into::into).collect();
        values.push(serde_json::Value::Null);
        serde_json::json!({"type": ["string", "null"], "enum": values})
    };
    // The default provider may be named, or left out or null.
    let choice = |provider: &str, required: bool, name: serde_json::Value| {
        let named = if required {
            serde_json::json!({"type": "string", "enum": [provider]})
        } else {
            serde_json::json!({"type": ["string", "null"], "enum": [provider, null]})
        };
        let mut object = serde_json::json!({
            "type": "object", "additionalProperties": false,
            "properties": {"provider": named, "name": name},
        });
        if required {
            object["required"] = serde_json::json!(["provider"]);
        }
        object
    };
    let mut eleven: Vec<&str> = ELEVENLABS_VOICES.iter().map(|(n, _)| *n).collect();
    eleven.push("21m00Tcm4TlvDq8ikWAM");
    let schema = serde_json::json!({
        "description": "The narrator: `local` (espeak-ng, offline; default) with one of its \
            variants, `openai` with one of its voices, `elevenlabs` with a premade voice's \
            name or any 20-character voice id of the account. Null for the defaults.",
        "anyOf": [
            {"type": "null"},
            choice("local", false, names(LOCAL_VOICES.to_vec())),
            choice("openai", true, names(OPENAI_VOICES.to_vec())),
            choice("elevenlabs", true, serde_json::json!({"anyOf": [
                names(eleven),
                {"type": "string", "pattern": "^[A-Za-z0-9]{20}$"},
            ]})),
        ],
    });
    serde_json::from_value(schema).expect("the voice schema is a valid OpenAPI schema")
}

/// How scenes give way to each other.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SceneTransitionIn {
    /// `cut` (default), `crossfade` or `fade_black`.
    #[schema(value_type = Option<TransitionKind>)]
    pub kind: Option<Checked<TransitionKind>>,
    /// 0.1 to 2 seconds; default 0.5.
    #[schema(minimum = 0.1, maximum = 2.0)]
    pub seconds: Option<f64>,
}

/// Captions burned into the pictures (WebVTT and SubRip are written beside the
/// video either way).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CaptionsIn {
    /// Default true.
    pub burn: Option<bool>,
    /// `bottom` (default) or `top`.
    #[schema(value_type = Option<CaptionPosition>)]
    pub position: Option<Checked<CaptionPosition>>,
    /// `small`, `medium` (default) or `large`.
    #[schema(value_type = Option<CaptionSize>)]
    pub size: Option<Checked<CaptionSize>>,
}

impl FilmIn {
    /// The options, each member left out at its default; refusals go to `errors`.
    pub(super) fn check(self, errors: &mut FieldErrors) -> FilmOptions {
        let mut film = FilmOptions::default();
        if let Some(planner) = self.planner.and_then(|p| errors.take("film.planner", p))
            && let Some(planner) =
                errors.check("film.planner", planner.for_role(ProviderRole::Plan))
        {
            film.planner = planner;
        }
        if let Some(v) = self.voice {
            let provider = match v.provider {
                Some(p) => errors.take("film.voice.provider", p),
                None => Some(Provider::Local),
            };
            if let Some(provider) = provider {
                let voice = VoiceOptions {
                    provider,
                    name: v.name,
                };
                match voice.check() {
                    Ok(()) => film.voice = voice,
                    Err((field, why)) => errors.add(format!("film.voice.{field}"), why.0),
                }
            }
        }
        if let Some(narrate) = self.narrate {
            film.narrate = narrate;
        }
        if let Some(c) = self.captions {
            if let Some(burn) = c.burn {
                film.captions.burn = burn;
            }
            if let Some(p) = c
                .position
                .and_then(|p| errors.take("film.captions.position", p))
            {
                film.captions.position = p;
            }
            if let Some(s) = c.size.and_then(|s| errors.take("film.captions.size", s)) {
                film.captions.size = s;
            }
        }
        if let Some(t) = self.transition {
            if let Some(k) = t.kind.and_then(|k| errors.take("film.transition.kind", k)) {
                film.transition.kind = k;
            }
            let range = TransitionOptions::MIN_SECONDS..=TransitionOptions::MAX_SECONDS;
            match t.seconds {
                Some(s) if range.contains(&s) => film.transition.seconds = s,
                Some(_) => errors.add(
                    "film.transition.seconds",
                    "Must be between 0.1 and 2 seconds.",
                ),
                None => {}
            }
        }
        film
    }
}

/// The names a provider field takes for one role.
macro_rules! role_schema {
    ($($name:ident => $role:expr, $doc:literal;)+) => {$(
        #[doc = $doc]
        pub struct $name;

        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                let names = Provider::serving($role).map(|p| p.as_str());
                utoipa::openapi::schema::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .enum_values(Some(names))
                    .into()
            }
        }

        impl ToSchema for $name {}
    )+};
}

role_schema! {
    ImageProvider => ProviderRole::Image, "The providers that can make a story's keyframes.";
    VideoProvider => ProviderRole::Video, "The providers that can make a story's clips: every media provider but Stability AI.";
    PlanProvider => ProviderRole::Plan, "The providers that can plan a story's scenes.";
    SpeechProvider => ProviderRole::Speech, "The providers that can speak a story's narration.";
}
