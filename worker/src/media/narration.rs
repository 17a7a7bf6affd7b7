//! Narration: the offline voice (espeak-ng) speaks each scene's text, the speech is
//! laid on the video's timeline, and the track is muxed into the joined video.
//!
//! Speech is never cut. A scene's speech starts with the scene (or when the speech
//! before it ends, if that ran over) and is sped up by at most [`MAX_TEMPO`] to fit
//! its scene; speech still longer runs on into the next scene, and when the last one
//! ends after the pictures do, the last frame is held until it has been said.
//! Captions to burn are rendered by libass in the same pass. The video stream is
//! copied when nothing has to be held or burned.

use std::path::{Path, PathBuf};

use ai_video_shared::domain::{CaptionOptions, Cue, Language, ass, cues};

use super::render::H264;
use super::{Ffmpeg, MediaError};

/// The most a scene's speech is sped up to fit it.
pub const MAX_TEMPO: f64 = 1.25;
/// Audio of every output: AAC, 48 kHz.
const SAMPLE_RATE: &str = "48000";
/// The integrated loudness the narration is brought to (EBU R128, LUFS), and its
/// true-peak ceiling (dBTP).
pub const LOUDNESS_LUFS: f64 = -16.0;
pub const TRUE_PEAK_DBTP: f64 = -1.5;

/// One scene on the timeline: where it starts, how long its pictures last, and what
/// is said over it.
#[derive(Debug, Clone)]
pub struct SceneVoice {
    pub start: f64,
    pub seconds: f64,
    pub narration: String,
}

/// The speech of one scene, placed.
#[derive(Debug, Clone)]
struct Placed {
    file: PathBuf,
    start: f64,
    tempo: f64,
}

/// How to finish a joined video.
#[derive(Debug, Clone, Copy)]
pub struct Finish {
    pub language: Language,
    /// Speak the scenes' narration (otherwise the track is silent and there are no
    /// captions).
    pub speak: bool,
    /// Burn the captions into a `width`×`height` video.
    pub burn: Option<CaptionOptions>,
    pub width: u32,
    pub height: u32,
}

/// A path as an ffmpeg filter option value reads it.
fn filter_path(path: &Path) -> String {
    let mut out = String::new();
    for c in path.display().to_string().chars() {
        if matches!(c, '\\' | ':' | '\'' | ',' | ';' | '[' | ']') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// What [`narrate`] made: the captions and how long the result lasts.
#[derive(Debug, Clone)]
pub struct Narrated {
    pub cues: Vec<Cue>,
    pub duration: f64,
    /// Whether the last frame was held for the speech to end.
    pub held: bool,
    /// Whether captions were burned into the pictures.
    pub burned: bool,
    /// Whether the joined pictures were copied as they were (nothing burned or held).
    pub copied: bool,
}

impl Ffmpeg {
    /// `text` in `language`, spoken by espeak-ng into the WAV file `out`.
    pub async fn speak(
        &self,
        text: &str,
        language: Language,
        out: &Path,
    ) -> Result<f64, MediaError> {
        let script = out.with_extension("txt");
        tokio::fs::write(&script, text).await?;
        let args = [
            "-v",
            language.as_str(),
            "-s",
            "160",
            "-f",
            &script.display().to_string(),
            "-w",
            &out.display().to_string(),
        ]
        .map(String::from);
        self.run(&self.espeak, &args).await?;
        Ok(self.probe(out).await?.duration)
    }
}

/// Speaks every scene's narration, as many at once as there are cores; answers the
/// length of each speech, in order.
async fn speak_all(
    ffmpeg: &Ffmpeg,
    said: &[(&SceneVoice, PathBuf)],
    language: Language,
) -> Result<Vec<f64>, MediaError> {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let mut lengths = Vec::with_capacity(said.len());
    for batch in said.chunks(cores) {
        let mut running = tokio::task::JoinSet::new();
        for (k, (scene, file)) in batch.iter().enumerate() {
            let (ffmpeg, text, file) = (ffmpeg.clone(), scene.narration.clone(), file.clone());
            running.spawn(async move { (k, ffmpeg.speak(&text, language, &file).await) });
        }
        let mut got = vec![0.0; batch.len()];
        while let Some(done) = running.join_next().await {
            let (k, length) = done.map_err(|e| MediaError::Failed {
                program: ffmpeg.espeak.display().to_string(),
                stderr: e.to_string(),
            })?;
            got[k] = length?;
        }
        lengths.extend(got);
    }
    Ok(lengths)
}

/// The loudness range `loudnorm` keeps (LU).
const LRA: f64 = 11.0;

/// The placed speech, mixed into one WAV track of `duration` seconds.
async fn mix(
    ffmpeg: &Ffmpeg,
    placed: &[Placed],
    duration: f64,
    out: &Path,
) -> Result<(), MediaError> {
    let mut args = Vec::new();
    let mut filter = String::new();
    for (k, p) in placed.iter().enumerate() {
        args.extend(["-i".to_string(), p.file.display().to_string()]);
        let delay = (p.start * 1000.0).round() as u64;
        filter.push_str(&format!(
            "[{k}:a]aresample={SAMPLE_RATE},aformat=channel_layouts=mono,atempo={:.4},\
             adelay={delay}:all=1[s{k}];",
            p.tempo
        ));
    }
    for k in 0..placed.len() {
        filter.push_str(&format!("[s{k}]"));
    }
    filter.push_str(&format!(
        "amix=inputs={}:normalize=0:duration=longest,apad=whole_dur={duration:.3},\
         atrim=0:{duration:.3}[mix]",
        placed.len()
    ));
    args.extend(["-filter_complex".to_string(), filter]);
    args.extend(["-map", "[mix]", "-ar", SAMPLE_RATE].map(String::from));
    args.push(out.display().to_string());
    ffmpeg.ffmpeg(args).await
}

/// The first pass of `loudnorm` over `track`: what it measured, as the options of
/// the second pass, which then applies one linear gain (the speech keeps its
/// dynamics and lands on the target).
async fn measure(ffmpeg: &Ffmpeg, track: &Path) -> Result<String, MediaError> {
    let log = ffmpeg
        .ffmpeg_log(vec![
            "-i".into(),
            track.display().to_string(),
            "-af".into(),
            format!("loudnorm=I={LOUDNESS_LUFS}:TP={TRUE_PEAK_DBTP}:LRA={LRA}:print_format=json"),
            "-f".into(),
            "null".into(),
            "-".into(),
        ])
        .await?;
    let json = log
        .rfind('{')
        .and_then(|start| log[start..].find('}').map(|end| &log[start..=start + end]))
        .ok_or_else(|| MediaError::Probe("loudnorm printed no measurement".into()))?;
    let m: serde_json::Value =
        serde_json::from_str(json).map_err(|e| MediaError::Probe(format!("loudnorm: {e}")))?;
    let field = |k: &str| -> Result<String, MediaError> {
        let v = m[k].as_str().unwrap_or_default();
        // Silence measures as -inf; any finite number is accepted.
        match v.parse::<f64>() {
            Ok(n) if n.is_finite() => Ok(format!("{n}")),
            _ => Err(MediaError::Probe(format!("loudnorm measured {k} = {v:?}"))),
        }
    };
    Ok(format!(
        "measured_I={}:measured_TP={}:measured_LRA={}:measured_thresh={}:offset={}",
        field("input_i")?,
        field("input_tp")?,
        field("input_lra")?,
        field("input_thresh")?,
        field("target_offset")?
    ))
}

/// Speaks each scene's narration and muxes the track into `video` (lasting
/// `video_seconds`), writing `out`; `work` holds the speech files.
pub async fn narrate(
    ffmpeg: &Ffmpeg,
    video: &Path,
    video_seconds: f64,
    scenes: &[SceneVoice],
    finish: Finish,
    out: &Path,
    work: &Path,
) -> Result<Narrated, MediaError> {
    let said: Vec<(&SceneVoice, PathBuf)> = scenes
        .iter()
        .enumerate()
        .filter(|(_, s)| finish.speak && !s.narration.trim().is_empty())
        .map(|(i, s)| (s, work.join(format!("speech-{i:04}.wav"))))
        .collect();
    let lengths = speak_all(ffmpeg, &said, finish.language).await?;
    let mut placed = Vec::new();
    let mut cues_all = Vec::new();
    let mut free_from = 0.0_f64;
    for ((scene, file), raw) in said.into_iter().zip(lengths) {
        let file = file.clone();
        let start = scene.start.max(free_from);
        let room = (scene.start + scene.seconds - start).max(0.1);
        let tempo = (raw / room).clamp(1.0, MAX_TEMPO);
        let spoken = raw / tempo;
        cues_all.extend(cues(&scene.narration, start, spoken));
        free_from = start + spoken;
        placed.push(Placed { file, start, tempo });
    }
    let duration = video_seconds.max(free_from);
    let hold = duration - video_seconds;
    let held = hold > 0.05;
    let mut args = vec!["-i".to_string(), video.display().to_string()];
    let mut filter = if placed.is_empty() {
        format!("anullsrc=r={SAMPLE_RATE}:cl=mono,atrim=0:{duration:.3}[aout]")
    } else {
        let voice = work.join("narration.wav");
        mix(ffmpeg, &placed, duration, &voice).await?;
        let measured = measure(ffmpeg, &voice).await?;
        args.extend(["-i".to_string(), voice.display().to_string()]);
        format!(
            "[1:a]loudnorm=I={LOUDNESS_LUFS}:TP={TRUE_PEAK_DBTP}:LRA={LRA}:{measured}:linear=true,\
             aresample={SAMPLE_RATE},aformat=channel_layouts=mono,apad=whole_dur={duration:.3},\
             atrim=0:{duration:.3}[aout]"
        )
    };
    let mut video_chain = Vec::new();
    let burn = finish.burn.filter(|_| !cues_all.is_empty());
    if let Some(options) = burn {
        let script = work.join("captions.ass");
        tokio::fs::write(
            &script,
            ass(&cues_all, finish.width, finish.height, options),
        )
        .await?;
        video_chain.push(format!("ass=filename={}", filter_path(&script)));
    }
    if held {
        video_chain.push(format!("tpad=stop_mode=clone:stop_duration={hold:.3}"));
    }
    let encode = !video_chain.is_empty();
    let video_map = if encode {
        filter.push_str(&format!(";[0:v]{}[vout]", video_chain.join(",")));
        "[vout]"
    } else {
        "0:v:0"
    };
    args.extend(["-filter_complex".to_string(), filter]);
    args.extend(["-map", video_map, "-map", "[aout]"].map(String::from));
    if encode {
        args.extend(H264.map(String::from));
    } else {
        args.extend(["-c:v", "copy"].map(String::from));
    }
    args.extend(
        [
            "-c:a",
            "aac",
            "-b:a",
            "128k",
            "-ar",
            SAMPLE_RATE,
            "-movflags",
            "+faststart",
        ]
        .map(String::from),
    );
    args.push(out.display().to_string());
    ffmpeg.ffmpeg(args).await?;
    Ok(Narrated {
        cues: cues_all,
        duration,
        held,
        burned: burn.is_some(),
        copied: !encode,
    })
}
