//! Media a test fetched through the API, and what ffprobe says about it.

use serde_json::Value;

use crate::{TempDir, TestApp};

/// Downloads a media URL from the API (following the redirect to S3) into `dir`.
pub async fn download(app: &TestApp, url: &str, dir: &TempDir, name: &str) -> std::path::PathBuf {
    let full = if url.starts_with('/') {
        app.url(url)
    } else {
        url.to_string()
    };
    let r = app.client.get(&full).send().await.unwrap();
    assert_eq!(r.status(), 200, "{full}");
    let bytes = r.bytes().await.unwrap();
    let path = dir.path.join(name);
    std::fs::write(&path, &bytes).unwrap();
    path
}

/// The text of a file the API links (captions), asserting it is served.
pub async fn text(app: &TestApp, url: &str) -> String {
    let r = app.client.get(app.url(url)).send().await.unwrap();
    assert_eq!(r.status(), 200, "{url}");
    r.text().await.unwrap()
}

/// ffprobe's view of a media file: its format's duration and every stream.
pub fn probe(path: &std::path::Path) -> Value {
    let out = std::process::Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "format=duration:stream=codec_type,codec_name,width,height,pix_fmt,sample_rate,duration",
            "-of",
            "json",
        ])
        .arg(path)
        .output()
        .expect("ffprobe runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

pub fn duration(probe: &Value) -> f64 {
    probe["format"]["duration"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}
