//! The generative AI providers a story may use.

use super::{Invalid, string_enum};

/// A provider of images, video, scene plans or speech. `Local` makes everything
/// offline: media with ffmpeg, plans by rule, speech with espeak-ng.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Provider {
    StabilityAi,
    RunwayMl,
    Replicate,
    Local,
    /// Any OpenAI-compatible server (OpenAI, Ollama, vLLM, LM Studio, gateways):
    /// Chat Completions plans scenes, `/audio/speech` narrates.
    OpenAi,
    ElevenLabs,
}

string_enum!(Provider {
    StabilityAi => "stability_ai",
    RunwayMl => "runway_ml",
    Replicate => "replicate",
    Local => "local",
    OpenAi => "openai",
    ElevenLabs => "elevenlabs",
});

/// What a story asks a provider for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderRole {
    Image,
    Video,
    /// Writing the scenes (prompts, narration, durations) from the synopsis.
    Plan,
    /// Speaking the narration.
    Speech,
}

string_enum!(ProviderRole {
    Image => "image",
    Video => "video",
    Plan => "plan",
    Speech => "speech",
});

impl Provider {
    /// Whether the provider can serve this role at all. Stability AI no longer serves
    /// video (its image-to-video API was discontinued in July 2025).
    pub fn serves(self, role: ProviderRole) -> bool {
        use ProviderRole::*;
        match self {
            Provider::Local => true,
            Provider::StabilityAi => role == Image,
            Provider::RunwayMl | Provider::Replicate => matches!(role, Image | Video),
            Provider::OpenAi => matches!(role, Plan | Speech),
            Provider::ElevenLabs => role == Speech,
        }
    }

    /// The providers that serve `role`.
    pub fn serving(role: ProviderRole) -> impl Iterator<Item = Provider> {
        Provider::ALL
            .iter()
            .copied()
            .filter(move |p| p.serves(role))
    }

    /// This provider, if it can serve `role`; else why not.
    pub fn for_role(self, role: ProviderRole) -> Result<Self, Invalid> {
        if self.serves(role) {
            return Ok(self);
        }
        let choose: Vec<&str> = Provider::serving(role).map(|p| p.as_str()).collect();
        let choose = choose.join(", ");
        Err(Invalid(match (self, role) {
            (Provider::StabilityAi, ProviderRole::Video) => {
                format!("{self} no longer serves video; choose {choose}")
            }
            _ => format!("{self} does not serve the {role} role; choose {choose}"),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stability_serves_images_only() {
        assert!(Provider::StabilityAi.serves(ProviderRole::Image));
        assert!(!Provider::StabilityAi.serves(ProviderRole::Video));
        for p in [Provider::RunwayMl, Provider::Replicate, Provider::Local] {
            assert!(p.serves(ProviderRole::Video), "{p}");
        }
    }

    #[test]
    fn each_role_names_its_providers() {
        let names = |role| {
            Provider::serving(role)
                .map(|p| p.as_str())
                .collect::<Vec<_>>()
        };
        assert_eq!(names(ProviderRole::Plan), ["local", "openai"]);
        assert_eq!(
            names(ProviderRole::Speech),
            ["local", "openai", "elevenlabs"]
        );
        let err = Provider::ElevenLabs
            .for_role(ProviderRole::Image)
            .unwrap_err();
        assert!(
            err.0
                .contains("choose stability_ai, runway_ml, replicate, local"),
            "{}",
            err.0
        );
    }
}
