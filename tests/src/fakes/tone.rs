//! The "speech" the text-to-speech fakes speak: a deterministic signal with the
//! rhythm of the text, so that tests can predict its length and its timing.
//!
//! Every character lasts 0.065 s divided by the speed: a 440 Hz tone at 0.3 of
//! full scale for letters and digits, silence for whitespace, punctuation and
//! anything else. Each sentence end (`.`, `!`, `?`, `。`) is followed by a further
//! 0.25 s of silence, whatever the speed. The samples are signed 16-bit mono at
//! the rate asked for; WAV is written here, compressed formats by `ffmpeg`.

use std::process::Stdio;

use tokio::io::AsyncWriteExt;

/// Seconds each character lasts at speed 1.
pub const SECONDS_PER_CHAR: f64 = 0.065;
/// Silence after each sentence end, in seconds, whatever the speed.
pub const SENTENCE_PAUSE: f64 = 0.25;
/// The tone's frequency, in Hz.
const TONE_HZ: f64 = 440.0;
/// The tone's amplitude, as a fraction of full scale.
const AMPLITUDE: f64 = 0.3;

/// The length in seconds of the audio the fakes make for `text` at `speed`
/// (1.0 is normal): 0.065 s per character (Unicode scalar value) divided by
/// `speed`, plus 0.25 s after each `.`, `!`, `?` and `。`.
pub fn speech_seconds(text: &str, speed: f64) -> f64 {
    let chars = text.chars().count();
    let ends = text.chars().filter(|c| is_sentence_end(*c)).count();
    chars as f64 * SECONDS_PER_CHAR / speed + ends as f64 * SENTENCE_PAUSE
}

fn is_sentence_end(c: char) -> bool {
    matches!(c, '.' | '!' | '?' | '。')
}

/// One character's place in the audio, in samples from the start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Span {
    pub ch: char,
    pub start: usize,
    pub end: usize,
    /// Whether the tone sounds (letters and digits).
    pub voiced: bool,
}

/// Where every character of a text lies in its audio at one sample rate.
#[derive(Debug, Clone)]
pub(crate) struct Timeline {
    pub rate: u32,
    pub spans: Vec<Span>,
    /// Samples in the whole clip, trailing pauses included.
    pub samples: usize,
}

impl Timeline {
    pub fn new(text: &str, speed: f64, rate: u32) -> Self {
        let per_char = SECONDS_PER_CHAR / speed;
        let at = |seconds: f64| (seconds * f64::from(rate)).round() as usize;
        let mut ends = 0usize;
        let spans = text
            .chars()
            .enumerate()
            .map(|(i, ch)| {
                // From counts, not running sums, so that no rounding error builds up.
                let start = i as f64 * per_char + ends as f64 * SENTENCE_PAUSE;
                if is_sentence_end(ch) {
                    ends += 1;
                }
                Span {
                    ch,
                    start: at(start),
                    end: at(start + per_char),
                    voiced: ch.is_alphanumeric(),
                }
            })
            .collect();
        Self {
            rate,
            spans,
            samples: at(speech_seconds(text, speed)),
        }
    }

    /// A sample index in seconds.
    pub fn seconds(&self, sample: usize) -> f64 {
        sample as f64 / f64::from(self.rate)
    }

    /// The signal: the tone over voiced spans, silence elsewhere. The tone's phase
    /// follows the clip's clock, so adjacent letters join without clicks.
    pub fn samples(&self) -> Vec<i16> {
        let mut out = vec![0i16; self.samples];
        let step = 2.0 * std::f64::consts::PI * TONE_HZ / f64::from(self.rate);
        let peak = AMPLITUDE * f64::from(i16::MAX);
        for span in self.spans.iter().filter(|s| s.voiced) {
            let end = span.end.min(out.len());
            for (k, sample) in out.iter_mut().enumerate().take(end).skip(span.start) {
                *sample = ((k as f64 * step).sin() * peak).round() as i16;
            }
        }
        out
    }
}

/// Samples as headerless signed 16-bit little-endian bytes.
pub(crate) fn pcm_bytes(samples: &[i16]) -> Vec<u8> {
    samples.iter().flat_map(|s| s.to_le_bytes()).collect()
}

/// Samples as a canonical 44-byte-header RIFF/WAVE file, 16-bit mono.
pub(crate) fn wav_bytes(samples: &[i16], rate: u32) -> Vec<u8> {
    let data_len = u32::try_from(samples.len() * 2).expect("audio under 4 GiB");
    let mut out = Vec::with_capacity(44 + samples.len() * 2);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + data_len).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes()); // PCM
    out.extend_from_slice(&1u16.to_le_bytes()); // mono
    out.extend_from_slice(&rate.to_le_bytes());
    out.extend_from_slice(&(rate * 2).to_le_bytes()); // bytes per second
    out.extend_from_slice(&2u16.to_le_bytes()); // block align
    out.extend_from_slice(&16u16.to_le_bytes()); // bits per sample
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data_len.to_le_bytes());
    out.extend_from_slice(&pcm_bytes(samples));
    out
}

/// A compressed (or companded) audio format that ffmpeg makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Codec {
    /// MP3 at this many kbit/s.
    Mp3(u32),
    /// Opus in an Ogg container at this many kbit/s.
    Opus(u32),
    /// AAC in ADTS frames.
    Aac,
    Flac,
    /// Headerless G.711 μ-law.
    Mulaw,
    /// Headerless G.711 A-law.
    Alaw,
}

impl Codec {
    fn extension(self) -> &'static str {
        match self {
            Self::Mp3(_) => "mp3",
            Self::Opus(_) => "ogg",
            Self::Aac => "aac",
            Self::Flac => "flac",
            Self::Mulaw => "ulaw",
            Self::Alaw => "alaw",
        }
    }

    fn args(self) -> Vec<String> {
        let s = |v: &[&str]| v.iter().map(|a| a.to_string()).collect::<Vec<_>>();
        match self {
            Self::Mp3(kbps) => {
                let mut a = s(&["-c:a", "libmp3lame", "-f", "mp3", "-b:a"]);
                a.push(format!("{kbps}k"));
                a
            }
            Self::Opus(kbps) => {
                let mut a = s(&["-c:a", "libopus", "-f", "ogg", "-b:a"]);
                a.push(format!("{kbps}k"));
                a
            }
            Self::Aac => s(&["-c:a", "aac", "-b:a", "64k", "-f", "adts"]),
            Self::Flac => s(&["-c:a", "flac", "-f", "flac"]),
            Self::Mulaw => s(&["-c:a", "pcm_mulaw", "-f", "mulaw"]),
            Self::Alaw => s(&["-c:a", "pcm_alaw", "-f", "alaw"]),
        }
    }
}

/// The samples encoded by `ffmpeg`: a WAV on its stdin, the file written to a
/// temporary path (seekable, so that headers such as FLAC's sample count and
/// MP3's Xing frame are complete), read back and removed.
pub(crate) async fn encode(samples: &[i16], rate: u32, codec: Codec) -> Result<Vec<u8>, String> {
    let wav = wav_bytes(samples, rate);
    let path = std::env::temp_dir().join(format!(
        "ai-video-fake-speech-{}.{}",
        uuid::Uuid::new_v4().simple(),
        codec.extension()
    ));
    let mut child = tokio::process::Command::new("ffmpeg")
        .args([
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-f",
            "wav",
            "-i",
            "pipe:0",
        ])
        .args(codec.args())
        .arg(&path)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("ffmpeg could not run: {e}"))?;
    let mut stdin = child.stdin.take().ok_or("ffmpeg has no stdin")?;
    // Written while ffmpeg's stderr is read, so that neither pipe fills up.
    let writer = tokio::spawn(async move {
        let written = stdin.write_all(&wav).await;
        drop(stdin);
        written
    });
    let out = child
        .wait_with_output()
        .await
        .map_err(|e| format!("ffmpeg failed: {e}"))?;
    let written = writer.await.map_err(|e| e.to_string())?;
    let bytes = tokio::fs::read(&path).await;
    let _ = tokio::fs::remove_file(&path).await;
    if !out.status.success() || written.is_err() {
        return Err(format!(
            "ffmpeg failed to encode {codec:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    bytes.map_err(|e| format!("ffmpeg's output could not be read: {e}"))
}
