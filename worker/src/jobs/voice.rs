//! The narrator of a preview or final: each scene's narration spoken by the story's
//! speech provider. Speech bought from a paid provider is stored under its
//! fingerprint (provider, model, voice, language, text) as soon as it is made, and
//! its price recorded as a step of the job (added to the job's and the story's
//! cost): the final, a retry or a re-delivery finds it there and pays nothing again.

use std::path::Path;

use ai_video_shared::db::Money;
use ai_video_shared::db::entities::{scene, story};
use ai_video_shared::domain::{FilmOptions, Provider};
use ai_video_shared::storage;
use ai_video_shared::store::steps;
use serde_json::json;

use super::calls::Configured;
use super::{JobCtx, JobError};
use crate::media::Said;
use crate::providers::speech::fingerprint;
use crate::providers::{SpeechProvider, SpeechRequest};

/// Remote speech requests of one job at once (ElevenLabs' smallest plan allows 2).
const REMOTE_AT_ONCE: usize = 2;

/// Each scene's speech, in order (`None` for a scene with nothing to say, and for
/// every scene when the story is not narrated).
pub async fn speak_scenes(
    ctx: &JobCtx,
    story: &story::Model,
    scenes: &[scene::Model],
    film: &FilmOptions,
) -> Result<Vec<Option<Said>>, JobError> {
    if !film.narrate {
        return Ok(vec![None; scenes.len()]);
    }
    let provider = film.voice.provider;
    let speaker = ctx.state.providers.speech(provider)?;
    let configured = Configured::load(ctx, provider).await?;
    let voice = film.voice.resolved();
    let model = speaker.model(&configured.settings);
    let at_once = match provider {
        Provider::Local => std::thread::available_parallelism().map_or(2, |n| n.get()),
        _ => REMOTE_AT_ONCE,
    };
    let work = ctx.work.path()?.to_path_buf();
    let one = Speaker {
        ctx,
        story,
        speaker: speaker.as_ref(),
        configured: &configured,
        model: &model,
        voice: voice.as_deref(),
        work: &work,
    };
    let mut said = Vec::with_capacity(scenes.len());
    for batch in scenes.chunks(at_once) {
        let spoken = futures::future::join_all(batch.iter().map(|scene| one.say(scene))).await;
        for s in spoken {
            said.push(s?);
        }
    }
    Ok(said)
}

struct Speaker<'a> {
    ctx: &'a JobCtx,
    story: &'a story::Model,
    speaker: &'a dyn SpeechProvider,
    configured: &'a Configured,
    model: &'a str,
    voice: Option<&'a str>,
    work: &'a Path,
}

impl Speaker<'_> {
    async fn say(&self, scene: &scene::Model) -> Result<Option<Said>, JobError> {
        let text = scene.narration.trim();
        if text.is_empty() {
            return Ok(None);
        }
        let provider = self.configured.provider;
        let req = SpeechRequest {
            text,
            language: self.story.language,
            voice: self.voice,
        };
        let name = format!("speech-{:04}", scene.position);
        let call = self.configured.call(self.ctx);
        if provider == Provider::Local {
            let speech = self
                .ctx
                .step(self.speaker.speak(&req, &call, self.work, &name))
                .await?;
            return Ok(Some(Said {
                file: speech.path,
                seconds: speech.seconds,
                alignment: None,
            }));
        }
        let print = fingerprint(provider, self.model, &req);
        let audio_key = storage::keys::speech(self.story.id, &print, "wav");
        let timing_key = storage::keys::speech(self.story.id, &print, "json");
        let store = &self.ctx.state.storage;
        let file = self.work.join(format!("{name}.wav"));
        if store.exists(&audio_key).await? {
            self.ctx.step(store.get_to_file(&audio_key, &file)).await?;
            let seconds = self
                .ctx
                .step(self.ctx.state.ffmpeg.probe(&file))
                .await?
                .duration;
            let timing = self.work.join(format!("{name}.json"));
            let alignment = match store.get_to_file(&timing_key, &timing).await {
                Ok(()) => {
                    serde_json::from_slice(&tokio::fs::read(&timing).await.unwrap_or_default()).ok()
                }
                Err(_) => None,
            };
            return Ok(Some(Said {
                file,
                seconds,
                alignment,
            }));
        }
        let speech = self
            .ctx
            .step(self.speaker.speak(&req, &call, self.work, &name))
            .await?;
        // The price is recorded first: a run that dies before the speech is
        // stored buys it again, and both purchases are counted.
        let step = format!("speech-{print}");
        let done = steps::Done {
            name: &step,
            provider,
            remote_id: None,
            storage_key: Some(&audio_key),
            cost: Money::new(speech.cost),
            data: json!({"scene": scene.id, "speech": speech.metadata, "seconds": speech.seconds}),
        };
        steps::done(&self.ctx.state.db, &self.ctx.row, done).await?;
        if let Some(alignment) = &speech.alignment {
            let bytes = serde_json::to_vec(alignment).unwrap_or_default();
            store
                .put_bytes(&timing_key, bytes, "application/json")
                .await?;
        }
        store
            .put_file(&audio_key, &speech.path, "audio/wav")
            .await?;
        crate::metrics::provider_spend(provider, speech.cost);
        Ok(Some(Said {
            file: speech.path,
            seconds: speech.seconds,
            alignment: speech.alignment,
        }))
    }
}
