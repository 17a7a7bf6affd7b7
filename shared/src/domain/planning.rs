//! Automatic scene planning: a story without scenes is split into 7-second scenes.
//!
//! The seed's rule is `duration_seconds / 7` scenes, at least one. The seconds that
//! division leaves over are spread one by one over the first scenes, so the scenes
//! always add up to the story's duration and differ by at most one second.
//! Prompts come from the synopsis: its sentences are dealt out in order, so every
//! scene tells the next part of the story.

use super::{CameraMotion, SceneDuration, ScenePrompt, StoryDuration};

/// Target length of an automatically planned scene.
pub const SCENE_SECONDS: u32 = 7;

/// A scene as planning proposes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedScene {
    /// 1-based, dense.
    pub position: u32,
    pub duration: SceneDuration,
    pub prompt: ScenePrompt,
    /// What the narrator says: the scene's sentences, each said once (a sentence
    /// shared by several scenes is said over the first of them).
    pub narration: String,
}

/// Plans scenes for a story of `duration` from its title and synopsis.
pub fn plan_scenes(
    duration: StoryDuration,
    title: &str,
    synopsis: &str,
    style: &str,
) -> Vec<PlannedScene> {
    let total = duration.seconds();
    let count = (total / SCENE_SECONDS).max(1);
    let (base, extra) = (total / count, total % count);
    let sentences = sentences(synopsis);
    let sentences = if sentences.is_empty() {
        vec![title.trim().to_string()]
    } else {
        sentences
    };
    let style: String = style.chars().take(ScenePrompt::MAX_STYLE_CHARS).collect();

    (0..count)
        .map(|i| {
            let seconds = base + u32::from(i < extra);
            let text = scene_text(&sentences, i as usize, count as usize);
            let narration = scene_narration(&sentences, i as usize, count as usize);
            PlannedScene {
                narration,
                position: i + 1,
                // At most 13 s for stories of 7 s or more, the story's own length
                // below that: always inside SceneDuration's range.
                duration: SceneDuration::new(i64::from(seconds))
                    .expect("planned scene durations stay within 1..=13 seconds"),
                prompt: ScenePrompt {
                    seed: seed_for(&text, i),
                    text,
                    negative_prompt: "blurry, low quality, watermark, text".into(),
                    style: style.clone(),
                    camera_motion: camera_for(i),
                },
            }
        })
        .collect()
}

/// The sentences of the synopsis dealt to scene `i` of `count`, in order; when there
/// are fewer sentences than scenes, consecutive scenes share a sentence.
fn scene_text(sentences: &[String], i: usize, count: usize) -> String {
    let n = sentences.len();
    let (start, end) = if n >= count {
        (i * n / count, (i + 1) * n / count)
    } else {
        let s = i * n / count;
        (s, s + 1)
    };
    let mut text = sentences[start..end].join(" ");
    if n < count {
        text = format!("{text} (part {} of {count})", i + 1);
    }
    text.chars().take(ScenePrompt::MAX_TEXT_CHARS).collect()
}

/// The sentences scene `i` of `count` says, within the narration limit.
fn scene_narration(sentences: &[String], i: usize, count: usize) -> String {
    let n = sentences.len();
    let said = if n >= count {
        sentences[i * n / count..(i + 1) * n / count].join(" ")
    } else if i == 0 || (i - 1) * n / count != i * n / count {
        sentences[i * n / count].clone()
    } else {
        String::new()
    };
    said.chars().take(super::NARRATION_MAX_CHARS).collect()
}

/// The synopsis's sentences that say something (not a lone mark or ellipsis).
fn sentences(text: &str) -> Vec<String> {
    super::sentences(text)
        .into_iter()
        .filter(|s| s.chars().any(char::is_alphanumeric))
        .collect()
}

fn camera_for(i: u32) -> CameraMotion {
    const CYCLE: [CameraMotion; 4] = [
        CameraMotion::ZoomIn,
        CameraMotion::PanRight,
        CameraMotion::Static,
        CameraMotion::PanLeft,
    ];
    CYCLE[i as usize % CYCLE.len()]
}

/// A stable seed from the prompt and position (FNV-1a), so re-planning the same story
/// proposes the same media.
pub(super) fn seed_for(text: &str, position: u32) -> u32 {
    let mut hash: u32 = 0x811c_9dc5;
    for byte in text.bytes().chain(position.to_le_bytes()) {
        hash ^= u32::from(byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    hash % ScenePrompt::MAX_SEED
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(seconds: i64, synopsis: &str) -> Vec<PlannedScene> {
        let duration = StoryDuration::new(seconds).unwrap();
        plan_scenes(duration, "The Lighthouse", synopsis, "cinematic")
    }

    fn durations(scenes: &[PlannedScene]) -> Vec<u32> {
        scenes.iter().map(|s| s.duration.seconds()).collect()
    }

    #[test]
    fn multiples_of_seven_give_seven_second_scenes() {
        assert_eq!(durations(&plan(21, "One. Two. Three.")), [7, 7, 7]);
        assert_eq!(durations(&plan(7, "One.")), [7]);
    }

    #[test]
    fn shorter_than_seven_seconds_is_one_scene_of_the_whole_length() {
        assert_eq!(durations(&plan(1, "x")), [1]);
        assert_eq!(durations(&plan(6, "x")), [6]);
    }

    #[test]
    fn remainders_are_spread_and_nothing_is_lost() {
        assert_eq!(durations(&plan(20, "a")), [10, 10]);
        assert_eq!(durations(&plan(22, "a")), [8, 7, 7]);
        assert_eq!(durations(&plan(13, "a")), [13]);
        for seconds in 1..=StoryDuration::MAX {
            let scenes = plan(i64::from(seconds), "A long tale. With turns.");
            let sum: u32 = durations(&scenes).iter().sum();
            assert_eq!(sum, seconds);
            assert_eq!(scenes.len() as u32, (seconds / 7).max(1));
            let (min, max) = (
                scenes.iter().map(|s| s.duration).min().unwrap(),
                scenes.iter().map(|s| s.duration).max().unwrap(),
            );
            assert!(max.seconds() - min.seconds() <= 1, "{seconds}");
            let positions: Vec<u32> = scenes.iter().map(|s| s.position).collect();
            assert_eq!(positions, (1..=scenes.len() as u32).collect::<Vec<_>>());
            for s in &scenes {
                assert_eq!(s.prompt.validate(), Ok(()), "{seconds}");
            }
        }
    }

    #[test]
    fn very_long_stories_are_planned_in_full() {
        let scenes = plan(600, "Only one sentence here.");
        assert_eq!(scenes.len(), 85);
        assert_eq!(durations(&scenes).iter().sum::<u32>(), 600);
        assert!(scenes[84].prompt.text.ends_with("(part 85 of 85)"));
    }

    #[test]
    fn sentences_are_dealt_in_order() {
        let scenes = plan(
            21,
            "Dawn breaks. A ship appears! The keeper waves? Night falls.",
        );
        let texts: Vec<&str> = scenes.iter().map(|s| s.prompt.text.as_str()).collect();
        assert_eq!(
            texts,
            [
                "Dawn breaks.",
                "A ship appears!",
                "The keeper waves? Night falls."
            ]
        );
    }

    #[test]
    fn an_empty_synopsis_falls_back_to_the_title_and_korean_survives() {
        let scenes = plan(7, "  ");
        assert_eq!(scenes[0].prompt.text, "The Lighthouse");
        let scenes = plan(14, "등대지기가 폭풍을 만난다. 새벽이 온다.");
        assert_eq!(scenes[0].prompt.text, "등대지기가 폭풍을 만난다.");
        assert_eq!(scenes[1].prompt.text, "새벽이 온다.");
    }

    #[test]
    fn planning_is_deterministic() {
        assert_eq!(plan(35, "Same story."), plan(35, "Same story."));
        let seeds: Vec<u32> = plan(35, "Same story.")
            .iter()
            .map(|s| s.prompt.seed)
            .collect();
        assert!(seeds.windows(2).all(|w| w[0] != w[1]), "{seeds:?}");
    }
}
