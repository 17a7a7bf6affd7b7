//! Real media for the fakes to hand out, and the download URLs they hand it out on.
//!
//! Stills (PNG, JPEG, WebP) and clips (H.264, yuv420p, MP4) are made by the
//! `ffmpeg` binary from its `testsrc2` pattern at exactly the size asked for; a
//! clip has exactly the frames asked for, so its duration is frames / fps. Files
//! are cached on disk by kind and size, shared by every test process, so each is
//! made once per machine. Download URLs carry a random token and may expire.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use tokio::io::AsyncWriteExt;

/// An image file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ImageFormat {
    Png,
    Jpeg,
    Webp,
}

impl ImageFormat {
    /// From a provider's `output_format` value (`png`, `jpeg`/`jpg`, `webp`).
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "png" => Some(Self::Png),
            "jpeg" | "jpg" => Some(Self::Jpeg),
            "webp" => Some(Self::Webp),
            _ => None,
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Self::Png => "image/png",
            Self::Jpeg => "image/jpeg",
            Self::Webp => "image/webp",
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            Self::Png => "png",
            Self::Jpeg => "jpg",
            Self::Webp => "webp",
        }
    }
}

/// A file to make.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MediaSpec {
    Image {
        format: ImageFormat,
        width: u32,
        height: u32,
    },
    /// `frames` frames at `fps`, so `frames / fps` seconds long.
    Video {
        width: u32,
        height: u32,
        frames: u32,
        fps: u32,
    },
}

impl MediaSpec {
    /// A clip of whole seconds at 24 fps.
    pub fn clip(width: u32, height: u32, seconds: u32) -> Self {
        Self::Video {
            width,
            height,
            frames: seconds * 24,
            fps: 24,
        }
    }

    pub fn png(width: u32, height: u32) -> Self {
        Self::Image {
            format: ImageFormat::Png,
            width,
            height,
        }
    }

    pub fn content_type(&self) -> &'static str {
        match self {
            Self::Image { format, .. } => format.content_type(),
            Self::Video { .. } => "video/mp4",
        }
    }

    pub fn extension(&self) -> &'static str {
        match self {
            Self::Image { format, .. } => format.extension(),
            Self::Video { .. } => "mp4",
        }
    }

    fn file_name(&self) -> String {
        match self {
            Self::Image {
                width,
                height,
                format,
            } => format!("image-{width}x{height}.{}", format.extension()),
            Self::Video {
                width,
                height,
                frames,
                fps,
            } => format!("video-{width}x{height}-{frames}f-{fps}fps.mp4"),
        }
    }
}

/// The cached file for `spec`, made with ffmpeg the first time.
pub(crate) async fn render(spec: MediaSpec) -> Result<PathBuf, String> {
    let dir = std::env::temp_dir().join("ai-video-fake-media");
    let path = dir.join(spec.file_name());
    if path.exists() {
        return Ok(path);
    }
    tokio::fs::create_dir_all(&dir)
        .await
        .map_err(|e| e.to_string())?;
    // Written aside and renamed, so that a concurrent reader never sees half a file.
    let part = dir.join(format!(
        "{}.part-{}.{}",
        spec.file_name(),
        uuid::Uuid::new_v4().simple(),
        spec.extension()
    ));
    let mut cmd = tokio::process::Command::new("ffmpeg");
    cmd.args(["-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi"]);
    match spec {
        MediaSpec::Image { width, height, .. } => {
            cmd.arg("-i")
                .arg(format!("testsrc2=size={width}x{height}:rate=1"))
                .args(["-frames:v", "1"]);
        }
        MediaSpec::Video {
            width,
            height,
            frames,
            fps,
        } => {
            cmd.arg("-i")
                .arg(format!("testsrc2=size={width}x{height}:rate={fps}"))
                .args(["-frames:v", &frames.to_string()])
                .args(["-c:v", "libx264", "-preset", "ultrafast", "-crf", "35"])
                .args(["-pix_fmt", "yuv420p", "-movflags", "+faststart"])
                .args(["-r", &fps.to_string()]);
        }
    }
    let out = cmd
        .arg(&part)
        .stdin(Stdio::null())
        .output()
        .await
        .map_err(|e| format!("ffmpeg could not run: {e}"))?;
    if !out.status.success() {
        let _ = tokio::fs::remove_file(&part).await;
        return Err(format!(
            "ffmpeg failed for {spec:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    tokio::fs::rename(&part, &path)
        .await
        .map_err(|e| e.to_string())?;
    Ok(path)
}

/// Width and height of an uploaded image, read by ffprobe.
pub(crate) async fn probe_size(bytes: &[u8]) -> Option<(u32, u32)> {
    let mut child = tokio::process::Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0"])
        .args([
            "-show_entries",
            "stream=width,height",
            "-of",
            "csv=p=0",
            "-",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let mut stdin = child.stdin.take()?;
    // ffprobe may stop reading early; a broken pipe then is fine.
    let _ = stdin.write_all(bytes).await;
    drop(stdin);
    let out = child.wait_with_output().await.ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let (w, h) = text.trim().split_once(',')?;
    Some((w.parse().ok()?, h.parse().ok()?))
}

/// Stability's aspect ratios and the SDXL-sized images the fakes make for them.
pub(crate) const ASPECT_SIZES: [(&str, (u32, u32)); 9] = [
    ("16:9", (1344, 768)),
    ("1:1", (1024, 1024)),
    ("21:9", (1536, 640)),
    ("2:3", (832, 1216)),
    ("3:2", (1216, 832)),
    ("4:5", (896, 1152)),
    ("5:4", (1152, 896)),
    ("9:16", (768, 1344)),
    ("9:21", (640, 1536)),
];

/// The image size for an aspect ratio: the table above, or about one megapixel in
/// multiples of 16 for any other `W:H`.
pub(crate) fn aspect_size(ratio: &str) -> Option<(u32, u32)> {
    if let Some((_, size)) = ASPECT_SIZES.iter().find(|(r, _)| *r == ratio) {
        return Some(*size);
    }
    let (w, h) = parse_ratio(ratio)?;
    let (w, h) = (f64::from(w), f64::from(h));
    let scale = (1024.0 * 1024.0 / (w * h)).sqrt();
    let round16 = |x: f64| ((x * scale / 16.0).round() as u32).max(1) * 16;
    Some((round16(w), round16(h)))
}

/// `"W:H"` with both positive integers.
pub(crate) fn parse_ratio(ratio: &str) -> Option<(u32, u32)> {
    let (w, h) = ratio.split_once(':')?;
    let (w, h) = (w.parse::<u32>().ok()?, h.parse::<u32>().ok()?);
    (w > 0 && h > 0).then_some((w, h))
}

/// What a download token leads to.
pub(crate) enum Lookup {
    Found(PathBuf, &'static str),
    Expired,
    Unknown,
}

/// Download tokens handed out by a fake, each for one file, maybe with an expiry.
#[derive(Default)]
pub(crate) struct Files {
    map: Mutex<HashMap<String, Entry>>,
}

struct Entry {
    path: PathBuf,
    content_type: &'static str,
    expires: Option<Instant>,
}

impl Files {
    /// A new token for `path`, valid until `expires`.
    pub fn issue(
        &self,
        path: &Path,
        content_type: &'static str,
        expires: Option<Instant>,
    ) -> String {
        let token = format!(
            "{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        );
        self.map.lock().unwrap_or_else(|e| e.into_inner()).insert(
            token.clone(),
            Entry {
                path: path.to_path_buf(),
                content_type,
                expires,
            },
        );
        token
    }

    pub fn lookup(&self, token: &str) -> Lookup {
        match self
            .map
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(token)
        {
            None => Lookup::Unknown,
            Some(e) if e.expires.is_some_and(|at| Instant::now() >= at) => Lookup::Expired,
            Some(e) => Lookup::Found(e.path.clone(), e.content_type),
        }
    }
}

/// `now + ttl`, or never.
pub(crate) fn expiry(ttl: Option<Duration>, from: Instant) -> Option<Instant> {
    ttl.map(|t| from + t)
}

/// The file's bytes with its content type.
pub(crate) async fn serve_file(path: &Path, content_type: &'static str) -> Response {
    match tokio::fs::read(path).await {
        Ok(bytes) => ([(header::CONTENT_TYPE, content_type)], bytes).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

/// A broken output labelled `video/mp4`: a huge body streamed in 1 MiB chunks of
/// zeros (chunked, its length not announced), or a page of text.
pub(crate) fn serve_broken(body: Option<super::OutputBody>) -> Response {
    use super::OutputBody;
    match body {
        Some(OutputBody::Huge(len)) => {
            const CHUNK: usize = 1 << 20;
            let chunks = futures::stream::unfold(len, |left| async move {
                if left == 0 {
                    return None;
                }
                let n = left.min(CHUNK as u64);
                let chunk = axum::body::Bytes::from(vec![0u8; n as usize]);
                Some((Ok::<_, std::io::Error>(chunk), left - n))
            });
            (
                [(header::CONTENT_TYPE, "video/mp4")],
                axum::body::Body::from_stream(chunks),
            )
                .into_response()
        }
        _ => (
            [(header::CONTENT_TYPE, "video/mp4")],
            "<html><body>Service temporarily unavailable</body></html>",
        )
            .into_response(),
    }
}
