//! Scenes written by a language model over an OpenAI-compatible Chat Completions
//! API, with a strict JSON schema: a story bible and, per scene, a visual prompt, a
//! narration line, a camera motion and a duration. An answer that fails validation
//! gets exactly one repair request naming the problem; a second invalid answer fails
//! the job with the reason. Each answer is recorded as a step of the job with what
//! its tokens cost, so a run that is retried or re-delivered reads it back instead
//! of buying it again. A 429 is waited out like every provider's.

use ai_video_shared::db::Money;
use ai_video_shared::db::entities::{step, story};
use ai_video_shared::domain::script::{self, Brief, Script};
use ai_video_shared::domain::{Provider, StoryDuration};
use ai_video_shared::store::steps;
use serde_json::{Value, json};

use super::calls::Configured;
use super::{JobCtx, JobError};
use crate::providers::{ChatRequest, OpenAi};

/// The story's scenes and bible, as the model writes them.
pub async fn write_script(
    ctx: &JobCtx,
    story: &story::Model,
    duration: StoryDuration,
) -> Result<Script, JobError> {
    let chat = ctx.state.providers.chat()?;
    let configured = Configured::load(ctx, Provider::OpenAi).await?;
    let earlier = steps::of_job(&ctx.state.db, &ctx.row).await?;
    let brief = Brief {
        title: &story.title,
        synopsis: &story.synopsis,
        style: &story.style,
        duration,
        language: story.language,
    };
    let format = script::response_format(&brief);
    let asker = Asker {
        ctx,
        chat: &chat,
        configured: &configured,
        earlier: &earlier,
        format: &format,
    };
    let messages = script::messages(&brief);
    let first = asker.answer("plan", &messages).await?;
    let reason = match checked(first.as_deref(), &brief) {
        Ok(script) => return Ok(script),
        Err(reason) => reason,
    };
    ctx.log(&format!(
        "the plan was invalid ({reason}); asking once to repair it"
    ))
    .await;
    let messages = script::repair(messages, first.as_deref(), &reason);
    let second = asker.answer("plan-repair", &messages).await?;
    checked(second.as_deref(), &brief).map_err(|again| {
        JobError::Permanent(format!(
            "the planner answered an invalid plan twice: first {reason}; then {again}"
        ))
    })
}

fn checked(content: Option<&str>, brief: &Brief<'_>) -> Result<Script, String> {
    match content {
        Some(content) => script::parse(content, brief),
        None => Err("the answer was cut off at the token limit; answer more briefly".into()),
    }
}

struct Asker<'a> {
    ctx: &'a JobCtx,
    chat: &'a OpenAi,
    configured: &'a Configured,
    earlier: &'a [step::Model],
    format: &'a Value,
}

impl Asker<'_> {
    /// The answer recorded under `name` by an earlier run, or a new one, recorded
    /// with its cost before it is used.
    async fn answer(&self, name: &str, messages: &[Value]) -> Result<Option<String>, JobError> {
        if let Some(done) = steps::find(self.earlier, name, steps::DONE) {
            let data = done.data.clone().unwrap_or_default();
            return Ok(data["content"].as_str().map(str::to_string));
        }
        let request = ChatRequest {
            messages,
            response_format: self.format,
        };
        let call = self.configured.call(self.ctx);
        let answer = self.ctx.step(self.chat.complete(&request, &call)).await?;
        let done = steps::Done {
            name,
            provider: Provider::OpenAi,
            remote_id: None,
            storage_key: None,
            cost: Money::new(answer.cost),
            data: json!({
                "content": answer.content,
                "model": answer.model,
                "prompt_tokens": answer.prompt_tokens,
                "completion_tokens": answer.completion_tokens,
            }),
        };
        steps::done(&self.ctx.state.db, &self.ctx.row, done).await?;
        crate::metrics::provider_spend(Provider::OpenAi, answer.cost);
        self.ctx
            .log(&format!(
                "{name}: {} prompt and {} completion tokens of {}, {}",
                answer.prompt_tokens, answer.completion_tokens, answer.model, answer.cost
            ))
            .await;
        Ok(answer.content)
    }
}
