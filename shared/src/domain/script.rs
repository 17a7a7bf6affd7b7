//! Scenes written by a language model: the request (messages and a strict JSON
//! schema for structured output), and the validation of the answer into a story
//! bible and planned scenes. The rule-based planner ([`super::plan_scenes`]) stays
//! the offline default; an invalid answer gets one repair request with the reason.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::planning::seed_for;
use super::{
    CameraMotion, Language, NARRATION_MAX_CHARS, PlannedScene, SCENE_SECONDS, SceneDuration,
    ScenePrompt, StoryDuration,
};

/// The longest scene a model may plan, in seconds (as the rule planner's).
pub const MAX_SCENE_SECONDS: u32 = 13;

/// What keeps a story's pictures consistent from scene to scene: its characters,
/// its setting and its palette, repeated in every scene's prompt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StoryBible {
    pub characters: Vec<Character>,
    pub setting: String,
    pub palette: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Character {
    pub name: String,
    /// How the character looks, in words an image model can follow.
    pub look: String,
}

/// The story as the planner is told it.
#[derive(Debug, Clone, Copy)]
pub struct Brief<'a> {
    pub title: &'a str,
    pub synopsis: &'a str,
    pub style: &'a str,
    pub duration: StoryDuration,
    pub language: Language,
}

impl Brief<'_> {
    /// How many scenes the rule planner would make: the model is asked for as many.
    pub fn target_scenes(&self) -> u32 {
        (self.duration.seconds() / SCENE_SECONDS).max(1)
    }

    /// The fewest and most scenes accepted.
    pub fn scene_range(&self) -> (u32, u32) {
        let total = self.duration.seconds();
        let min = total.div_ceil(MAX_SCENE_SECONDS).max(1);
        (min, (total / 3).max(min))
    }
}

/// The `response_format` of the request: a strict JSON schema named `scene_plan`.
pub fn response_format(brief: &Brief<'_>) -> Value {
    let (min, max) = brief.scene_range();
    let text = || json!({"type": "string"});
    let object = |properties: Value| {
        let required: Vec<String> = properties
            .as_object()
            .map(|p| p.keys().cloned().collect())
            .unwrap_or_default();
        json!({"type": "object", "additionalProperties": false,
               "required": required, "properties": properties})
    };
    let cameras: Vec<&str> = CameraMotion::ALL.iter().map(|c| c.as_str()).collect();
    let schema = object(json!({
        "bible": object(json!({
            "characters": {"type": "array", "items": object(json!({"name": text(), "look": text()}))},
            "setting": text(),
            "palette": text(),
        })),
        "scenes": {
            "type": "array", "minItems": min, "maxItems": max,
            "items": object(json!({
                "prompt": text(),
                "narration": text(),
                "camera_motion": {"type": "string", "enum": cameras},
                "duration_seconds": {"type": "integer", "minimum": 1, "maximum": MAX_SCENE_SECONDS},
            })),
        },
    }));
    json!({"type": "json_schema", "json_schema": {
        "name": "scene_plan", "strict": true,
        "description": "A story bible and the story's scenes, in order.",
        "schema": schema}})
}

/// The system and user messages of the first request.
pub fn messages(brief: &Brief<'_>) -> Vec<Value> {
    let (min, max) = brief.scene_range();
    let system = format!(
        "You plan short generated videos. Write a story bible (characters with how they look, \
         the setting, a colour palette) and then the scenes in order. Each scene has a visual \
         prompt for an image model that repeats the bible's details (the characters' looks, the \
         setting, the palette) so every scene looks like the same film, a narration line the \
         narrator says over the scene (in the story's language, at most {NARRATION_MAX_CHARS} \
         characters, about 2.5 words per second of the scene), a camera motion and a duration \
         in whole seconds from 1 to {MAX_SCENE_SECONDS}. Use {target} scenes ({min} to {max} are \
         accepted) whose durations add up to exactly {total} seconds. Answer JSON only.",
        target = brief.target_scenes(),
        total = brief.duration.seconds(),
    );
    let user = json!({
        "title": brief.title,
        "synopsis": brief.synopsis,
        "style": brief.style,
        "duration_seconds": brief.duration.seconds(),
        "language": brief.language.as_str(),
    });
    vec![
        json!({"role": "system", "content": system}),
        json!({"role": "user", "content": user.to_string()}),
    ]
}

/// The messages of the one repair request: the first ones, the invalid answer (if
/// it was not cut off) and why it was refused.
pub fn repair(mut messages: Vec<Value>, answer: Option<&str>, reason: &str) -> Vec<Value> {
    if let Some(answer) = answer {
        messages.push(json!({"role": "assistant", "content": answer}));
    }
    messages.push(json!({"role": "user", "content": format!(
        "That plan cannot be used: {reason}. Answer the whole plan again, corrected, as JSON \
         following the schema."
    )}));
    messages
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Answer {
    bible: StoryBible,
    scenes: Vec<AnswerScene>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AnswerScene {
    prompt: String,
    narration: String,
    camera_motion: String,
    duration_seconds: i64,
}

/// A validated plan.
#[derive(Debug, Clone, PartialEq)]
pub struct Script {
    pub bible: StoryBible,
    pub scenes: Vec<PlannedScene>,
}

fn within(what: &str, text: &str, max: usize) -> Result<(), String> {
    let n = text.chars().count();
    if n > max {
        return Err(format!("{what} has {n} characters, more than {max}"));
    }
    if text.contains('\0') {
        return Err(format!("{what} contains NUL"));
    }
    Ok(())
}

/// The model's answer, checked against the brief: valid JSON of the schema, the
/// scene count in range, durations adding up to the story's, every text within its
/// limit. The error is the reason given back in the repair request.
pub fn parse(content: &str, brief: &Brief<'_>) -> Result<Script, String> {
    let answer: Answer = serde_json::from_str(content.trim())
        .map_err(|e| format!("the answer is not JSON of the schema ({e})"))?;
    let (min, max) = brief.scene_range();
    let count = answer.scenes.len() as u32;
    if !(min..=max).contains(&count) {
        return Err(format!(
            "it has {count} scenes; between {min} and {max} are needed"
        ));
    }
    let total: i64 = answer.scenes.iter().map(|s| s.duration_seconds).sum();
    let wanted = i64::from(brief.duration.seconds());
    if total != wanted {
        return Err(format!(
            "the scenes' durations add up to {total} seconds, not the story's {wanted}"
        ));
    }
    if answer.bible.characters.len() > 20 {
        return Err("the bible names more than 20 characters".into());
    }
    for c in &answer.bible.characters {
        within("a character's name", &c.name, 100)?;
        within("a character's look", &c.look, 500)?;
    }
    within("the setting", &answer.bible.setting, 1000)?;
    within("the palette", &answer.bible.palette, 300)?;
    let style: String = brief
        .style
        .chars()
        .take(ScenePrompt::MAX_STYLE_CHARS)
        .collect();
    let mut scenes = Vec::with_capacity(answer.scenes.len());
    for (i, s) in answer.scenes.into_iter().enumerate() {
        let n = i + 1;
        let seconds = s.duration_seconds;
        if !(1..=i64::from(MAX_SCENE_SECONDS)).contains(&seconds) {
            return Err(format!(
                "scene {n} lasts {seconds} seconds; 1 to {MAX_SCENE_SECONDS} are allowed"
            ));
        }
        let text = s.prompt.trim().to_string();
        if text.is_empty() {
            return Err(format!("scene {n} has an empty prompt"));
        }
        within(
            &format!("scene {n}'s prompt"),
            &text,
            ScenePrompt::MAX_TEXT_CHARS,
        )?;
        within(
            &format!("scene {n}'s narration"),
            &s.narration,
            NARRATION_MAX_CHARS,
        )?;
        let camera_motion: CameraMotion = s.camera_motion.parse().map_err(|_| {
            format!(
                "scene {n} has an unknown camera motion {:?}",
                s.camera_motion
            )
        })?;
        let duration = SceneDuration::new(seconds).map_err(|e| format!("scene {n}: {}", e.0))?;
        scenes.push(PlannedScene {
            position: n as u32,
            duration,
            narration: s.narration.trim().to_string(),
            prompt: ScenePrompt {
                seed: seed_for(&text, n as u32 - 1),
                text,
                negative_prompt: "blurry, low quality, watermark, text".into(),
                style: style.clone(),
                camera_motion,
            },
        });
    }
    Ok(Script {
        bible: answer.bible,
        scenes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn brief(seconds: i64) -> Brief<'static> {
        Brief {
            title: "The Lighthouse",
            synopsis: "A keeper meets a storm.",
            style: "cinematic",
            duration: StoryDuration::new(seconds).unwrap(),
            language: Language::English,
        }
    }

    fn answer(durations: &[i64]) -> String {
        let scenes: Vec<Value> = durations
            .iter()
            .map(|d| json!({"prompt": "An old keeper, red coat, grey sea", "narration": "The storm came.",
                            "camera_motion": "zoom_in", "duration_seconds": d}))
            .collect();
        json!({"bible": {"characters": [{"name": "Keeper", "look": "old, red coat"}],
                         "setting": "a lighthouse", "palette": "grey and red"},
               "scenes": scenes})
        .to_string()
    }

    #[test]
    fn a_valid_answer_becomes_scenes_and_a_bible() {
        let script = parse(&answer(&[7, 7, 7]), &brief(21)).unwrap();
        assert_eq!(script.scenes.len(), 3);
        assert_eq!(script.bible.characters[0].name, "Keeper");
        assert_eq!(script.scenes[2].position, 3);
        assert_eq!(script.scenes[0].prompt.camera_motion, CameraMotion::ZoomIn);
        assert_eq!(script.scenes[0].prompt.style, "cinematic");
        assert!(script.scenes.iter().all(|s| s.prompt.validate().is_ok()));
    }

    #[test]
    fn wrong_sums_counts_lengths_and_json_are_refused_with_a_reason() {
        let err = parse(&answer(&[7, 7, 6]), &brief(21)).unwrap_err();
        assert!(
            err.contains("add up to 20 seconds, not the story's 21"),
            "{err}"
        );
        let err = parse(&answer(&[21]), &brief(21)).unwrap_err();
        assert!(err.contains("1 scenes; between 2 and 7"), "{err}");
        let err = parse("not json", &brief(21)).unwrap_err();
        assert!(err.contains("not JSON"), "{err}");
        let long = answer(&[7, 7, 7]).replace("The storm came.", &"a".repeat(1001));
        assert!(parse(&long, &brief(21)).unwrap_err().contains("narration"));
    }

    #[test]
    fn the_schema_is_strict() {
        fn strict(v: &Value) {
            if v["type"] == "object" {
                assert_eq!(v["additionalProperties"], false, "{v}");
                let props: Vec<&String> = v["properties"].as_object().unwrap().keys().collect();
                let required: Vec<&str> = v["required"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|r| r.as_str().unwrap())
                    .collect();
                assert_eq!(props.len(), required.len());
                for p in v["properties"].as_object().unwrap().values() {
                    strict(p);
                }
            }
            if let Some(items) = v.get("items") {
                strict(items);
            }
        }
        let format = response_format(&brief(60));
        assert_eq!(format["json_schema"]["name"], "scene_plan");
        strict(&format["json_schema"]["schema"]);
        assert_eq!(
            format["json_schema"]["schema"]["properties"]["scenes"]["minItems"],
            5
        );
    }
}
