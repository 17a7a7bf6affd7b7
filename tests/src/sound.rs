//! What a listener or a subtitle player would check in a rendered video: its
//! loudness (ffmpeg's EBU R128 meter), the level of one band of its sound over a
//! stretch of time, and the cues of its WebVTT or SubRip captions.

use std::path::Path;
use std::process::Command;

/// `HH:MM:SS.mmm` (or with a comma) in seconds.
pub fn seconds(t: &str) -> f64 {
    let t = t.replace(',', ".");
    let parts: Vec<f64> = t.split(':').map(|p| p.parse().unwrap()).collect();
    parts[0] * 3600.0 + parts[1] * 60.0 + parts[2]
}

/// The cues of a WebVTT or SubRip file: (start, end, text).
pub fn cues(text: &str) -> Vec<(f64, f64, String)> {
    let lines: Vec<&str> = text.lines().collect();
    lines
        .iter()
        .enumerate()
        .filter_map(|(i, l)| {
            let (a, b) = l.split_once(" --> ")?;
            Some((seconds(a), seconds(b), lines[i + 1].to_string()))
        })
        .collect()
}

/// The integrated loudness (LUFS) of a file's audio, as ffmpeg's EBU R128 meter
/// measures it.
pub fn loudness(path: &Path) -> f64 {
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-nostats", "-i"])
        .arg(path)
        .args(["-map", "0:a", "-af", "ebur128", "-f", "null", "-"])
        .output()
        .expect("ffmpeg runs");
    let log = String::from_utf8_lossy(&out.stderr);
    let summary = log.rsplit("Summary:").next().unwrap_or_default();
    summary
        .lines()
        .find_map(|l| l.trim().strip_prefix("I:"))
        .and_then(|v| v.trim().trim_end_matches("LUFS").trim().parse().ok())
        .unwrap_or_else(|| panic!("no integrated loudness in {log}"))
}

/// The mean level (dBFS) of the file's sound above `above_hz`, from `from` for
/// `length` seconds (`volumedetect` after a steep high-pass filter).
pub fn band_level(path: &Path, above_hz: u32, from: f64, length: f64) -> f64 {
    let filter =
        format!("highpass=f={above_hz}:poles=2,highpass=f={above_hz}:poles=2,volumedetect");
    let out = Command::new("ffmpeg")
        .args([
            "-hide_banner",
            "-nostats",
            "-ss",
            &format!("{from:.3}"),
            "-t",
        ])
        .arg(format!("{length:.3}"))
        .arg("-i")
        .arg(path)
        .args(["-map", "0:a", "-af", &filter, "-f", "null", "-"])
        .output()
        .expect("ffmpeg runs");
    let log = String::from_utf8_lossy(&out.stderr);
    log.lines()
        .find_map(|l| l.split("mean_volume:").nth(1))
        .and_then(|v| v.trim().trim_end_matches("dB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no mean volume in {log}"))
}

/// A music bed of `seconds`: a steady tone of `hz`, Ogg Vorbis, written to `path`.
pub fn tone_bed(path: &Path, hz: u32, seconds: u32) {
    let status = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i"])
        .arg(format!(
            "sine=frequency={hz}:sample_rate=48000:duration={seconds}"
        ))
        .args(["-c:a", "libvorbis", "-q:a", "6"])
        .arg(path)
        .status()
        .expect("ffmpeg runs");
    assert!(status.success());
}
