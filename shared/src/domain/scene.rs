//! Scene-level values: status, duration and the prompt value object.

use serde::{Deserialize, Serialize};

use super::{Invalid, string_enum};

/// Progress of one scene's keyframe and clip.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SceneStatus {
    #[default]
    Pending,
    Generating,
    Completed,
    Failed,
}

string_enum!(SceneStatus {
    Pending => "pending",
    Generating => "generating",
    Completed => "completed",
    Failed => "failed",
});

/// How the virtual camera moves during a clip.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum CameraMotion {
    #[default]
    Static,
    PanLeft,
    PanRight,
    TiltUp,
    TiltDown,
    ZoomIn,
    ZoomOut,
}

string_enum!(CameraMotion {
    Static => "static",
    PanLeft => "pan_left",
    PanRight => "pan_right",
    TiltUp => "tilt_up",
    TiltDown => "tilt_down",
    ZoomIn => "zoom_in",
    ZoomOut => "zoom_out",
});

/// A scene's length in whole seconds, 1 ..= [`SceneDuration::MAX`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SceneDuration(u32);

impl SceneDuration {
    pub const MAX: u32 = 30;

    pub fn new(seconds: i64) -> Result<Self, Invalid> {
        if seconds < 1 {
            return Err(Invalid::new("must be at least 1 second"));
        }
        if seconds > i64::from(Self::MAX) {
            return Err(Invalid(format!("must be at most {} seconds", Self::MAX)));
        }
        Ok(Self(seconds as u32))
    }

    pub fn seconds(self) -> u32 {
        self.0
    }
}

/// What to ask the providers for, for one scene.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScenePrompt {
    pub text: String,
    pub negative_prompt: String,
    pub style: String,
    pub camera_motion: CameraMotion,
    /// Fixes the generation for reproducibility; the same prompt and seed give the
    /// same media with the `local` provider.
    pub seed: u32,
}

impl ScenePrompt {
    pub const MAX_TEXT_CHARS: usize = 2000;
    pub const MAX_STYLE_CHARS: usize = 64;
    /// The largest seed every provider accepts (Stability's v2 limit).
    pub const MAX_SEED: u32 = 4_294_967_294;

    /// Checks each field; the error names the field that failed.
    pub fn validate(&self) -> Result<(), (&'static str, Invalid)> {
        if self.text.trim().is_empty() {
            return Err(("text", Invalid::new("may not be blank")));
        }
        check_len("text", &self.text, Self::MAX_TEXT_CHARS)?;
        check_len(
            "negative_prompt",
            &self.negative_prompt,
            Self::MAX_TEXT_CHARS,
        )?;
        check_len("style", &self.style, Self::MAX_STYLE_CHARS)?;
        if self.seed > Self::MAX_SEED {
            return Err((
                "seed",
                Invalid(format!("must be at most {}", Self::MAX_SEED)),
            ));
        }
        Ok(())
    }
}

/// Counts characters, not bytes, so that a Korean prompt gets the same allowance as
/// an English one.
pub(crate) fn check_len(
    field: &'static str,
    value: &str,
    max_chars: usize,
) -> Result<(), (&'static str, Invalid)> {
    let chars = value.chars().count();
    if chars > max_chars {
        return Err((
            field,
            Invalid(format!(
                "must be at most {max_chars} characters (got {chars})"
            )),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prompt(text: &str) -> ScenePrompt {
        ScenePrompt {
            text: text.into(),
            negative_prompt: String::new(),
            style: "cinematic".into(),
            camera_motion: CameraMotion::Static,
            seed: 7,
        }
    }

    #[test]
    fn prompt_limits_count_characters_not_bytes() {
        let korean = "고양이가 달빛 아래에서 춤춘다".repeat(120);
        assert!(korean.len() > ScenePrompt::MAX_TEXT_CHARS);
        assert!(korean.chars().count() <= ScenePrompt::MAX_TEXT_CHARS);
        assert_eq!(prompt(&korean).validate(), Ok(()));
        let too_long = "a".repeat(ScenePrompt::MAX_TEXT_CHARS + 1);
        assert_eq!(prompt(&too_long).validate().unwrap_err().0, "text");
        assert_eq!(prompt("   ").validate().unwrap_err().0, "text");
    }

    #[test]
    fn seed_and_duration_bounds() {
        let mut p = prompt("a lighthouse");
        p.seed = u32::MAX;
        assert_eq!(p.validate().unwrap_err().0, "seed");
        assert!(SceneDuration::new(0).is_err());
        assert!(SceneDuration::new(31).is_err());
        assert_eq!(SceneDuration::new(30).map(SceneDuration::seconds), Ok(30));
    }
}
