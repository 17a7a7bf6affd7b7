//! Speech providers behind one trait: `local` (espeak-ng, offline), OpenAI-compatible
//! `/audio/speech` and ElevenLabs (`with-timestamps`, whose character timing places
//! the captions). Each writes one audio file per scene's narration.

use std::path::{Path, PathBuf};

use ai_video_shared::domain::{Language, Provider, ProviderSettings};
use rust_decimal::Decimal;
use sha2::{Digest, Sha256};

use super::{Call, LocalProvider, ProviderError};

/// A narration to speak.
#[derive(Debug, Clone, Copy)]
pub struct SpeechRequest<'a> {
    pub text: &'a str,
    pub language: Language,
    /// The provider's voice (already resolved from the story's choice), or its default.
    pub voice: Option<&'a str>,
}

/// Speech a provider made.
#[derive(Debug, Clone)]
pub struct Speech {
    /// A WAV file.
    pub path: PathBuf,
    pub seconds: f64,
    /// When each character of the text is said, if the provider reports it.
    pub alignment: Option<Vec<(f64, f64)>>,
    pub cost: Decimal,
    /// The model and voice used, the characters billed.
    pub metadata: serde_json::Value,
}

#[async_trait::async_trait]
pub trait SpeechProvider: Send + Sync {
    /// The model the settings choose (the provider's default when they name none;
    /// empty for the offline voice, which has one).
    fn model(&self, _settings: &ProviderSettings) -> String {
        String::new()
    }

    /// Speaks `req` into a file in `work` named after `name`.
    async fn speak(
        &self,
        req: &SpeechRequest<'_>,
        call: &Call<'_>,
        work: &Path,
        name: &str,
    ) -> Result<Speech, ProviderError>;
}

/// What identifies a paid speech: the same provider, model, voice, language and text
/// always make the same speech, so it is bought once and kept.
pub fn fingerprint(provider: Provider, model: &str, req: &SpeechRequest<'_>) -> String {
    let mut hash = Sha256::new();
    for part in [
        provider.as_str(),
        model,
        req.voice.unwrap_or(""),
        req.language.as_str(),
        req.text,
    ] {
        hash.update(part.as_bytes());
        hash.update([0]);
    }
    hash.finalize()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Raw 16-bit little-endian mono PCM as a WAV file's bytes.
pub fn wav(pcm: &[u8], rate: u32) -> Vec<u8> {
    let data = pcm.len() as u32;
    let mut out = Vec::with_capacity(44 + pcm.len());
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + data).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&rate.to_le_bytes());
    out.extend_from_slice(&(rate * 2).to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data.to_le_bytes());
    out.extend_from_slice(pcm);
    out
}

/// Speech from 16-bit mono PCM at `rate`: written as `{name}.wav` in `work`, and
/// costed at the settings' `character_price` for the characters billed.
pub struct Pcm<'a> {
    pub samples: &'a [u8],
    pub rate: u32,
    pub characters: u64,
    pub alignment: Option<Vec<(f64, f64)>>,
    pub metadata: serde_json::Value,
}

impl Pcm<'_> {
    pub async fn into_speech(
        self,
        provider: Provider,
        settings: &ProviderSettings,
        work: &Path,
        name: &str,
    ) -> Result<Speech, ProviderError> {
        if self.samples.len() < 2 {
            return Err(ProviderError::retryable(format!(
                "{provider} answered no speech"
            )));
        }
        let path = work.join(format!("{name}.wav"));
        tokio::fs::write(&path, wav(self.samples, self.rate))
            .await
            .map_err(|e| ProviderError::retryable(format!("cannot write the speech: {e}")))?;
        let price =
            ai_video_shared::domain::ProviderSettings::price(settings.character_price.as_deref());
        Ok(Speech {
            path,
            seconds: pcm_seconds(self.samples, self.rate),
            alignment: self.alignment,
            cost: per_million(price, self.characters),
            metadata: self.metadata,
        })
    }
}

/// Seconds of 16-bit mono PCM at `rate`.
pub fn pcm_seconds(pcm: &[u8], rate: u32) -> f64 {
    pcm.len() as f64 / 2.0 / f64::from(rate)
}

/// A price per million units times the units.
pub fn per_million(price: Decimal, units: u64) -> Decimal {
    (price * Decimal::from(units) / Decimal::from(1_000_000)).round_dp(4)
}

#[async_trait::async_trait]
impl SpeechProvider for LocalProvider {
    async fn speak(
        &self,
        req: &SpeechRequest<'_>,
        _call: &Call<'_>,
        work: &Path,
        name: &str,
    ) -> Result<Speech, ProviderError> {
        let path = work.join(format!("{name}.wav"));
        let seconds = self
            .ffmpeg()
            .speak(req.text, req.language, req.voice, &path)
            .await
            .map_err(|e| ProviderError::Permanent(format!("espeak-ng: {e}")))?;
        Ok(Speech {
            path,
            seconds,
            alignment: None,
            cost: Decimal::ZERO,
            metadata: serde_json::json!({"voice": req.voice, "language": req.language.as_str()}),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wav_header_describes_its_samples() {
        let bytes = wav(&[0u8; 48_000], 24_000);
        assert_eq!(&bytes[..4], b"RIFF");
        assert_eq!(bytes.len(), 48_044);
        assert_eq!(
            u32::from_le_bytes(bytes[40..44].try_into().unwrap()),
            48_000
        );
        assert!((pcm_seconds(&[0u8; 48_000], 24_000) - 1.0).abs() < 1e-9);
    }

    #[test]
    fn the_fingerprint_changes_with_anything_that_changes_the_speech() {
        let req = SpeechRequest {
            text: "Hello.",
            language: Language::English,
            voice: Some("alloy"),
        };
        let a = fingerprint(Provider::OpenAi, "tts-1", &req);
        assert_eq!(a.len(), 32);
        assert_eq!(a, fingerprint(Provider::OpenAi, "tts-1", &req));
        assert_ne!(a, fingerprint(Provider::OpenAi, "tts-1-hd", &req));
        let other = SpeechRequest {
            text: "Hello!",
            ..req
        };
        assert_ne!(a, fingerprint(Provider::OpenAi, "tts-1", &other));
        assert_eq!(per_million(Decimal::from(15), 1000), Decimal::new(15, 3));
    }
}
