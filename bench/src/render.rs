//! The final render of a 60-second story from its scene clips, as a share of the
//! video's length: clips that already match are joined without re-encoding.

use std::time::Instant;

use ai_video_shared::domain::{CameraMotion, CaptionOptions, Language, TransitionKind};
use ai_video_worker::media::{
    Cut, Ffmpeg, JoinMode, Said, SceneVoice, Target, join_clips, render_film,
};

use crate::report::{Report, Row, num};

pub async fn run(report: &mut Report) -> anyhow::Result<()> {
    let dir =
        std::env::temp_dir().join(format!("ai-video-render-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir)?;
    let ff = Ffmpeg::default();
    let image = dir.join("key.png");
    ff.keyframe(&image, [0x204060, 0x806040, 0x102030], 1, 1280, 720)
        .await?;
    // Ten 6-second scenes, as the local provider makes them (setup, not timed).
    let mut clips = Vec::new();
    for i in 0..10 {
        let clip = dir.join(format!("scene-{i}.mp4"));
        ff.clip_from_image(&image, &clip, 6, CameraMotion::ZoomIn, (1280, 720), 24)
            .await?;
        clips.push(clip);
    }
    let target = Target {
        width: 1280,
        height: 720,
        fps: 24,
    };
    let started = Instant::now();
    let mode = join_clips(&ff, &clips, &dir.join("final.mp4"), target, &dir).await?;
    let copy = started.elapsed().as_secs_f64();
    let seconds = ff.probe(&dir.join("final.mp4")).await?.duration;
    report.add(Row {
        benchmark: "final render from scene clips".into(),
        setup: format!(
            "60 s story, 10 clips 1280×720 H.264, joined by {}",
            mode.as_str()
        ),
        ai_video: format!("{} s", num(copy)),
        peer: format!("video {} s", num(seconds)),
        ratio: format!("{}× the video's length", num(copy / seconds)),
        target: "≤ 0.25×".into(),
    });
    // For reference: the same clips when one of them forces a re-encode.
    let odd = dir.join("odd.mp4");
    ff.clip_from_image(&image, &odd, 6, CameraMotion::Static, (960, 720), 24)
        .await?;
    clips[9] = odd;
    let started = Instant::now();
    let mode = join_clips(&ff, &clips, &dir.join("mixed.mp4"), target, &dir).await?;
    let reencode = started.elapsed().as_secs_f64();
    assert_eq!(mode, JoinMode::Reencode);
    report.add(Row {
        benchmark: "final render, clips that need re-encoding".into(),
        setup: "same, one clip 960×720 (scaled and padded, encoded once)".into(),
        ai_video: format!("{} s", num(reencode)),
        peer: format!("video {} s", num(seconds)),
        ratio: format!("{}× the video's length", num(reencode / seconds)),
        target: "—".into(),
    });
    clips.pop();
    clips.push(dir.join("scene-9.mp4"));
    film(&ff, &clips, target, &dir, report).await?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// The ten scenes told: a sentence of narration each, spoken by espeak-ng (timed:
/// the job speaks them too); with crossfades, burned captions and a music bed ducked
/// under the voice, and with cuts and sidecar captions only (pictures copied). Each
/// is one encoding pass after the audio-only loudness measurement.
async fn film(
    ff: &Ffmpeg,
    clips: &[std::path::PathBuf],
    target: Target,
    dir: &std::path::Path,
    report: &mut Report,
) -> anyhow::Result<()> {
    let music = dir.join("bed.ogg");
    ff.run_ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=220:duration=20",
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=330:duration=20",
        "-filter_complex",
        "amix=inputs=2",
        "-c:a",
        "libvorbis",
        &music.display().to_string(),
    ])
    .await?;
    for (name, transition, burn, bed, goal) in [
        (
            "crossfades, narration, burned captions and music",
            TransitionKind::Crossfade,
            true,
            true,
            "≤ 0.5×",
        ),
        (
            "cuts, narration, captions beside the video",
            TransitionKind::Cut,
            false,
            false,
            "≤ 0.05× (pictures copied)",
        ),
    ] {
        let work = dir.join(transition.as_str());
        std::fs::create_dir_all(&work)?;
        let out = work.join("final.mp4");
        let started = Instant::now();
        // Spoken as many at a time as there are cores, as the job does.
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let mut voices = Vec::new();
        let indices: Vec<usize> = (0..clips.len()).collect();
        for batch in indices.chunks(cores) {
            let spoken = futures::future::join_all(batch.iter().map(|&i| {
                let work = work.clone();
                async move {
                    let narration =
                        format!("Scene {i}. The keeper climbs the stairs as the storm rolls in.");
                    let file = work.join(format!("speech-{i}.wav"));
                    let seconds = ff.speak(&narration, Language::English, None, &file).await?;
                    anyhow::Ok(SceneVoice {
                        start: 6.0 * i as f64,
                        seconds: 6.0,
                        narration,
                        said: Some(Said {
                            file,
                            seconds,
                            alignment: None,
                        }),
                    })
                }
            }))
            .await;
            for voice in spoken {
                voices.push(voice?);
            }
        }
        let cut = Cut {
            target,
            transition: (transition, 0.5),
            voices: &voices,
            burn: burn.then(CaptionOptions::default),
            music: bed.then_some(music.as_path()),
        };
        render_film(ff, clips, &cut, &out, &work).await?;
        let took = started.elapsed().as_secs_f64();
        let seconds = ff.probe(&out).await?.duration;
        report.add(Row {
            benchmark: format!("final render: {name}"),
            setup: "60 s story, 10 clips 1280×720, ten narrated sentences (espeak-ng), AAC 48 kHz loudness-normalized, one pass".into(),
            ai_video: format!("{} s", num(took)),
            peer: format!("video {} s", num(seconds)),
            ratio: format!("{}× the video's length", num(took / seconds)),
            target: goal.into(),
        });
    }
    Ok(())
}
