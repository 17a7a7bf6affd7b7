//! Domain types and rules. Everything here is a plain value or a pure function with
//! unit tests beside it; parsing into these types happens once, at the edge.

mod cost;
mod error_code;
mod event;
mod film;
mod job;
mod music;
mod narration;
mod planning;
mod provider;
mod quota;
mod scene;
pub mod script;
mod settings;
mod state_machine;
mod story;
pub mod webhook;

pub use cost::{CostEstimate, ProviderRates};
pub use error_code::ErrorCode;
pub use event::{API_PREFIX, EventType, envelope, filter_accepts, percent, story_link};
pub use film::{
    CAPTION_FONT, CaptionOptions, CaptionPosition, CaptionSize, ELEVENLABS_VOICES, FilmOptions,
    LOCAL_VOICES, OPENAI_VOICES, TransitionKind, TransitionOptions, VoiceOptions, ass,
};
pub use job::{JobKind, JobParameters, JobStatus, Priority, RenderQuality, RetryPolicy};
pub use music::{MUSIC_MAX_MB, MusicBed, check_music_url};
pub use narration::{
    Cue, Language, NARRATION_MAX_CHARS, aligned_cues, check_narration, cues, sentences, subrip,
    webvtt,
};
pub use planning::{PlannedScene, SCENE_SECONDS, plan_scenes};
pub use provider::{Provider, ProviderRole};
pub use quota::QuotaLimits;
pub use scene::{CameraMotion, SceneDuration, ScenePrompt, SceneStatus};
pub use script::{Brief, Character, MAX_SCENE_SECONDS, Script, StoryBible};
pub use settings::{ProviderSettings, SettingValue, SettingsError};
pub use state_machine::{
    Actor, Guard, StoryFacts, Transition, TransitionError, check_transition, legal_targets,
};
pub use story::{AspectRatio, StoryDuration, StoryStatus};

/// A value that failed validation, with a message fit for the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub String);

impl Invalid {
    pub fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

/// Implements `as_str`, `Display` and `FromStr` for a fieldless enum whose wire names
/// are given once, so the names in JSON, in the database and in errors cannot drift.
macro_rules! string_enum {
    ($ty:ident { $($variant:ident => $name:literal),+ $(,)? }) => {
        impl $ty {
            /// Every value, in declaration order.
            pub const ALL: &'static [$ty] = &[$($ty::$variant),+];

            /// The wire name.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($ty::$variant => $name),+
                }
            }
        }

        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $ty {
            type Err = $crate::domain::Invalid;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($name => Ok($ty::$variant),)+
                    other => Err($crate::domain::Invalid(format!(
                        "\"{other}\" is not a valid choice; expected one of: {}",
                        [$($name),+].join(", ")
                    ))),
                }
            }
        }

        impl serde::Serialize for $ty {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl utoipa::PartialSchema for $ty {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::schema::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .enum_values(Some([$($name),+]))
                    .into()
            }
        }

        impl utoipa::ToSchema for $ty {}

        impl<'de> serde::Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}
pub(crate) use string_enum;
