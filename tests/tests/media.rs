//! ffmpeg as the worker uses it: the `local` provider's keyframes are deterministic
//! for a prompt and seed, clips last exactly their scene's length at the story's
//! frame size, and joining keeps the sum of the durations, copying streams when the
//! clips allow it and re-encoding when they do not.

use ai_video_shared::domain::CameraMotion;
use ai_video_tests::TempDir;
use ai_video_worker::media::{Ffmpeg, JoinMode, Target, join_clips};

#[tokio::test]
async fn keyframes_are_deterministic_for_a_prompt_and_seed() {
    let dir = TempDir::new();
    let ff = Ffmpeg::default();
    let path = |n: &str| dir.path.join(n);
    ff.keyframe(&path("a.png"), [0x123456, 0xabcdef, 0x777777], 42, 640, 360)
        .await
        .unwrap();
    ff.keyframe(&path("b.png"), [0x123456, 0xabcdef, 0x777777], 42, 640, 360)
        .await
        .unwrap();
    ff.keyframe(&path("c.png"), [0x123456, 0xabcdef, 0x777777], 43, 640, 360)
        .await
        .unwrap();
    let read = |n: &str| std::fs::read(path(n)).unwrap();
    assert_eq!(
        read("a.png"),
        read("b.png"),
        "same prompt and seed, same image"
    );
    assert_ne!(read("a.png"), read("c.png"), "another seed, another image");
    let out = std::process::Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "stream=width,height",
            "-of",
            "csv=p=0",
        ])
        .arg(path("a.png"))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "640,360");
}

#[tokio::test]
async fn clips_last_their_scene_and_joins_keep_the_sum() {
    let dir = TempDir::new();
    let ff = Ffmpeg::default();
    let image = dir.path.join("key.png");
    ff.keyframe(&image, [1, 2, 3], 7, 640, 360).await.unwrap();
    let mut clips = Vec::new();
    for (i, (seconds, motion)) in [
        (3, CameraMotion::ZoomIn),
        (2, CameraMotion::PanLeft),
        (4, CameraMotion::Static),
    ]
    .into_iter()
    .enumerate()
    {
        let clip = dir.path.join(format!("clip{i}.mp4"));
        ff.clip_from_image(&image, &clip, seconds, motion, (640, 360), 24)
            .await
            .unwrap();
        let info = ff.probe(&clip).await.unwrap();
        assert!(
            (info.duration - f64::from(seconds)).abs() < 0.05,
            "{info:?}"
        );
        assert_eq!(
            (info.width, info.height, info.codec.as_str()),
            (640, 360, "h264")
        );
        clips.push(clip);
    }
    let target = Target {
        width: 640,
        height: 360,
        fps: 24,
    };
    let out = dir.path.join("joined.mp4");
    assert_eq!(
        join_clips(&ff, &clips, &out, target, &dir.path)
            .await
            .unwrap(),
        JoinMode::Copy
    );
    let joined = ff.probe(&out).await.unwrap();
    assert!((joined.duration - 9.0).abs() <= 0.1, "{joined:?}");

    // A clip of another size forces one re-encode to the target frame.
    let odd = dir.path.join("odd.mp4");
    ff.clip_from_image(&image, &odd, 2, CameraMotion::Static, (480, 480), 24)
        .await
        .unwrap();
    clips.push(odd);
    let out = dir.path.join("mixed.mp4");
    assert_eq!(
        join_clips(&ff, &clips, &out, target, &dir.path)
            .await
            .unwrap(),
        JoinMode::Reencode
    );
    let mixed = ff.probe(&out).await.unwrap();
    assert!((mixed.duration - 11.0).abs() <= 0.1, "{mixed:?}");
    assert_eq!(
        (mixed.width, mixed.height, mixed.pix_fmt.as_str()),
        (640, 360, "yuv420p")
    );
}
