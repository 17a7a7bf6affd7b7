//! A story's music bed: an uploaded track (checked with ffprobe, stored beside the
//! story's media) or an https URL the worker fetches through its download limits.
//! The bed is looped or trimmed to the video's length, ducked under the narration
//! and mixed to the story's loudness.

use serde::{Deserialize, Serialize};

use super::Invalid;

/// The largest music upload, unless `MUSIC_MAX_MB` says otherwise.
pub const MUSIC_MAX_MB: u64 = 25;
/// The longest URL accepted for a music bed.
pub const MUSIC_URL_MAX: usize = 2048;

/// Where a story's music comes from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "source", rename_all = "snake_case")]
pub enum MusicBed {
    /// A file uploaded to `POST stories/{id}/music/`, stored beside the story's media.
    Upload {
        content_type: String,
        bytes: u64,
        /// Its length, as ffprobe measured it.
        seconds: f64,
        /// The audio codec ffprobe found.
        codec: String,
    },
    /// An https URL, fetched by the worker when it renders.
    Url { url: String },
}

impl MusicBed {
    /// The bed stored on a story (`None` or unreadable: no music).
    pub fn from_stored(value: Option<&serde_json::Value>) -> Option<Self> {
        value.and_then(|v| serde_json::from_value(v.clone()).ok())
    }
}

/// An https URL for a music bed: absolute, https, with a host, no credentials.
/// Where it may point is the worker's outbound guard's to judge when it fetches.
pub fn check_music_url(text: &str) -> Result<String, Invalid> {
    if text.chars().count() > MUSIC_URL_MAX {
        return Err(Invalid(format!(
            "must be at most {MUSIC_URL_MAX} characters"
        )));
    }
    if !text.starts_with("https://") || text.chars().any(char::is_whitespace) {
        return Err(Invalid::new("must be an https:// URL, without spaces"));
    }
    let url = url::Url::parse(text).map_err(|e| Invalid(format!("must be a URL ({e})")))?;
    if url.host_str().is_none_or(str::is_empty) {
        return Err(Invalid::new("must name a host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Invalid::new("must not carry credentials"));
    }
    Ok(url.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_https_urls_are_beds() {
        assert!(check_music_url("https://cdn.example.com/bed.mp3").is_ok());
        for bad in [
            "http://cdn.example.com/bed.mp3",
            "ftp://x/y",
            "https://user:pw@cdn.example.com/a.mp3",
            "bed.mp3",
            "",
            " https://cdn.example.com/a.mp3",
            "HTTPS://cdn.example.com/a.mp3",
        ] {
            assert!(check_music_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_stored_bed_round_trips() {
        let bed = MusicBed::Url {
            url: "https://cdn.example.com/a.ogg".into(),
        };
        let json = serde_json::to_value(&bed).unwrap();
        assert_eq!(json["source"], "url");
        assert_eq!(MusicBed::from_stored(Some(&json)), Some(bed));
    }
}
