//! `generate_preview` and `render_final`: BullMQ runs these once, after the last
//! scene job of their flow succeeded. They speak the narration, fetch the music bed,
//! render the scene clips with transitions, captions and sound in one pass (without
//! re-encoding the pictures when nothing asks for it) and store the video and its
//! captions under the story's keys.

use std::path::PathBuf;

use ai_video_shared::db::entities::story;
use ai_video_shared::domain::{FilmOptions, JobKind, RenderQuality, subrip, webvtt};
use ai_video_shared::storage;
use ai_video_shared::store::scenes;
use ai_video_shared::store::worker_writes::{self, Written};
use sea_orm::EntityTrait;
use serde_json::{Value, json};

use super::music::music_bed;
use super::voice::speak_scenes;
use super::{JobCtx, JobError};
use crate::media::{Cut, SceneVoice, Target, render_film};

pub async fn run(ctx: &JobCtx) -> Result<Value, JobError> {
    let db = &ctx.state.db;
    let story = story::Entity::find_by_id(ctx.row.story_id)
        .one(db)
        .await?
        .ok_or_else(|| JobError::Permanent("the story no longer exists".into()))?;
    let (quality, key) = match ctx.row.kind {
        JobKind::RenderFinal => (RenderQuality::Final, storage::keys::final_video(story.id)),
        _ => (RenderQuality::Preview, storage::keys::preview(story.id)),
    };
    let scenes = scenes::of_story(db, story.id).await?;
    if scenes.is_empty() {
        return Err(JobError::Permanent("the story has no scenes".into()));
    }
    let mut clips: Vec<PathBuf> = Vec::with_capacity(scenes.len());
    for scene in &scenes {
        let clip_key = storage::keys::scene_clip(story.id, scene.id, quality);
        let path = match ctx.state.storage.local_path(&clip_key) {
            Some(path) if path.exists() => path,
            _ => {
                let dest = ctx
                    .work
                    .path()?
                    .join(format!("scene-{:04}.mp4", scene.position));
                ctx.step(ctx.state.storage.get_to_file(&clip_key, &dest))
                    .await
                    .map_err(|e| {
                        JobError::Permanent(format!(
                            "scene {} has no {} clip: {e}",
                            scene.position,
                            quality.as_str()
                        ))
                    })?;
                dest
            }
        };
        clips.push(path);
    }
    ctx.checkpoint().await?;
    let (width, height) = story
        .aspect_ratio
        .frame_size(ctx.state.render.long_side(quality));
    let target = Target {
        width,
        height,
        fps: ctx.state.render.fps,
    };
    let film = FilmOptions::from_stored(story.film.as_ref());
    let said = speak_scenes(ctx, &story, &scenes, &film).await?;
    let music = music_bed(ctx, &story).await?;
    ctx.checkpoint().await?;
    let mut at = 0.0;
    let voices: Vec<SceneVoice> = scenes
        .iter()
        .zip(said)
        .map(|(s, said)| {
            let voice = SceneVoice {
                start: at,
                seconds: f64::from(s.duration_seconds),
                narration: s.narration.clone(),
                said,
            };
            at += voice.seconds;
            voice
        })
        .collect();
    let out = ctx.work.path()?.join("out.mp4");
    let cut = Cut {
        target,
        transition: (film.transition.kind, film.transition.seconds),
        voices: &voices,
        burn: film.captions.burn.then_some(film.captions),
        music: music.as_deref(),
    };
    let narrated = ctx
        .step(render_film(
            &ctx.state.ffmpeg,
            &clips,
            &cut,
            &out,
            ctx.work.path()?,
        ))
        .await?;
    let info = ctx.step(ctx.state.ffmpeg.probe(&out)).await?;
    ctx.log(&format!(
        "rendered {} clips ({}), narrated by {} in {} ({} captions{}), {:.1} s",
        clips.len(),
        film.transition.kind,
        film.voice.provider,
        story.language,
        narrated.cues.len(),
        if music.is_some() { ", music" } else { "" },
        info.duration
    ))
    .await;
    ctx.checkpoint().await?;
    for (extension, text, mime) in [
        ("vtt", webvtt(&narrated.cues), "text/vtt; charset=utf-8"),
        (
            "srt",
            subrip(&narrated.cues),
            "application/x-subrip; charset=utf-8",
        ),
    ] {
        let key = storage::keys::captions(story.id, quality, extension);
        ctx.step(ctx.state.storage.put_bytes(&key, text.into_bytes(), mime))
            .await?;
    }
    ctx.step(ctx.state.storage.put_file(&key, &out, "video/mp4"))
        .await?;
    let url = ctx.state.storage.url(&key).await?;
    let metadata = json!({
        "key": key,
        "quality": quality.as_str(),
        "scenes": scenes.len(),
        "width": info.width,
        "height": info.height,
        "duration_seconds": info.duration,
        "join": if narrated.copied { "copy" } else { "reencode" },
        "transition": film.transition.kind.as_str(),
        "music": music.is_some(),
        "narration": {
            "provider": film.voice.provider.as_str(),
            "language": story.language.as_str(),
            "captions": narrated.cues.len(),
            "held_last_frame": narrated.held,
            "captions_burned": narrated.burned,
            "video_copied": narrated.copied,
        },
    });
    let result = worker_writes::response(Some(&url), metadata, ctx.elapsed_secs(), None);
    match worker_writes::finish_assembly(db, &ctx.row, &key, result.clone()).await? {
        Written::Done => Ok(result),
        Written::Cancelled => Err(JobError::Cancelled),
    }
}
