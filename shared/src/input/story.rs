//! Bodies of `stories/`: a new story, a change to one, a transition and the options
//! of work on it.

use serde::Deserialize;
use utoipa::ToSchema;

use super::{
    Checked, FieldErrors, FilmIn, ImageProvider, Refusal, VideoProvider, nonblank,
    nonblank_or_null, optional_object, text, text_or_null,
};
use crate::domain::{
    AspectRatio, Language, Priority, Provider, ProviderRole, StoryDuration, StoryStatus,
};
use crate::store::stories::{NewStory, StoryPatch};

const TITLE_MAX: usize = 200;
const SYNOPSIS_MAX: usize = 10_000;
const STYLE_MAX: usize = 64;
const REASON_MAX: usize = 500;

/// A new story.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StoryIn {
    /// 1 to 200 characters, not blank.
    #[schema(schema_with = nonblank::<TITLE_MAX>)]
    pub title: String,
    /// What happens; planning derives scene prompts from its sentences.
    #[serde(default)]
    #[schema(schema_with = text::<SYNOPSIS_MAX>)]
    pub synopsis: String,
    /// Visual style, e.g. `cinematic`; default `cinematic`.
    #[schema(schema_with = text_or_null::<STYLE_MAX>)]
    pub style: Option<String>,
    /// 1 to 600 seconds.
    #[schema(minimum = 1, maximum = 600)]
    pub duration_seconds: i64,
    /// Default `16:9`.
    #[schema(value_type = Option<AspectRatio>)]
    pub aspect_ratio: Option<Checked<AspectRatio>>,
    /// The language the narrator speaks; default `en`.
    #[schema(value_type = Option<Language>)]
    pub language: Option<Checked<Language>>,
    /// Narration, burned captions and transitions; narration and captions are on by
    /// default.
    #[serde(default, deserialize_with = "optional_object")]
    pub film: Option<FilmIn>,
    /// Default from `DEFAULT_IMAGE_PROVIDER`.
    #[schema(value_type = Option<ImageProvider>)]
    pub image_provider: Option<Checked<Provider>>,
    /// Default from `DEFAULT_VIDEO_PROVIDER`.
    #[schema(value_type = Option<VideoProvider>)]
    pub video_provider: Option<Checked<Provider>>,
}

/// Changes to a story. Only the title may change after planning started.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StoryPatchIn {
    #[schema(schema_with = nonblank_or_null::<TITLE_MAX>)]
    pub title: Option<String>,
    #[schema(schema_with = text_or_null::<SYNOPSIS_MAX>)]
    pub synopsis: Option<String>,
    #[schema(schema_with = text_or_null::<STYLE_MAX>)]
    pub style: Option<String>,
    #[schema(minimum = 1, maximum = 600)]
    pub duration_seconds: Option<i64>,
    #[schema(value_type = Option<AspectRatio>)]
    pub aspect_ratio: Option<Checked<AspectRatio>>,
    #[schema(value_type = Option<Language>)]
    pub language: Option<Checked<Language>>,
    /// Replaces the finishing options as a whole (members left out take their
    /// defaults).
    #[serde(default, deserialize_with = "optional_object")]
    pub film: Option<FilmIn>,
    #[schema(value_type = Option<ImageProvider>)]
    pub image_provider: Option<Checked<Provider>>,
    #[schema(value_type = Option<VideoProvider>)]
    pub video_provider: Option<Checked<Provider>>,
    /// The version the client last saw; the update is refused (409) if the story
    /// moved on since.
    pub version: Option<i32>,
}

/// The choice fields of a story body, each one checked (a provider also for the
/// role it is chosen for).
fn check_choices(
    errors: &mut FieldErrors,
    aspect_ratio: Option<Checked<AspectRatio>>,
    image_provider: Option<Checked<Provider>>,
    video_provider: Option<Checked<Provider>>,
) -> (Option<AspectRatio>, Option<Provider>, Option<Provider>) {
    let mut provider = |field: &str, role: ProviderRole, value: Option<Checked<Provider>>| {
        let chosen = errors.take(field, value?)?;
        errors.check(field, chosen.for_role(role))
    };
    let image = provider("image_provider", ProviderRole::Image, image_provider);
    let video = provider("video_provider", ProviderRole::Video, video_provider);
    let aspect_ratio = aspect_ratio.and_then(|v| errors.take("aspect_ratio", v));
    (aspect_ratio, image, video)
}

impl TryFrom<StoryIn> for NewStory {
    type Error = Refusal;

    /// The providers left out stay `None`, for the deployment's defaults.
    fn try_from(input: StoryIn) -> Result<Self, Refusal> {
        let mut errors = FieldErrors::default();
        errors.text("title", &input.title, TITLE_MAX, true);
        errors.text("synopsis", &input.synopsis, SYNOPSIS_MAX, false);
        let style = input.style.unwrap_or_else(|| "cinematic".into());
        errors.text("style", &style, STYLE_MAX, false);
        let duration = errors.check(
            "duration_seconds",
            StoryDuration::new(input.duration_seconds),
        );
        let (aspect_ratio, image_provider, video_provider) = check_choices(
            &mut errors,
            input.aspect_ratio,
            input.image_provider,
            input.video_provider,
        );
        let language = input.language.and_then(|l| errors.take("language", l));
        let film = input.film.map(|f| f.check(&mut errors)).unwrap_or_default();
        errors.finish()?;
        Ok(NewStory {
            film,
            language: language.unwrap_or_default(),
            title: input.title.trim().to_string(),
            synopsis: input.synopsis,
            style,
            duration: duration.expect("checked above"),
            aspect_ratio: aspect_ratio.unwrap_or_default(),
            image_provider,
            video_provider,
        })
    }
}

impl TryFrom<StoryPatchIn> for StoryPatch {
    type Error = Refusal;

    fn try_from(input: StoryPatchIn) -> Result<Self, Refusal> {
        let mut errors = FieldErrors::default();
        if let Some(t) = &input.title {
            errors.text("title", t, TITLE_MAX, true);
        }
        if let Some(s) = &input.synopsis {
            errors.text("synopsis", s, SYNOPSIS_MAX, false);
        }
        if let Some(s) = &input.style {
            errors.text("style", s, STYLE_MAX, false);
        }
        let duration = input
            .duration_seconds
            .and_then(|d| errors.check("duration_seconds", StoryDuration::new(d)));
        let (aspect_ratio, image_provider, video_provider) = check_choices(
            &mut errors,
            input.aspect_ratio,
            input.image_provider,
            input.video_provider,
        );
        let language = input.language.and_then(|l| errors.take("language", l));
        let film = input.film.map(|f| f.check(&mut errors));
        errors.finish()?;
        Ok(StoryPatch {
            film,
            language,
            title: input.title.map(|t| t.trim().to_string()),
            synopsis: input.synopsis,
            style: input.style,
            duration,
            aspect_ratio,
            image_provider,
            video_provider,
            expected_version: input.version,
        })
    }
}

/// A requested status change.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransitionIn {
    /// The target status (`status` and `target_status` are accepted too).
    #[serde(alias = "status", alias = "target_status")]
    #[schema(value_type = StoryStatus)]
    pub to: Checked<StoryStatus>,
    /// Recorded in the transition log; at most 500 characters.
    #[schema(schema_with = text_or_null::<REASON_MAX>)]
    pub reason: Option<String>,
    /// Priority of the job the move queues, 1 (highest) to 10; default 5.
    #[schema(value_type = Option<u32>, minimum = 1, maximum = 10)]
    pub priority: Option<Checked<Priority>>,
}

/// Options of `generate_preview` and `render_final`; the body may be omitted.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WorkIn {
    /// 1 (highest) to 10; default 5.
    #[schema(value_type = Option<u32>, minimum = 1, maximum = 10)]
    pub priority: Option<Checked<Priority>>,
    #[schema(schema_with = text_or_null::<REASON_MAX>)]
    pub reason: Option<String>,
}

/// How to queue work: its priority and the reason to log.
#[derive(Debug, Clone, Default)]
pub struct Work {
    pub priority: Option<Priority>,
    pub reason: Option<String>,
}

/// A checked status change.
#[derive(Debug, Clone)]
pub struct Transition {
    pub to: StoryStatus,
    pub work: Work,
}

fn work(
    errors: &mut FieldErrors,
    priority: Option<Checked<Priority>>,
    reason: Option<String>,
) -> Work {
    let priority = priority.and_then(|p| errors.take("priority", p));
    if let Some(r) = &reason {
        errors.text("reason", r, REASON_MAX, false);
    }
    Work { priority, reason }
}

impl TryFrom<WorkIn> for Work {
    type Error = Refusal;

    fn try_from(input: WorkIn) -> Result<Self, Refusal> {
        let mut errors = FieldErrors::default();
        let work = work(&mut errors, input.priority, input.reason);
        errors.finish()?;
        Ok(work)
    }
}

impl TryFrom<TransitionIn> for Transition {
    type Error = Refusal;

    fn try_from(input: TransitionIn) -> Result<Self, Refusal> {
        let mut errors = FieldErrors::default();
        let to = errors.take("to", input.to);
        let work = work(&mut errors, input.priority, input.reason);
        errors.finish()?;
        Ok(Transition {
            to: to.expect("checked above"),
            work,
        })
    }
}
