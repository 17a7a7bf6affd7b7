//! The one pass that makes a preview or a final: the scene clips joined (cut,
//! crossfade or fade through black), the captions burned by libass, the last frame
//! held while the narration finishes, and the soundtrack (narration, ducked music,
//! normalized) encoded beside it, in a single ffmpeg run (H.264 + AAC 48 kHz,
//! `+faststart`). Only the loudness measurement runs before it, on the audio alone.
//!
//! When the clips already have the target codec, size, frame rate and pixel format
//! and scenes cut into each other, the clips are read through the concat demuxer;
//! with nothing burned or held the pictures are then copied, not encoded.

use std::path::{Path, PathBuf};

use ai_video_shared::domain::{CaptionOptions, Cue, TransitionKind, ass};

use super::narration::{SceneVoice, place};
use super::render::{H264, Target, concat_list, matches};
use super::soundtrack::{SAMPLE_RATE, Soundtrack};
use super::{ClipInfo, Ffmpeg, MediaError};

/// What goes into a film besides its clips.
#[derive(Debug, Clone)]
pub struct Cut<'a> {
    pub target: Target,
    pub transition: (TransitionKind, f64),
    /// The scenes' speech, in order, on the pictures' timeline.
    pub voices: &'a [SceneVoice],
    /// Burn the captions with these options.
    pub burn: Option<CaptionOptions>,
    /// The music bed, if any.
    pub music: Option<&'a Path>,
}

/// What [`render_film`] made.
#[derive(Debug, Clone)]
pub struct Film {
    pub cues: Vec<Cue>,
    /// How long the film lasts, held frames included.
    pub duration: f64,
    /// Whether the last frame was held for the speech to end.
    pub held: bool,
    /// Whether captions were burned into the pictures.
    pub burned: bool,
    /// Whether the clips' pictures were copied as they were.
    pub copied: bool,
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

/// The video inputs and the graph that makes `[joined]` from them.
async fn join_graph(
    clips: &[PathBuf],
    infos: &[ClipInfo],
    cut: &Cut<'_>,
    work: &Path,
) -> Result<(Vec<String>, Option<String>), MediaError> {
    let Target {
        width: w,
        height: h,
        fps,
    } = cut.target;
    let (kind, seconds) = cut.transition;
    let xfade = match kind {
        _ if clips.len() < 2 => None,
        TransitionKind::Cut => None,
        TransitionKind::Crossfade => Some("fade"),
        TransitionKind::FadeBlack => Some("fadeblack"),
    };
    if xfade.is_none() && infos.iter().all(|i| matches(i, cut.target)) {
        let list = concat_list(clips, work).await?;
        let inputs = ["-f", "concat", "-safe", "0", "-i"]
            .into_iter()
            .map(String::from)
            .chain([list.display().to_string()])
            .collect();
        return Ok((inputs, None));
    }
    let mut inputs = Vec::new();
    let mut graph = String::new();
    let last = clips.len().saturating_sub(1);
    for (i, clip) in clips.iter().enumerate() {
        inputs.extend(["-i".to_string(), clip.display().to_string()]);
        let hold = match xfade {
            Some(_) if i < last => format!(",tpad=stop_mode=clone:stop_duration={seconds:.3}"),
            _ => String::new(),
        };
        graph.push_str(&format!(
            "[{i}:v]scale={w}:{h}:force_original_aspect_ratio=decrease,pad={w}:{h}:(ow-iw)/2:(oh-ih)/2,\
             setsar=1,fps={fps},format=yuv420p,settb=AVTB{hold}[v{i}];"
        ));
    }
    match xfade {
        None => {
            for i in 0..clips.len() {
                graph.push_str(&format!("[v{i}]"));
            }
            graph.push_str(&format!("concat=n={}:v=1:a=0[joined]", clips.len()));
        }
        Some(xfade) => {
            let mut previous = "v0".to_string();
            let mut offset = 0.0;
            for i in 1..clips.len() {
                offset += infos[i - 1].duration;
                let next = if i == last {
                    "joined".to_string()
                } else {
                    format!("x{i}")
                };
                graph.push_str(&format!(
                    "[{previous}][v{i}]xfade=transition={xfade}:duration={seconds:.3}:offset={offset:.3}[{next}];"
                ));
                previous = next;
            }
            graph.pop();
        }
    }
    Ok((inputs, Some(graph)))
}

/// Renders `clips` with everything in `cut` into `out` in one encoding pass;
/// `work` holds the temporary files.
pub async fn render_film(
    ffmpeg: &Ffmpeg,
    clips: &[PathBuf],
    cut: &Cut<'_>,
    out: &Path,
    work: &Path,
) -> Result<Film, MediaError> {
    let infos: Vec<ClipInfo> =
        futures::future::try_join_all(clips.iter().map(|c| ffmpeg.probe(c))).await?;
    let pictures: f64 = infos.iter().map(|i| i.duration).sum();
    let timeline = place(cut.voices);
    let duration = pictures.max(timeline.end);
    let hold = duration - pictures;
    let held = hold > 0.05;
    let sound = Soundtrack {
        placed: &timeline.placed,
        music: cut.music,
        duration,
    };
    let measured = sound.measure(ffmpeg).await?;

    let (mut args, joined) = join_graph(clips, &infos, cut, work).await?;
    let video_inputs = if joined.is_some() { clips.len() } else { 1 };
    let mut chain = Vec::new();
    let burn = cut.burn.filter(|_| !timeline.cues.is_empty());
    if let Some(options) = burn {
        let script = work.join("captions.ass");
        let (w, h) = (cut.target.width, cut.target.height);
        tokio::fs::write(&script, ass(&timeline.cues, w, h, options)).await?;
        chain.push(format!("ass=filename={}", filter_path(&script)));
    }
    if held {
        chain.push(format!("tpad=stop_mode=clone:stop_duration={hold:.3}"));
    }
    let mut graph = Vec::new();
    let video = match (joined, chain.is_empty()) {
        (None, true) => None,
        (None, false) => Some(format!("[0:v]{}[vout]", chain.join(","))),
        (Some(g), true) => Some(g.replace("[joined]", "[vout]")),
        (Some(g), false) => Some(format!("{g};[joined]{}[vout]", chain.join(","))),
    };
    let copied = video.is_none();
    graph.extend(video);
    args.extend(sound.inputs());
    graph.push(sound.final_graph(video_inputs, measured.as_deref()));
    args.extend(["-filter_complex".to_string(), graph.join(";")]);
    args.extend([
        "-map".to_string(),
        if copied { "0:v:0" } else { "[vout]" }.to_string(),
    ]);
    args.extend(["-map", "[aout]"].map(String::from));
    if copied {
        args.extend(["-c:v", "copy"].map(String::from));
    } else {
        args.extend(H264.map(String::from));
    }
    // ffmpeg's fast AAC coder: half the time of its default at this bitrate.
    args.extend(
        [
            "-c:a",
            "aac",
            "-aac_coder",
            "fast",
            "-b:a",
            "160k",
            "-ar",
            SAMPLE_RATE,
            "-movflags",
            "+faststart",
        ]
        .map(String::from),
    );
    args.push(out.display().to_string());
    ffmpeg.ffmpeg(args).await?;
    Ok(Film {
        cues: timeline.cues,
        duration,
        held,
        burned: burn.is_some(),
        copied,
    })
}
