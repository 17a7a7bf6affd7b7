//! Narration on the video's timeline: where each scene's speech starts, how much it
//! is sped up, and the captions it yields.
//!
//! Speech is never cut. A scene's speech starts with the scene (or when the speech
//! before it ends, if that ran over) and is sped up by at most [`MAX_TEMPO`] to fit
//! its scene; speech still longer runs on into the next scene, and when the last one
//! ends after the pictures do, the last frame is held until it has been said.
//! Captions follow the speech: sentence by sentence from the provider's character
//! timing when it has one (ElevenLabs), else in shares of the scene's speech
//! proportional to each sentence's characters.

use std::path::{Path, PathBuf};

use ai_video_shared::domain::{Cue, Language, aligned_cues, cues};

use super::{Ffmpeg, MediaError};

/// The most a scene's speech is sped up to fit it.
pub const MAX_TEMPO: f64 = 1.25;

/// A scene's speech, as a provider made it.
#[derive(Debug, Clone)]
pub struct Said {
    /// Audio ffmpeg reads.
    pub file: PathBuf,
    pub seconds: f64,
    /// For each character of the narration, when it is said (seconds from the start
    /// of `file`), when the provider reports it.
    pub alignment: Option<Vec<(f64, f64)>>,
}

/// One scene on the timeline: where it starts, how long its pictures last, and what
/// is said over it.
#[derive(Debug, Clone)]
pub struct SceneVoice {
    pub start: f64,
    pub seconds: f64,
    pub narration: String,
    pub said: Option<Said>,
}

/// The speech of one scene, placed.
#[derive(Debug, Clone)]
pub struct Placed {
    pub file: PathBuf,
    pub start: f64,
    pub tempo: f64,
}

/// The speech laid on the timeline.
#[derive(Debug, Clone, Default)]
pub struct Timeline {
    pub placed: Vec<Placed>,
    pub cues: Vec<Cue>,
    /// When the last speech ends.
    pub end: f64,
}

/// Places each scene's speech and times its captions.
pub fn place(scenes: &[SceneVoice]) -> Timeline {
    let mut timeline = Timeline::default();
    for scene in scenes {
        let Some(said) = &scene.said else { continue };
        let start = scene.start.max(timeline.end);
        let room = (scene.start + scene.seconds - start).max(0.1);
        let tempo = (said.seconds / room).clamp(1.0, MAX_TEMPO);
        let spoken = said.seconds / tempo;
        timeline.cues.extend(match &said.alignment {
            Some(alignment) => aligned_cues(&scene.narration, alignment, start, tempo),
            None => cues(&scene.narration, start, spoken),
        });
        timeline.end = start + spoken;
        timeline.placed.push(Placed {
            file: said.file.clone(),
            start,
            tempo,
        });
    }
    timeline
}

impl Ffmpeg {
    /// `text` in `language`, spoken by espeak-ng (with a voice variant such as `f3`)
    /// into the WAV file `out`; answers its length in seconds.
    pub async fn speak(
        &self,
        text: &str,
        language: Language,
        variant: Option<&str>,
        out: &Path,
    ) -> Result<f64, MediaError> {
        let script = out.with_extension("txt");
        tokio::fs::write(&script, text).await?;
        let voice = match variant {
            Some(v) => format!("{language}+{v}"),
            None => language.as_str().to_string(),
        };
        let args = [
            "-v",
            &voice,
            "-s",
            "160",
            "-f",
            &script.display().to_string(),
            "-w",
            &out.display().to_string(),
        ]
        .map(String::from);
        self.run(&self.espeak, &args).await?;
        // espeak-ng can exit 0 without audio (an unwritable path, an odd option):
        // its WAV is 16-bit mono at 22 050 Hz after a 44-byte header, exact with -w.
        let bytes = tokio::fs::metadata(out).await.map(|m| m.len()).unwrap_or(0);
        if bytes <= 44 {
            return Err(MediaError::Failed {
                program: self.espeak.display().to_string(),
                stderr: format!("no speech was written to {}", out.display()),
            });
        }
        Ok((bytes - 44) as f64 / 44_100.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scene(start: f64, seconds: f64, said: Option<f64>) -> SceneVoice {
        SceneVoice {
            start,
            seconds,
            narration: "One. Two.".into(),
            said: said.map(|s| Said {
                file: "x.wav".into(),
                seconds: s,
                alignment: None,
            }),
        }
    }

    #[test]
    fn long_speech_is_sped_up_within_the_bound_then_runs_on() {
        let t = place(&[scene(0.0, 4.0, Some(4.8)), scene(4.0, 4.0, Some(6.0))]);
        assert!((t.placed[0].tempo - 1.2).abs() < 1e-9);
        assert!((t.placed[1].start - 4.0).abs() < 1e-9);
        assert!((t.placed[1].tempo - MAX_TEMPO).abs() < 1e-9);
        assert!((t.end - 8.8).abs() < 1e-9, "{}", t.end);
        assert_eq!(t.cues.len(), 4);
    }

    #[test]
    fn silent_scenes_leave_room() {
        let t = place(&[scene(0.0, 4.0, None), scene(4.0, 4.0, Some(2.0))]);
        assert_eq!(t.placed.len(), 1);
        assert!((t.cues[0].start - 4.0).abs() < 1e-9);
        assert!((t.end - 6.0).abs() < 1e-9);
    }
}
