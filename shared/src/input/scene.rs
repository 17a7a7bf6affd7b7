//! Bodies of `scenes/`: scenes added in bulk, a one-scene generation and a reorder.

use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{
    Checked, FieldErrors, Refusal, nonblank, object, objects, optional_objects, text, text_or_null,
};
use crate::domain::{
    CameraMotion, NARRATION_MAX_CHARS, Priority, RenderQuality, SceneDuration, ScenePrompt,
};
use crate::store::scenes::{NewPrompt, NewScene, Reorder, ScenePatch};

/// Most scenes accepted in one `bulk_create`.
const BULK_MAX: usize = 200;

/// A scene's prompt.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PromptIn {
    /// 1 to 2000 characters, any language; not blank.
    #[schema(schema_with = nonblank::<{ ScenePrompt::MAX_TEXT_CHARS }>)]
    pub text: String,
    #[serde(default)]
    #[schema(schema_with = text::<{ ScenePrompt::MAX_TEXT_CHARS }>)]
    pub negative_prompt: String,
    /// Default: the story's style.
    #[schema(schema_with = text_or_null::<{ ScenePrompt::MAX_STYLE_CHARS }>)]
    pub style: Option<String>,
    /// Default `static`.
    #[schema(value_type = Option<CameraMotion>)]
    pub camera_motion: Option<Checked<CameraMotion>>,
    /// 0 to 4294967294; default 0.
    #[serde(default)]
    #[schema(value_type = u32, minimum = 0, maximum = 4294967294_u32)]
    pub seed: i64,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SceneIn {
    /// Where to put the scene (1-based); default: after the last one.
    #[schema(value_type = Option<u32>, minimum = 1, maximum = 4294967295_u32)]
    pub position: Option<i64>,
    /// 1 to 30 seconds.
    #[schema(minimum = 1, maximum = 30)]
    pub duration_seconds: i64,
    #[serde(deserialize_with = "object")]
    pub prompt: PromptIn,
    /// What the narrator says over the scene, at most 1000 characters; default
    /// silence.
    #[serde(default)]
    #[schema(schema_with = text::<NARRATION_MAX_CHARS>)]
    pub narration: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkCreateIn {
    /// The story to add to (`story_id` is accepted too); it must be a draft.
    #[serde(alias = "story_id")]
    pub story: Uuid,
    /// 1 to 200 scenes, created together or not at all.
    #[schema(min_items = 1, max_items = 200)]
    #[serde(deserialize_with = "objects")]
    pub scenes: Vec<SceneIn>,
}

/// Checked scenes for one story.
#[derive(Debug)]
pub struct BulkCreate {
    pub story: Uuid,
    pub scenes: Vec<NewScene>,
}

/// One scene of a bulk body, its fields named `scenes[i].…`.
fn scene(errors: &mut FieldErrors, i: usize, s: SceneIn) -> Option<NewScene> {
    let f = |name: &str| format!("scenes[{i}].{name}");
    let position = match s.position {
        None => None,
        Some(p) if (1..=i64::from(u32::MAX)).contains(&p) => Some(p as u32),
        Some(_) => {
            errors.add(f("position"), "Positions start at 1.");
            None
        }
    };
    let duration = errors.check(
        &f("duration_seconds"),
        SceneDuration::new(s.duration_seconds),
    );
    errors.text(&f("narration"), &s.narration, NARRATION_MAX_CHARS, false);
    let p = s.prompt;
    let camera_motion = p
        .camera_motion
        .and_then(|m| errors.take(&f("prompt.camera_motion"), m));
    let seed = match u32::try_from(p.seed) {
        Ok(seed) if seed <= ScenePrompt::MAX_SEED => seed,
        _ => {
            errors.add(
                f("prompt.seed"),
                format!("Must be between 0 and {}.", ScenePrompt::MAX_SEED),
            );
            0
        }
    };
    errors.text(
        &f("prompt.text"),
        &p.text,
        ScenePrompt::MAX_TEXT_CHARS,
        true,
    );
    errors.text(
        &f("prompt.negative_prompt"),
        &p.negative_prompt,
        ScenePrompt::MAX_TEXT_CHARS,
        false,
    );
    if let Some(style) = &p.style {
        errors.text(
            &f("prompt.style"),
            style,
            ScenePrompt::MAX_STYLE_CHARS,
            false,
        );
    }
    Some(NewScene {
        narration: s.narration,
        position,
        duration: duration?,
        prompt: NewPrompt {
            text: p.text,
            negative_prompt: p.negative_prompt,
            style: p.style,
            camera_motion: camera_motion.unwrap_or_default(),
            seed,
        },
    })
}

impl TryFrom<BulkCreateIn> for BulkCreate {
    type Error = Refusal;

    fn try_from(input: BulkCreateIn) -> Result<Self, Refusal> {
        if input.scenes.is_empty() || input.scenes.len() > BULK_MAX {
            return Err(Refusal::field(
                "scenes",
                format!(
                    "Send between 1 and {BULK_MAX} scenes (got {}).",
                    input.scenes.len()
                ),
            ));
        }
        let mut errors = FieldErrors::default();
        let scenes: Vec<NewScene> = input
            .scenes
            .into_iter()
            .enumerate()
            .filter_map(|(i, s)| scene(&mut errors, i, s))
            .collect();
        errors.finish()?;
        Ok(BulkCreate {
            story: input.story,
            scenes,
        })
    }
}

/// Changes to a scene while its story is a draft or planned: any member of its
/// prompt, and its narration.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScenePatchIn {
    #[serde(default, deserialize_with = "super::optional_object")]
    pub prompt: Option<PromptPatchIn>,
    /// At most 1000 characters; empty for silence.
    #[schema(schema_with = text_or_null::<NARRATION_MAX_CHARS>)]
    pub narration: Option<String>,
}

/// The members of a prompt to change.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PromptPatchIn {
    #[schema(schema_with = super::nonblank_or_null::<{ ScenePrompt::MAX_TEXT_CHARS }>)]
    pub text: Option<String>,
    #[schema(schema_with = text_or_null::<{ ScenePrompt::MAX_TEXT_CHARS }>)]
    pub negative_prompt: Option<String>,
    #[schema(schema_with = text_or_null::<{ ScenePrompt::MAX_STYLE_CHARS }>)]
    pub style: Option<String>,
    #[schema(value_type = Option<CameraMotion>)]
    pub camera_motion: Option<Checked<CameraMotion>>,
    #[schema(value_type = Option<u32>, minimum = 0, maximum = 4294967294_u32)]
    pub seed: Option<i64>,
}

impl TryFrom<ScenePatchIn> for ScenePatch {
    type Error = Refusal;

    fn try_from(input: ScenePatchIn) -> Result<Self, Refusal> {
        let mut errors = FieldErrors::default();
        let mut patch = ScenePatch::default();
        if let Some(n) = &input.narration {
            errors.text("narration", n, NARRATION_MAX_CHARS, false);
        }
        patch.narration = input.narration;
        if let Some(p) = input.prompt {
            let texts = [
                ("prompt.text", &p.text, ScenePrompt::MAX_TEXT_CHARS, true),
                (
                    "prompt.negative_prompt",
                    &p.negative_prompt,
                    ScenePrompt::MAX_TEXT_CHARS,
                    false,
                ),
                (
                    "prompt.style",
                    &p.style,
                    ScenePrompt::MAX_STYLE_CHARS,
                    false,
                ),
            ];
            for (field, value, max, required) in texts {
                if let Some(v) = value {
                    errors.text(field, v, max, required);
                }
            }
            patch.camera_motion = p
                .camera_motion
                .and_then(|m| errors.take("prompt.camera_motion", m));
            patch.seed = match p.seed.map(u32::try_from) {
                None => None,
                Some(Ok(seed)) if seed <= ScenePrompt::MAX_SEED => Some(seed),
                Some(_) => {
                    errors.add(
                        "prompt.seed",
                        format!("Must be between 0 and {}.", ScenePrompt::MAX_SEED),
                    );
                    None
                }
            };
            patch.text = p.text;
            patch.negative_prompt = p.negative_prompt;
            patch.style = p.style;
        }
        errors.finish()?;
        Ok(patch)
    }
}

/// Options of a one-scene generation; the body may be omitted.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GenerateSceneIn {
    /// `preview` (default) or `final`.
    #[schema(value_type = Option<RenderQuality>)]
    pub quality: Option<Checked<RenderQuality>>,
    #[schema(value_type = Option<u32>, minimum = 1, maximum = 10)]
    pub priority: Option<Checked<Priority>>,
}

/// A checked one-scene generation.
#[derive(Debug, Clone, Copy)]
pub struct GenerateScene {
    pub quality: RenderQuality,
    pub priority: Option<Priority>,
}

impl TryFrom<GenerateSceneIn> for GenerateScene {
    type Error = Refusal;

    fn try_from(input: GenerateSceneIn) -> Result<Self, Refusal> {
        let mut errors = FieldErrors::default();
        let priority = input.priority.and_then(|p| errors.take("priority", p));
        let quality = input.quality.and_then(|q| errors.take("quality", q));
        errors.finish()?;
        Ok(GenerateScene {
            quality: quality.unwrap_or(RenderQuality::Preview),
            priority,
        })
    }
}

/// One scene's new position.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PositionIn {
    pub scene_id: Uuid,
    #[schema(value_type = u32, minimum = 1, maximum = 4294967295_u32)]
    pub position: i64,
}

/// Either `position` (move this scene there; the scenes in between shift) or
/// `positions` (place several scenes of the story at once; the rest keep their order).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReorderIn {
    pub position: Option<i64>,
    #[serde(default, deserialize_with = "optional_objects")]
    pub positions: Option<Vec<PositionIn>>,
}

/// Exactly one of the two forms, as the reorder accepts them (a null member is an
/// absent one).
impl utoipa::PartialSchema for ReorderIn {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{
            AdditionalProperties, ArrayBuilder, ObjectBuilder, OneOfBuilder, Type,
        };
        let null = || ObjectBuilder::new().schema_type(Type::Null);
        let form = |name: &str, value: utoipa::openapi::RefOr<_>, other: &str, doc: &str| {
            ObjectBuilder::new()
                .description(Some(doc))
                .property(name, value)
                .required(name)
                .property(other, null())
                .additional_properties(Some(
                    AdditionalProperties::<utoipa::openapi::schema::Schema>::FreeForm(false),
                ))
        };
        let position = ObjectBuilder::new()
            .schema_type(Type::Integer)
            .minimum(Some(1))
            .maximum(Some(u32::MAX));
        let positions = ArrayBuilder::new()
            .items(PositionIn::schema())
            .min_items(Some(1));
        OneOfBuilder::new()
            .description(Some(
                "Either `position` or a non-empty `positions` list, not both.",
            ))
            .item(form(
                "position",
                position.into(),
                "positions",
                "Move this scene to `position`; the scenes in between shift.",
            ))
            .item(form(
                "positions",
                positions.into(),
                "position",
                "Place several scenes of the story at once; the rest keep their order.",
            ))
            .into()
    }
}

impl ToSchema for ReorderIn {}

fn position(field: &str, p: i64) -> Result<u32, Refusal> {
    u32::try_from(p)
        .ok()
        .filter(|p| *p >= 1)
        .ok_or_else(|| Refusal::field(field, "Positions start at 1."))
}

impl TryFrom<ReorderIn> for Reorder {
    type Error = Refusal;

    fn try_from(input: ReorderIn) -> Result<Self, Refusal> {
        match (input.position, input.positions) {
            (Some(p), None) => Ok(Reorder::MoveTo(position("position", p)?)),
            (None, Some(list)) if !list.is_empty() => Ok(Reorder::Assign(
                list.into_iter()
                    .enumerate()
                    .map(|(i, item)| {
                        Ok((
                            item.scene_id,
                            position(&format!("positions[{i}].position"), item.position)?,
                        ))
                    })
                    .collect::<Result<_, Refusal>>()?,
            )),
            _ => Err(Refusal::field(
                "non_field_errors",
                "Send either \"position\" or a non-empty \"positions\" list.",
            )),
        }
    }
}
