//! How a wait shows its progress: bars on a terminal, one line per change on
//! anything else, nothing at all with `--json` (whose stdout is the final JSON).
//!
//! The bars: a spinner line with the story's status, one bar per stage of the
//! goal (`planning`; `scenes` and `assembly` or `render`), and one bar per scene
//! while there are at most [`MAX_SCENE_BARS`] of them.

use std::collections::HashMap;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::follow::Stage;

/// More scenes than this show only in the `scenes` bar: a bar each would not fit
/// on a screen.
pub const MAX_SCENE_BARS: usize = 20;

/// Where a wait reports.
pub trait Display {
    /// The stages and scene positions to show; called again if the scenes change.
    fn layout(&mut self, stages: &[Stage], scenes: &[i64]);
    fn status(&mut self, title: &str, status: &str);
    /// `done` of `total`: scenes for [`Stage::Scenes`], percent for the others.
    fn stage(&mut self, stage: Stage, done: u64, total: u64);
    fn scene(&mut self, position: i64, percent: u8);
    /// Worth telling in every mode: a job failed.
    fn note(&mut self, text: &str);
    /// How progress is read (the stream, polling); lines mode only.
    fn info(&mut self, text: &str);
    /// The wait is over; leave the screen tidy.
    fn finish(&mut self);
}

/// The display for the output mode: `json` quiet, a terminal bars, else lines.
pub fn for_output(json: bool, terminal: bool) -> Box<dyn Display> {
    if json {
        Box::new(Quiet)
    } else if terminal {
        Box::new(Bars::new())
    } else {
        Box::new(Lines::default())
    }
}

/// Says nothing but failures, on stderr.
pub struct Quiet;

impl Display for Quiet {
    fn layout(&mut self, _: &[Stage], _: &[i64]) {}
    fn status(&mut self, _: &str, _: &str) {}
    fn stage(&mut self, _: Stage, _: u64, _: u64) {}
    fn scene(&mut self, _: i64, _: u8) {}
    fn note(&mut self, text: &str) {
        eprintln!("{text}");
    }
    fn info(&mut self, _: &str) {}
    fn finish(&mut self) {}
}

/// One line on stdout per change; progress in steps of a quarter, so a log stays
/// readable.
#[derive(Default)]
pub struct Lines {
    shown: HashMap<String, u64>,
}

impl Lines {
    /// Prints `line` when `step` moved on from the last one printed for `key`;
    /// a first step of 0 is the starting point, not news.
    fn step(&mut self, key: String, step: u64, line: String) {
        let last = self.shown.insert(key, step);
        if last != Some(step) && (last.is_some() || step > 0) {
            println!("{line}");
        }
    }
}

impl Display for Lines {
    fn layout(&mut self, _: &[Stage], scenes: &[i64]) {
        if !scenes.is_empty() {
            println!("{} scenes", scenes.len());
        }
    }

    fn status(&mut self, _: &str, status: &str) {
        println!("status: {status}");
    }

    fn stage(&mut self, stage: Stage, done: u64, total: u64) {
        if stage == Stage::Scenes {
            self.step(
                stage.label().into(),
                done,
                format!("{}: {done}/{total}", stage.label()),
            );
        } else {
            let percent = done * 100 / total.max(1);
            self.step(
                stage.label().into(),
                percent / 25,
                format!("{}: {percent}%", stage.label()),
            );
        }
    }

    fn scene(&mut self, position: i64, percent: u8) {
        self.step(
            format!("scene {position}"),
            u64::from(percent) / 25,
            format!("scene {position}: {percent}%"),
        );
    }

    fn note(&mut self, text: &str) {
        println!("{text}");
    }

    fn info(&mut self, text: &str) {
        println!("{text}");
    }

    fn finish(&mut self) {}
}

/// indicatif bars on stdout.
pub struct Bars {
    multi: MultiProgress,
    header: ProgressBar,
    stages: HashMap<Stage, ProgressBar>,
    scenes: HashMap<i64, ProgressBar>,
}

const BAR: &str = "{prefix:>9} [{bar:32}] ";

fn style(tail: &str) -> ProgressStyle {
    ProgressStyle::with_template(&format!("{BAR}{tail}"))
        .expect("the bar template is valid")
        .progress_chars("=> ")
}

impl Bars {
    pub fn new() -> Self {
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stdout());
        let header = multi.add(ProgressBar::new_spinner());
        header.set_style(
            ProgressStyle::with_template("{spinner} {wide_msg} {elapsed:>5}")
                .expect("the spinner template is valid"),
        );
        header.enable_steady_tick(Duration::from_millis(120));
        Self {
            multi,
            header,
            stages: HashMap::new(),
            scenes: HashMap::new(),
        }
    }
}

impl Default for Bars {
    fn default() -> Self {
        Self::new()
    }
}

impl Display for Bars {
    fn layout(&mut self, stages: &[Stage], scenes: &[i64]) {
        for bar in self.stages.values().chain(self.scenes.values()) {
            bar.finish_and_clear();
            self.multi.remove(bar);
        }
        self.stages.clear();
        self.scenes.clear();
        for stage in stages {
            let (length, tail) = match stage {
                Stage::Scenes => (scenes.len() as u64, "{pos}/{len}"),
                _ => (100, "{percent:>3}%"),
            };
            let bar = ProgressBar::new(length)
                .with_style(style(tail))
                .with_prefix(stage.label());
            self.stages.insert(*stage, self.multi.add(bar));
        }
        if scenes.len() <= MAX_SCENE_BARS {
            for position in scenes {
                let bar = ProgressBar::new(100)
                    .with_style(style("{percent:>3}%"))
                    .with_prefix(format!("scene {position}"));
                self.scenes.insert(*position, self.multi.add(bar));
            }
        }
    }

    fn status(&mut self, title: &str, status: &str) {
        if title.is_empty() {
            self.header.set_message(status.to_string());
        } else {
            self.header.set_message(format!("{title}: {status}"));
        }
    }

    fn stage(&mut self, stage: Stage, done: u64, total: u64) {
        if let Some(bar) = self.stages.get(&stage) {
            bar.set_length(total);
            bar.set_position(done);
        }
    }

    fn scene(&mut self, position: i64, percent: u8) {
        if let Some(bar) = self.scenes.get(&position) {
            bar.set_position(u64::from(percent));
        }
    }

    fn note(&mut self, text: &str) {
        let _ = self.multi.println(text);
    }

    fn info(&mut self, _: &str) {}

    fn finish(&mut self) {
        for bar in self.stages.values().chain(self.scenes.values()) {
            bar.abandon();
        }
        self.header.abandon();
    }
}
