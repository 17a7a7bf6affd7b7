//! The generative AI providers a story may use.

use super::{Invalid, string_enum};

/// A provider of images, video or both. `Local` makes real media offline with ffmpeg.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Provider {
    StabilityAi,
    RunwayMl,
    Replicate,
    Local,
}

string_enum!(Provider {
    StabilityAi => "stability_ai",
    RunwayMl => "runway_ml",
    Replicate => "replicate",
    Local => "local",
});

/// What a story asks a provider for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderRole {
    Image,
    Video,
}

impl Provider {
    /// Whether the provider can serve this role at all. Stability AI no longer serves
    /// video (its image-to-video API was discontinued in July 2025).
    pub fn serves(self, role: ProviderRole) -> bool {
        !matches!((self, role), (Provider::StabilityAi, ProviderRole::Video))
    }

    /// This provider, if it can serve `role`; else why not.
    pub fn for_role(self, role: ProviderRole) -> Result<Self, Invalid> {
        if self.serves(role) {
            return Ok(self);
        }
        Err(Invalid(match role {
            ProviderRole::Image => format!("{self} does not generate images"),
            ProviderRole::Video => {
                let video: Vec<&str> = Provider::ALL
                    .iter()
                    .filter(|p| p.serves(ProviderRole::Video))
                    .map(|p| p.as_str())
                    .collect();
                format!("{self} no longer serves video; choose {}", video.join(", "))
            }
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
}
