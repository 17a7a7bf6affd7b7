//! The object keys of a story's media. They depend only on ids and quality, so a
//! retried job writes to the same key and replaces what an earlier attempt left.
//!
//! - `stories/<story>/scenes/<scene>/image.png` and `.../clip.mp4` at final quality,
//! - `stories/<story>/scenes/<scene>/preview/image.png` and `.../preview/clip.mp4`
//!   at preview quality,
//! - `stories/<story>/preview.mp4` and `stories/<story>/final.mp4`.

use uuid::Uuid;

use crate::domain::RenderQuality;

/// The generated still of a scene.
pub fn scene_image(story: Uuid, scene: Uuid, quality: RenderQuality) -> String {
    format!("{}image.png", scene_dir(story, scene, quality))
}

/// The generated clip of a scene.
pub fn scene_clip(story: Uuid, scene: Uuid, quality: RenderQuality) -> String {
    format!("{}clip.mp4", scene_dir(story, scene, quality))
}

/// The story's assembled preview video.
pub fn preview(story: Uuid) -> String {
    format!("stories/{story}/preview.mp4")
}

/// The story's assembled final video.
pub fn final_video(story: Uuid) -> String {
    format!("stories/{story}/final.mp4")
}

/// Speech bought for the story's narration, by its fingerprint (`wav`, and `json`
/// for the provider's character timing): the preview's narration serves the final.
pub fn speech(story: Uuid, fingerprint: &str, extension: &str) -> String {
    format!("stories/{story}/speech/{fingerprint}.{extension}")
}

/// The story's uploaded music bed.
pub fn music(story: Uuid) -> String {
    format!("stories/{story}/music.audio")
}

/// The captions of the story's preview or final video, `vtt` or `srt`, beside it.
pub fn captions(story: Uuid, quality: RenderQuality, extension: &str) -> String {
    let name = match quality {
        RenderQuality::Final => "final",
        RenderQuality::Preview => "preview",
    };
    format!("stories/{story}/{name}.{extension}")
}

fn scene_dir(story: Uuid, scene: Uuid, quality: RenderQuality) -> String {
    match quality {
        RenderQuality::Final => format!("stories/{story}/scenes/{scene}/"),
        RenderQuality::Preview => format!("stories/{story}/scenes/{scene}/preview/"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::validate_key;

    #[test]
    fn keys_follow_the_documented_layout() {
        let story = Uuid::parse_str("00000000-0000-0000-0000-000000000001").unwrap();
        let scene = Uuid::parse_str("00000000-0000-0000-0000-000000000002").unwrap();
        let s = "stories/00000000-0000-0000-0000-000000000001";
        let sc = format!("{s}/scenes/00000000-0000-0000-0000-000000000002");
        let all = [
            (
                scene_image(story, scene, RenderQuality::Final),
                format!("{sc}/image.png"),
            ),
            (
                scene_clip(story, scene, RenderQuality::Final),
                format!("{sc}/clip.mp4"),
            ),
            (
                scene_image(story, scene, RenderQuality::Preview),
                format!("{sc}/preview/image.png"),
            ),
            (
                scene_clip(story, scene, RenderQuality::Preview),
                format!("{sc}/preview/clip.mp4"),
            ),
            (preview(story), format!("{s}/preview.mp4")),
            (final_video(story), format!("{s}/final.mp4")),
        ];
        for (key, expected) in all {
            assert_eq!(key, expected);
            validate_key(&key).unwrap();
        }
    }
}
