//! The fake providers pinned down on their own, with plain HTTP: what each accepts
//! and refuses, the shapes of its answers and errors, its polling, rate limiting
//! and injected failures, and that the media it hands out is real (ffprobe'd),
//! speech included. The adapters' tests rely on exactly this behaviour.

mod fakes {
    mod elevenlabs;
    mod openai;
    mod openai_speech;
    mod replicate;
    mod replicate_webhooks;
    mod runway;
    mod stability;
}

use std::time::Duration;

use ai_video_tests::TempDir;

/// A client that does not hang a test.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .expect("client")
}

/// What ffprobe says about a file.
#[derive(Debug)]
pub struct Probe {
    pub width: u64,
    pub height: u64,
    pub codec: String,
    pub frame_rate: String,
    /// Seconds, for media that has a duration.
    pub duration: Option<f64>,
}

/// Probes media bytes, written to a temporary file with extension `ext`.
pub fn probe(bytes: &[u8], ext: &str) -> Probe {
    let dir = TempDir::new();
    let path = dir.path.join(format!("media.{ext}"));
    std::fs::write(&path, bytes).expect("write media");
    let out = std::process::Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0", "-of", "json"])
        .args([
            "-show_entries",
            "stream=width,height,codec_name,r_frame_rate:format=duration",
        ])
        .arg(&path)
        .output()
        .expect("ffprobe runs");
    assert!(
        out.status.success(),
        "ffprobe: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let info: serde_json::Value = serde_json::from_slice(&out.stdout).expect("ffprobe JSON");
    let stream = &info["streams"][0];
    Probe {
        width: stream["width"].as_u64().expect("width"),
        height: stream["height"].as_u64().expect("height"),
        codec: stream["codec_name"].as_str().unwrap_or("").into(),
        frame_rate: stream["r_frame_rate"].as_str().unwrap_or("").into(),
        duration: info["format"]["duration"]
            .as_str()
            .and_then(|d| d.parse().ok()),
    }
}

/// What ffprobe says about audio bytes, written to a temporary file with
/// extension `ext`: the codec, sample rate and duration (seconds) of the first
/// stream.
pub fn probe_audio(bytes: &[u8], ext: &str) -> (String, u64, f64) {
    let dir = TempDir::new();
    let path = dir.path.join(format!("audio.{ext}"));
    std::fs::write(&path, bytes).expect("write audio");
    let info = ai_video_tests::files::probe(&path);
    let stream = &info["streams"][0];
    assert_eq!(stream["codec_type"], "audio", "{info}");
    let rate = stream["sample_rate"].as_str().expect("a sample rate");
    (
        stream["codec_name"].as_str().unwrap_or("").into(),
        rate.parse().expect("a numeric sample rate"),
        ai_video_tests::files::duration(&info),
    )
}

/// A downloaded file: status, content type and bytes.
pub async fn fetch(url: &str) -> (u16, String, Vec<u8>) {
    let resp = client().get(url).send().await.expect("download");
    let status = resp.status().as_u16();
    let content_type = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    (
        status,
        content_type,
        resp.bytes().await.expect("bytes").to_vec(),
    )
}

/// A response read fully: status, headers and body as JSON (or Null) and bytes.
pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub json: serde_json::Value,
    pub bytes: Vec<u8>,
}

impl Answer {
    pub async fn read(resp: reqwest::Response) -> Self {
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let bytes = resp.bytes().await.expect("body").to_vec();
        let json = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
        Self {
            status,
            headers,
            json,
            bytes,
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    #[track_caller]
    pub fn assert_status(&self, status: u16) -> &Self {
        assert_eq!(
            self.status,
            status,
            "{}",
            String::from_utf8_lossy(&self.bytes[..self.bytes.len().min(2000)])
        );
        self
    }
}
