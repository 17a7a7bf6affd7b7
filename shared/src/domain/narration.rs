//! Narration and its captions: the languages a story may be told in, the limits of a
//! scene's narration, and the caption cues timed from the spoken narration.
//!
//! A scene's narration is cut into cues at sentence ends. The speech of a scene is
//! timed as a whole (the offline voice reports no word times), so each cue gets a
//! share of that time proportional to its characters, in order, inside the scene.

use super::{Invalid, string_enum};

/// The languages of the offline voice (espeak-ng), by the code it knows them by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Language {
    #[default]
    English,
    AmericanEnglish,
    German,
    French,
    Spanish,
    Italian,
    Portuguese,
    Dutch,
    Korean,
    Japanese,
    Mandarin,
    Russian,
    Polish,
    Swedish,
    Turkish,
    Hindi,
    Indonesian,
    Vietnamese,
}

string_enum!(Language {
    English => "en",
    AmericanEnglish => "en-us",
    German => "de",
    French => "fr",
    Spanish => "es",
    Italian => "it",
    Portuguese => "pt",
    Dutch => "nl",
    Korean => "ko",
    Japanese => "ja",
    Mandarin => "cmn",
    Russian => "ru",
    Polish => "pl",
    Swedish => "sv",
    Turkish => "tr",
    Hindi => "hi",
    Indonesian => "id",
    Vietnamese => "vi",
});

/// The longest narration of one scene, in characters.
pub const NARRATION_MAX_CHARS: usize = 1000;

/// Checks a scene's narration: at most [`NARRATION_MAX_CHARS`] characters.
pub fn check_narration(text: &str) -> Result<(), Invalid> {
    let n = text.chars().count();
    if n > NARRATION_MAX_CHARS {
        return Err(Invalid(format!(
            "narration has at most {NARRATION_MAX_CHARS} characters (it has {n})"
        )));
    }
    Ok(())
}

/// The sentences of a text, each with its closing punctuation, in order; Latin
/// (`.!?`), CJK (`。！？`) and line breaks end a sentence.
pub fn sentences(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\n' || c == '\r' {
            push_sentence(&mut out, &mut current);
            continue;
        }
        current.push(c);
        let ends = matches!(c, '。' | '！' | '？')
            || (matches!(c, '.' | '!' | '?') && chars.peek().is_none_or(|n| n.is_whitespace()));
        if ends {
            push_sentence(&mut out, &mut current);
        }
    }
    push_sentence(&mut out, &mut current);
    out
}

fn push_sentence(out: &mut Vec<String>, current: &mut String) {
    let s = current.trim();
    if !s.is_empty() {
        out.push(s.to_string());
    }
    current.clear();
}

/// One caption: its text and when it shows, in seconds from the start of the video.
#[derive(Debug, Clone, PartialEq)]
pub struct Cue {
    pub start: f64,
    pub end: f64,
    pub text: String,
}

/// The cues of one scene's narration, spoken from `start` for `spoken` seconds.
pub fn cues(narration: &str, start: f64, spoken: f64) -> Vec<Cue> {
    let parts = sentences(narration);
    let total: usize = parts.iter().map(|p| p.chars().count().max(1)).sum();
    let mut at = start;
    parts
        .into_iter()
        .map(|text| {
            let share = spoken * text.chars().count().max(1) as f64 / total.max(1) as f64;
            let cue = Cue {
                start: at,
                end: at + share,
                text,
            };
            at += share;
            cue
        })
        .collect()
}

/// The cues of one scene's narration timed by the speech itself: `alignment` has,
/// for each character of `narration`, when it is said (seconds from the speech's
/// start, before it is sped up by `tempo`); the speech starts at `start`. A sentence
/// shows from its first character's start to its last one's end.
pub fn aligned_cues(narration: &str, alignment: &[(f64, f64)], start: f64, tempo: f64) -> Vec<Cue> {
    let chars: Vec<char> = narration.chars().collect();
    if alignment.len() != chars.len() || alignment.is_empty() {
        let spoken = alignment.last().map_or(0.0, |a| a.1) / tempo;
        return cues(narration, start, spoken);
    }
    let mut cursor = 0;
    let mut out: Vec<Cue> = Vec::new();
    for text in sentences(narration) {
        let wanted: Vec<char> = text.chars().collect();
        // The sentence's characters, found from the cursor on.
        let Some(at) = (cursor..=chars.len().saturating_sub(wanted.len()))
            .find(|&i| chars[i..i + wanted.len()] == wanted[..])
        else {
            continue;
        };
        let (first, last) = (alignment[at].0, alignment[at + wanted.len() - 1].1);
        let from = start + first / tempo;
        out.push(Cue {
            start: out.last().map_or(from, |p: &Cue| from.max(p.end)),
            end: start + last.max(first) / tempo,
            text,
        });
        cursor = at + wanted.len();
    }
    out
}

fn timestamp(seconds: f64, comma: bool) -> String {
    let ms = (seconds.max(0.0) * 1000.0).round() as u64;
    let (h, m, s, ms) = (ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000);
    let sep = if comma { ',' } else { '.' };
    format!("{h:02}:{m:02}:{s:02}{sep}{ms:03}")
}

/// The cues as WebVTT.
pub fn webvtt(cues: &[Cue]) -> String {
    let mut out = String::from("WEBVTT\n");
    for (i, c) in cues.iter().enumerate() {
        out.push_str(&format!(
            "\n{}\n{} --> {}\n{}\n",
            i + 1,
            timestamp(c.start, false),
            timestamp(c.end, false),
            c.text
        ));
    }
    out
}

/// The cues as SubRip.
pub fn subrip(cues: &[Cue]) -> String {
    cues.iter()
        .enumerate()
        .map(|(i, c)| {
            format!(
                "{}\n{} --> {}\n{}\n",
                i + 1,
                timestamp(c.start, true),
                timestamp(c.end, true),
                c.text
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligned_cues_follow_the_speech() {
        let text = "Hi there. Bye!";
        // 0.1 s per character, a 0.5 s pause after the first sentence.
        let alignment: Vec<(f64, f64)> = (0..text.chars().count())
            .map(|i| {
                let t = i as f64 * 0.1 + if i >= 9 { 0.5 } else { 0.0 };
                (t, t + 0.1)
            })
            .collect();
        let cues = aligned_cues(text, &alignment, 10.0, 1.0);
        assert_eq!(cues.len(), 2);
        assert_eq!(cues[0].text, "Hi there.");
        assert!((cues[0].start - 10.0).abs() < 1e-9 && (cues[0].end - 10.9).abs() < 1e-9);
        assert!((cues[1].start - 11.5).abs() < 1e-9, "{cues:?}");
        assert!((cues[1].end - 11.9).abs() < 1e-9, "{cues:?}");
        let faster = aligned_cues(text, &alignment, 0.0, 2.0);
        assert!((faster[1].end - 0.95).abs() < 1e-9);
    }

    #[test]
    fn sentences_end_at_latin_and_cjk_marks_and_line_breaks() {
        assert_eq!(
            sentences("A keeper wakes. The storm comes!  Is it over? 3.5 miles"),
            [
                "A keeper wakes.",
                "The storm comes!",
                "Is it over?",
                "3.5 miles"
            ]
        );
        assert_eq!(
            sentences("등대지기가 깨어난다. 폭풍이 온다。夜が明ける！\nEnd"),
            [
                "등대지기가 깨어난다.",
                "폭풍이 온다。",
                "夜が明ける！",
                "End"
            ]
        );
        assert!(sentences("  \n ").is_empty());
    }

    #[test]
    fn cues_share_the_spoken_time_by_length_in_order() {
        let c = cues("Short. A much longer sentence.", 7.0, 3.0);
        assert_eq!(c.len(), 2);
        assert_eq!(c[0].start, 7.0);
        assert!(c[0].end > 7.0 && c[0].end < c[1].end);
        assert!((c[1].end - 10.0).abs() < 1e-9);
        assert!(c[1].end - c[1].start > c[0].end - c[0].start);
    }

    #[test]
    fn webvtt_and_subrip_spell_times_their_own_way() {
        let c = [Cue {
            start: 61.5,
            end: 3723.25,
            text: "Hello.".into(),
        }];
        assert_eq!(
            webvtt(&c),
            "WEBVTT\n\n1\n00:01:01.500 --> 01:02:03.250\nHello.\n"
        );
        assert_eq!(subrip(&c), "1\n00:01:01,500 --> 01:02:03,250\nHello.\n");
    }

    #[test]
    fn narration_is_capped() {
        assert!(check_narration(&"a".repeat(NARRATION_MAX_CHARS)).is_ok());
        assert!(check_narration(&"가".repeat(NARRATION_MAX_CHARS + 1)).is_err());
    }
}
