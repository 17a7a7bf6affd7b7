//! The film's sound: the placed speech mixed into one voice, the music bed looped or
//! trimmed to the video's length and ducked under the voice (`sidechaincompress`
//! keyed by the voice), the two mixed and brought to the target loudness by two
//! `loudnorm` passes: the first, audio only, measures; the second, inside the pass
//! that encodes the video, applies one linear gain to the measured values.

use std::path::Path;

use super::narration::Placed;
use super::{Ffmpeg, MediaError};

/// Audio of every output: AAC, 48 kHz, stereo.
pub const SAMPLE_RATE: &str = "48000";
/// The integrated loudness the sound is brought to (EBU R128, LUFS), and its
/// true-peak ceiling (dBTP).
pub const LOUDNESS_LUFS: f64 = -16.0;
pub const TRUE_PEAK_DBTP: f64 = -1.5;
/// Where the music bed sits before ducking (LUFS), well under the voice.
pub const MUSIC_LUFS: f64 = -30.0;
/// The loudness range `loudnorm` keeps (LU).
const LRA: f64 = 11.0;
/// The music is ducked by `sidechaincompress` with these options: it starts when the
/// voice passes the threshold and comes back half a second after it stops.
const DUCKING: &str = "threshold=0.015:ratio=12:attack=15:release=500:knee=2";

/// The sound of a film of `duration` seconds.
#[derive(Debug, Clone, Copy)]
pub struct Soundtrack<'a> {
    pub placed: &'a [Placed],
    pub music: Option<&'a Path>,
    pub duration: f64,
}

/// A voice alone is mixed and normalized in mono and played on both channels: the
/// same signal on two channels measures 3.01 LU louder (EBU R128 sums the channels'
/// power), so the mono target is that much lower, and the true peak is the mono one.
const DUAL_MONO_LU: f64 = 3.01;

impl Soundtrack<'_> {
    /// The loudness target of the mix before it reaches its output channels.
    fn target(&self) -> f64 {
        if self.music.is_some() {
            LOUDNESS_LUFS
        } else {
            LOUDNESS_LUFS - DUAL_MONO_LU
        }
    }

    /// Whether there is anything to hear.
    pub fn audible(&self) -> bool {
        !self.placed.is_empty() || self.music.is_some()
    }

    /// The inputs, in order: each speech file, then the music looped forever.
    pub fn inputs(&self) -> Vec<String> {
        let mut args = Vec::new();
        for p in self.placed {
            args.extend(["-i".to_string(), p.file.display().to_string()]);
        }
        if let Some(music) = self.music {
            args.extend(["-stream_loop", "-1", "-i"].map(String::from));
            args.push(music.display().to_string());
        }
        args
    }

    /// The filter graph reading the inputs from index `first` and ending in `[mix]`,
    /// before loudness normalization.
    fn graph(&self, first: usize) -> String {
        let d = self.duration;
        // A voice alone is mono (played on both channels); music keeps its stereo.
        let channels = if self.music.is_some() {
            "stereo"
        } else {
            "mono"
        };
        let layout =
            format!("aresample={SAMPLE_RATE},aformat=sample_fmts=fltp:channel_layouts={channels}");
        let mut graph = String::new();
        for (k, p) in self.placed.iter().enumerate() {
            let delay = (p.start * 1000.0).round() as u64;
            graph.push_str(&format!(
                "[{i}:a]{layout},atempo={:.4},adelay={delay}:all=1[s{k}];",
                p.tempo,
                i = first + k
            ));
        }
        let voice = !self.placed.is_empty();
        if voice {
            for k in 0..self.placed.len() {
                graph.push_str(&format!("[s{k}]"));
            }
            graph.push_str(&format!(
                "amix=inputs={}:normalize=0:duration=longest,apad=whole_dur={d:.3},atrim=0:{d:.3}[voice];",
                self.placed.len()
            ));
        }
        match (voice, self.music.is_some()) {
            (true, true) => {
                let m = first + self.placed.len();
                graph.push_str(&format!(
                    "[{m}:a]{layout},atrim=0:{d:.3},loudnorm=I={MUSIC_LUFS}:TP=-6:LRA={LRA},\
                     {layout}[bed];[voice]asplit=2[key][said];\
                     [bed][key]sidechaincompress={DUCKING}[ducked];\
                     [said][ducked]amix=inputs=2:normalize=0:duration=first[mix]"
                ));
            }
            (false, true) => {
                let m = first;
                graph.push_str(&format!("[{m}:a]{layout},atrim=0:{d:.3}[mix]"));
            }
            _ => graph.push_str("[voice]anull[mix]"),
        }
        graph
    }

    /// The graph that makes `[aout]` from the inputs at `first`, normalized with the
    /// first pass's `measured` values; silence when there is nothing to hear.
    pub fn final_graph(&self, first: usize, measured: Option<&str>) -> String {
        let d = self.duration;
        match measured {
            Some(measured) if self.audible() => format!(
                "{};[mix]loudnorm=I={target}:TP={TRUE_PEAK_DBTP}:LRA={LRA}:{measured}:linear=true,\
                 aresample={SAMPLE_RATE}{both},apad=whole_dur={d:.3},atrim=0:{d:.3}[aout]",
                self.graph(first),
                target = self.target(),
                both = if self.music.is_some() {
                    ""
                } else {
                    ",pan=stereo|c0=c0|c1=c0"
                },
            ),
            _ => format!("anullsrc=r={SAMPLE_RATE}:cl=stereo,atrim=0:{d:.3}[aout]"),
        }
    }

    /// The first `loudnorm` pass over the mix: what it measured, as the options of
    /// the second pass (`None` when there is nothing to hear).
    pub async fn measure(&self, ffmpeg: &Ffmpeg) -> Result<Option<String>, MediaError> {
        if !self.audible() {
            return Ok(None);
        }
        let mut args = self.inputs();
        args.extend([
            "-filter_complex".to_string(),
            format!(
                "{};[mix]loudnorm=I={}:TP={TRUE_PEAK_DBTP}:LRA={LRA}:print_format=json[m]",
                self.graph(0),
                self.target()
            ),
        ]);
        args.extend(["-map", "[m]", "-f", "null", "-"].map(String::from));
        let log = ffmpeg.ffmpeg_log(args).await?;
        parse_measurement(&log).map(Some)
    }
}

/// The second pass's options from the first pass's JSON in `log`.
fn parse_measurement(log: &str) -> Result<String, MediaError> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_measurement_becomes_second_pass_options() {
        let log = "[Parsed_loudnorm_0 @ 0x1]\n{\n\"input_i\" : \"-23.40\",\n\"input_tp\" : \"-5.1\",\n\
                   \"input_lra\" : \"3.2\",\n\"input_thresh\" : \"-33.9\",\n\"target_offset\" : \"0.3\"\n}\n";
        assert_eq!(
            parse_measurement(log).unwrap(),
            "measured_I=-23.4:measured_TP=-5.1:measured_LRA=3.2:measured_thresh=-33.9:offset=0.3"
        );
        let silent = log.replace("-23.40", "-inf");
        assert!(parse_measurement(&silent).is_err());
    }

    #[test]
    fn music_alone_is_not_ducked_and_silence_needs_no_pass() {
        let music = Path::new("bed.mp3");
        let track = Soundtrack {
            placed: &[],
            music: Some(music),
            duration: 5.0,
        };
        let graph = track.final_graph(3, Some("measured_I=-20"));
        assert!(graph.starts_with("[3:a]"), "{graph}");
        assert!(!graph.contains("sidechaincompress"));
        let quiet = Soundtrack {
            placed: &[],
            music: None,
            duration: 5.0,
        };
        assert!(quiet.final_graph(0, None).starts_with("anullsrc"));
    }
}
