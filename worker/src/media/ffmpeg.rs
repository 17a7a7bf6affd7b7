//! Running ffmpeg and ffprobe.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use ai_video_shared::domain::CameraMotion;
use tokio::process::Command;

/// A failed ffmpeg or ffprobe run.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    #[error("cannot run {program}: {source}")]
    Spawn {
        program: String,
        source: std::io::Error,
    },
    #[error("{program} failed: {stderr}")]
    Failed { program: String, stderr: String },
    #[error("unexpected ffprobe output: {0}")]
    Probe(String),
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    #[error("{program} ran longer than its limit of {} s and was stopped", .limit.as_secs())]
    TimedOut {
        program: String,
        limit: std::time::Duration,
    },
}

/// The longest one ffmpeg or ffprobe run may take; it is killed then.
pub const TIME_LIMIT: std::time::Duration = std::time::Duration::from_secs(15 * 60);

/// Inputs are read from local files (and pipes) only: a downloaded "video" that is
/// really a playlist naming URLs opens nothing remote.
const LOCAL_ONLY: &str = "file,pipe";

/// Where the binaries are (`FFMPEG_BIN`, `FFPROBE_BIN`).
#[derive(Debug, Clone)]
pub struct Ffmpeg {
    pub ffmpeg: PathBuf,
    pub ffprobe: PathBuf,
    /// The offline voice (`ESPEAK_BIN`, default `espeak-ng`).
    pub espeak: PathBuf,
}

impl Default for Ffmpeg {
    fn default() -> Self {
        Self {
            ffmpeg: "ffmpeg".into(),
            ffprobe: "ffprobe".into(),
            espeak: "espeak-ng".into(),
        }
    }
}

/// What ffprobe says about a clip's video stream.
#[derive(Debug, Clone, PartialEq)]
pub struct ClipInfo {
    pub codec: String,
    pub width: u32,
    pub height: u32,
    pub pix_fmt: String,
    /// Frame rate as ffprobe gives it, e.g. `24/1`.
    pub frame_rate: String,
    pub duration: f64,
}

/// ffmpeg's arguments after `options`, with every input limited to local files.
fn local_inputs(options: &[&str], args: Vec<String>) -> Vec<String> {
    let mut full: Vec<String> = ["-hide_banner", "-nostdin"]
        .iter()
        .chain(options)
        .map(|s| s.to_string())
        .collect();
    for arg in args {
        if arg == "-i" {
            full.push("-protocol_whitelist".into());
            full.push(LOCAL_ONLY.into());
        }
        full.push(arg);
    }
    full
}

impl Ffmpeg {
    pub(super) async fn run(&self, program: &Path, args: &[String]) -> Result<Vec<u8>, MediaError> {
        Ok(self.output(program, args).await?.stdout)
    }

    /// What a successful run wrote to stderr.
    async fn run_logged(&self, program: &Path, args: &[String]) -> Result<String, MediaError> {
        let output = self.output(program, args).await?;
        Ok(String::from_utf8_lossy(&output.stderr).into_owned())
    }

    async fn output(
        &self,
        program: &Path,
        args: &[String],
    ) -> Result<std::process::Output, MediaError> {
        let running = Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .output();
        let output = tokio::time::timeout(TIME_LIMIT, running)
            .await
            .map_err(|_| MediaError::TimedOut {
                program: program.display().to_string(),
                limit: TIME_LIMIT,
            })?
            .map_err(|source| MediaError::Spawn {
                program: program.display().to_string(),
                source,
            })?;
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            let tail: Vec<&str> = stderr.lines().rev().take(4).collect();
            return Err(MediaError::Failed {
                program: program.display().to_string(),
                stderr: tail.into_iter().rev().collect::<Vec<_>>().join(" | "),
            });
        }
        Ok(output)
    }

    /// Runs ffmpeg at the `info` log level and answers what it logged (filters such as
    /// `loudnorm` print their measurements there).
    pub(crate) async fn ffmpeg_log(&self, args: Vec<String>) -> Result<String, MediaError> {
        let full = local_inputs(&["-nostats", "-loglevel", "info"], args);
        self.run_logged(&self.ffmpeg, &full).await
    }

    /// Runs ffmpeg with these arguments (inputs restricted to local files).
    pub async fn run_ffmpeg(&self, args: &[&str]) -> Result<(), MediaError> {
        self.ffmpeg(args.iter().map(|a| a.to_string()).collect())
            .await
    }

    pub(crate) async fn ffmpeg(&self, args: Vec<String>) -> Result<(), MediaError> {
        let full = local_inputs(&["-loglevel", "error", "-y"], args);
        self.run(&self.ffmpeg, &full).await.map(|_| ())
    }

    /// A still image of `width`×`height`: a gradient whose colours come from the
    /// prompt and whose shape comes from the seed, so the same prompt and seed give
    /// the same picture.
    pub async fn keyframe(
        &self,
        out: &Path,
        colours: [u32; 3],
        seed: u32,
        width: u32,
        height: u32,
    ) -> Result<(), MediaError> {
        let [c0, c1, c2] = colours.map(|c| format!("0x{:06x}", c & 0xff_ffff));
        let source = format!(
            "gradients=s={width}x{height}:c0={c0}:c1={c1}:c2={c2}:nb_colors=3:seed={seed}:speed=0.00001"
        );
        self.ffmpeg(vec![
            "-f".into(),
            "lavfi".into(),
            "-i".into(),
            source,
            "-frames:v".into(),
            "1".into(),
            "-bitexact".into(),
            out.display().to_string(),
        ])
        .await
    }

    /// A clip of exactly `seconds` at `fps` from a still image, with the camera
    /// moving as asked; H.264, yuv420p, `+faststart`.
    pub async fn clip_from_image(
        &self,
        image: &Path,
        out: &Path,
        seconds: u32,
        motion: CameraMotion,
        (width, height): (u32, u32),
        fps: u32,
    ) -> Result<(), MediaError> {
        let frames = (seconds * fps).max(1);
        let progress = format!("(on/{frames})");
        let centre = (
            "iw/2-(iw/zoom/2)".to_string(),
            "ih/2-(ih/zoom/2)".to_string(),
        );
        let (zoom, x, y) = match motion {
            CameraMotion::Static => ("1".to_string(), "0".to_string(), "0".to_string()),
            CameraMotion::ZoomIn => (format!("1+0.2*{progress}"), centre.0, centre.1),
            CameraMotion::ZoomOut => (format!("1.2-0.2*{progress}"), centre.0, centre.1),
            CameraMotion::PanRight => ("1.2".into(), format!("(iw-iw/zoom)*{progress}"), centre.1),
            CameraMotion::PanLeft => (
                "1.2".into(),
                format!("(iw-iw/zoom)*(1-{progress})"),
                centre.1,
            ),
            CameraMotion::TiltDown => ("1.2".into(), centre.0, format!("(ih-ih/zoom)*{progress}")),
            CameraMotion::TiltUp => (
                "1.2".into(),
                centre.0,
                format!("(ih-ih/zoom)*(1-{progress})"),
            ),
        };
        let filter = format!(
            "scale={width}:{height}:force_original_aspect_ratio=increase,crop={width}:{height},\
             zoompan=z='{zoom}':x='{x}':y='{y}':d=1:s={width}x{height}:fps={fps},format=yuv420p,setsar=1"
        );
        self.ffmpeg(vec![
            "-loop".into(),
            "1".into(),
            "-framerate".into(),
            fps.to_string(),
            "-i".into(),
            image.display().to_string(),
            "-vf".into(),
            filter,
            "-frames:v".into(),
            frames.to_string(),
            "-r".into(),
            fps.to_string(),
            "-c:v".into(),
            "libx264".into(),
            "-preset".into(),
            "veryfast".into(),
            "-crf".into(),
            "23".into(),
            "-pix_fmt".into(),
            "yuv420p".into(),
            "-movflags".into(),
            "+faststart".into(),
            out.display().to_string(),
        ])
        .await
    }

    /// The first video stream of a file.
    /// ffprobe's JSON of the first stream `select` picks (`v:0`, `a:0`) and `entries`.
    async fn probe_json(
        &self,
        path: &Path,
        select: &str,
        entries: &str,
    ) -> Result<serde_json::Value, MediaError> {
        let args: Vec<String> = [
            "-v",
            "error",
            "-protocol_whitelist",
            LOCAL_ONLY,
            "-select_streams",
            select,
            "-show_entries",
            entries,
            "-of",
            "json",
        ]
        .iter()
        .map(|s| s.to_string())
        .chain([path.display().to_string()])
        .collect();
        let out = self.run(&self.ffprobe, &args).await?;
        serde_json::from_slice(&out).map_err(|e| MediaError::Probe(e.to_string()))
    }

    pub async fn probe(&self, path: &Path) -> Result<ClipInfo, MediaError> {
        let v = self
            .probe_json(
                path,
                "v:0",
                "stream=codec_name,width,height,pix_fmt,r_frame_rate:format=duration",
            )
            .await?;
        let stream = &v["streams"][0];
        let text = |k: &str| stream[k].as_str().unwrap_or_default().to_string();
        Ok(ClipInfo {
            codec: text("codec_name"),
            width: stream["width"].as_u64().unwrap_or_default() as u32,
            height: stream["height"].as_u64().unwrap_or_default() as u32,
            pix_fmt: text("pix_fmt"),
            frame_rate: text("r_frame_rate"),
            duration: v["format"]["duration"]
                .as_str()
                .and_then(|d| d.parse().ok())
                .unwrap_or(0.0),
        })
    }

    /// The length of a file's audio, if it has an audio stream.
    pub async fn probe_audio(&self, path: &Path) -> Result<f64, MediaError> {
        let v = self
            .probe_json(path, "a:0", "stream=codec_name:format=duration")
            .await?;
        if v["streams"][0]["codec_name"].as_str().is_none() {
            return Err(MediaError::Probe("no audio stream".into()));
        }
        Ok(v["format"]["duration"]
            .as_str()
            .and_then(|d| d.parse().ok())
            .unwrap_or(0.0))
    }

    /// Whether a file is media of the kind asked for: a still image in a common
    /// format, or a video with a real duration. `Err` says what it is instead.
    pub async fn check_media(&self, path: &Path, video: bool) -> Result<ClipInfo, String> {
        const IMAGES: &[&str] = &["png", "mjpeg", "jpeg2000", "webp", "bmp", "tiff", "gif"];
        const VIDEOS: &[&str] = &["h264", "hevc", "vp8", "vp9", "av1", "mpeg4", "prores"];
        let info = self.probe(path).await.map_err(|e| match e {
            MediaError::Failed { stderr, .. } => format!("ffprobe cannot read it ({stderr})"),
            other => other.to_string(),
        })?;
        let known = if video { VIDEOS } else { IMAGES };
        if info.codec.is_empty() {
            return Err("it has no picture in it".into());
        }
        if !known.contains(&info.codec.as_str()) || info.width == 0 || info.height == 0 {
            return Err(format!(
                "it is {} at {}x{}, not {}",
                info.codec,
                info.width,
                info.height,
                if video { "a video" } else { "an image" }
            ));
        }
        if video && info.duration <= 0.0 {
            return Err("the video has no duration".into());
        }
        Ok(info)
    }
}

impl Ffmpeg {
    /// Re-encodes a clip to exactly `seconds` at the target frame and rate: scaled and
    /// padded to fit, the last frame held if the clip is short, cut if it is long.
    /// Provider clips come in their own sizes and lengths; the story's do not.
    pub async fn conform(
        &self,
        input: &Path,
        out: &Path,
        seconds: u32,
        (width, height): (u32, u32),
        fps: u32,
    ) -> Result<(), MediaError> {
        let filter = format!(
            "scale={width}:{height}:force_original_aspect_ratio=decrease,pad={width}:{height}:(ow-iw)/2:(oh-ih)/2,\
             setsar=1,fps={fps},tpad=stop_mode=clone:stop_duration={seconds},format=yuv420p"
        );
        self.ffmpeg(vec![
            "-i".into(),
            input.display().to_string(),
            "-vf".into(),
            filter,
            "-t".into(),
            seconds.to_string(),
            "-an".into(),
            "-c:v".into(),
            "libx264".into(),
            "-preset".into(),
            "veryfast".into(),
            "-crf".into(),
            "21".into(),
            "-movflags".into(),
            "+faststart".into(),
            out.display().to_string(),
        ])
        .await
    }
}
