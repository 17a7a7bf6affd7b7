//! `plan_story`: scenes when the story has none (by rule, or written by an LLM with
//! a story bible when the story's `film.planner` is `openai`), and the cost
//! estimate; the story moves planning → planned.

use ai_video_shared::db::Money;
use ai_video_shared::db::entities::{scene, story};
use ai_video_shared::domain::{
    CostEstimate, FilmOptions, Provider, SceneStatus, StoryDuration, plan_scenes,
};
use ai_video_shared::store::scenes;
use ai_video_shared::store::worker_writes::{self, Written};
use chrono::Utc;
use sea_orm::{EntityTrait, Set};
use serde_json::{Value, json};
use uuid::Uuid;

use super::script::write_script;
use super::{JobCtx, JobError};

pub async fn run(ctx: &JobCtx) -> Result<Value, JobError> {
    let db = &ctx.state.db;
    let story = story::Entity::find_by_id(ctx.row.story_id)
        .one(db)
        .await?
        .ok_or_else(|| JobError::Permanent("the story no longer exists".into()))?;
    let existing = scenes::of_story(db, story.id).await?;
    let duration = StoryDuration::new(i64::from(story.duration_seconds))
        .map_err(|e| JobError::Permanent(e.0))?;
    let film = FilmOptions::from_stored(story.film.as_ref());
    let (planned, bible) = match (existing.is_empty(), film.planner) {
        (false, _) => (Vec::new(), None),
        (true, Provider::OpenAi) => {
            let script = write_script(ctx, &story, duration).await?;
            (script.scenes, serde_json::to_value(script.bible).ok())
        }
        (true, _) => (
            plan_scenes(duration, &story.title, &story.synopsis, &story.style),
            None,
        ),
    };
    let (count, seconds) = if existing.is_empty() {
        (
            planned.len() as u32,
            planned.iter().map(|s| s.duration.seconds()).sum(),
        )
    } else {
        (
            existing.len() as u32,
            existing
                .iter()
                .map(|s| s.duration_seconds.max(0) as u32)
                .sum(),
        )
    };
    let image = ctx.provider_config(story.image_provider).await?;
    let video = ctx.provider_config(story.video_provider).await?;
    let estimate = CostEstimate::new(count, seconds, image.rates(), video.rates());

    let now = Utc::now();
    let rows: Vec<scene::ActiveModel> = planned
        .iter()
        .map(|p| scene::ActiveModel {
            id: Set(Uuid::now_v7()),
            story_id: Set(story.id),
            position: Set(p.position as i32),
            duration_seconds: Set(p.duration.seconds() as i32),
            prompt_text: Set(p.prompt.text.clone()),
            negative_prompt: Set(p.prompt.negative_prompt.clone()),
            prompt_style: Set(p.prompt.style.clone()),
            camera_motion: Set(p.prompt.camera_motion),
            seed: Set(i64::from(p.prompt.seed)),
            narration: Set(p.narration.clone()),
            status: Set(SceneStatus::Pending),
            image_key: Set(None),
            clip_key: Set(None),
            provider: Set(None),
            generation_time_ms: Set(None),
            cost: Set(Money::ZERO),
            error: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
        })
        .collect();
    // Cancelled meanwhile? Writing the outcome re-checks the row; a cancel that
    // arrived through the queue is known here already.
    if ctx.delivery.cancel.is_cancelled() {
        return Err(JobError::Cancelled);
    }
    let metadata = json!({
        "scene_count": count,
        "duration_seconds": seconds,
        "scenes_planned": !planned.is_empty(),
        "planner": if planned.is_empty() { None } else { Some(film.planner.as_str()) },
        "cost_estimate": estimate,
    });
    ctx.log(&format!(
        "{count} scenes ({seconds} s), estimated cost {}",
        estimate.total
    ))
    .await;
    let result = worker_writes::response(None, metadata, ctx.elapsed_secs(), None);
    match worker_writes::finish_plan(db, &ctx.row, (rows, bible), estimate, result.clone()).await? {
        Written::Done => Ok(result),
        Written::Cancelled => Err(JobError::Cancelled),
    }
}
