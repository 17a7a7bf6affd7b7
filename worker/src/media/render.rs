//! Joining scene clips into one video.
//!
//! When every clip already has the target codec, size, frame rate and pixel format,
//! the clips are joined without re-encoding (ffmpeg's concat demuxer, `-c copy`),
//! which takes a fraction of the video's length. Otherwise each clip is scaled and
//! padded to the target frame and the whole is encoded once as H.264. Either way the
//! output is MP4 with `+faststart`, so a browser can play it while it downloads.

use std::path::{Path, PathBuf};

use super::{ClipInfo, Ffmpeg, MediaError};

/// How every re-encoded video is encoded: H.264, 4:2:0, CRF 21.
pub(super) const H264: [&str; 8] = [
    "-c:v", "libx264", "-preset", "veryfast", "-crf", "21", "-pix_fmt", "yuv420p",
];

/// The frame every output must have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target {
    pub width: u32,
    pub height: u32,
    pub fps: u32,
}

/// How a join was done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoinMode {
    /// Streams copied as they were.
    Copy,
    /// Scaled, padded and encoded once.
    Reencode,
}

impl JoinMode {
    pub fn as_str(self) -> &'static str {
        match self {
            JoinMode::Copy => "copy",
            JoinMode::Reencode => "reencode",
        }
    }
}

/// Whether a clip can be joined to others of the target without re-encoding.
pub(super) fn matches(info: &ClipInfo, target: Target) -> bool {
    info.codec == "h264"
        && info.width == target.width
        && info.height == target.height
        && info.pix_fmt == "yuv420p"
        && info.frame_rate == format!("{}/1", target.fps)
}

/// The `concat` demuxer's list of `clips`, written in `work`.
pub(super) async fn concat_list(clips: &[PathBuf], work: &Path) -> Result<PathBuf, MediaError> {
    let list = work.join("concat.txt");
    let body: String = clips
        .iter()
        .map(|c| {
            format!(
                "file '{}'\n",
                c.display().to_string().replace('\'', "'\\''")
            )
        })
        .collect();
    tokio::fs::write(&list, body).await?;
    Ok(list)
}

/// Joins `clips` in order into `out`; `work` holds the temporary list file.
pub async fn join_clips(
    ffmpeg: &Ffmpeg,
    clips: &[PathBuf],
    out: &Path,
    target: Target,
    work: &Path,
) -> Result<JoinMode, MediaError> {
    let mut infos = Vec::with_capacity(clips.len());
    for clip in clips {
        infos.push(ffmpeg.probe(clip).await?);
    }
    if infos.iter().all(|i| matches(i, target)) {
        let list = concat_list(clips, work).await?;
        ffmpeg
            .ffmpeg(vec![
                "-f".into(),
                "concat".into(),
                "-safe".into(),
                "0".into(),
                "-i".into(),
                list.display().to_string(),
                "-c".into(),
                "copy".into(),
                "-movflags".into(),
                "+faststart".into(),
                out.display().to_string(),
            ])
            .await?;
        return Ok(JoinMode::Copy);
    }
    let (w, h, fps) = (target.width, target.height, target.fps);
    let mut args = Vec::new();
    let mut filter = String::new();
    for (i, clip) in clips.iter().enumerate() {
        args.extend(["-i".to_string(), clip.display().to_string()]);
        filter.push_str(&format!(
            "[{i}:v]scale={w}:{h}:force_original_aspect_ratio=decrease,pad={w}:{h}:(ow-iw)/2:(oh-ih)/2,\
             setsar=1,fps={fps},format=yuv420p[v{i}];"
        ));
    }
    for i in 0..clips.len() {
        filter.push_str(&format!("[v{i}]"));
    }
    filter.push_str(&format!("concat=n={}:v=1:a=0[out]", clips.len()));
    args.extend(
        ["-filter_complex", &filter, "-map", "[out]"]
            .into_iter()
            .chain(H264)
            .chain(["-movflags", "+faststart"])
            .map(String::from),
    );
    args.push(out.display().to_string());
    ffmpeg.ffmpeg(args).await?;
    Ok(JoinMode::Reencode)
}
