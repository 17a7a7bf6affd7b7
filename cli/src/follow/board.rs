//! What a wait knows about a story: its status, how far each stage and each scene
//! is, and whether the goal is reached. Snapshots (the story, its scenes and its
//! jobs, read over REST) and events (from the event stream) both update it; only
//! changes reach the display.

use std::collections::{HashMap, HashSet};

use serde_json::Value;

use crate::progress::Display;

/// What a `--wait` waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Goal {
    /// Planning finished: the story is `planned`.
    Planned,
    /// The preview is stored: the story has a `preview_url`.
    PreviewReady,
    /// The final render finished: the story is `completed`.
    Completed,
}

/// A step of the work a goal waits for, shown as one bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stage {
    Planning,
    Scenes,
    Assembly,
    Render,
}

impl Stage {
    pub fn label(self) -> &'static str {
        match self {
            Stage::Planning => "planning",
            Stage::Scenes => "scenes",
            Stage::Assembly => "assembly",
            Stage::Render => "render",
        }
    }
}

impl Goal {
    pub fn stages(self) -> &'static [Stage] {
        match self {
            Goal::Planned => &[Stage::Planning],
            Goal::PreviewReady => &[Stage::Scenes, Stage::Assembly],
            Goal::Completed => &[Stage::Scenes, Stage::Render],
        }
    }

    /// The kind of the job behind the last stage.
    fn stage_job_kind(self) -> &'static str {
        match self {
            Goal::Planned => "plan_story",
            Goal::PreviewReady => "generate_preview",
            Goal::Completed => "render_final",
        }
    }

    /// The quality the scene jobs of this goal are made at.
    fn scene_quality(self) -> Option<&'static str> {
        match self {
            Goal::Planned => None,
            Goal::PreviewReady => Some("preview"),
            Goal::Completed => Some("final"),
        }
    }

    /// The goal a story in `status` is working towards, if any.
    pub fn of_status(status: &str) -> Option<Self> {
        match status {
            "planning" => Some(Goal::Planned),
            "previewing" => Some(Goal::PreviewReady),
            "rendering" => Some(Goal::Completed),
            _ => None,
        }
    }
}

/// How a wait ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Reached,
    /// The story failed, with its `last_error`.
    Failed(Option<String>),
    /// The work stopped without failing (cancelled, moved back): the goal cannot
    /// be reached any more.
    Stopped(String),
}

/// The story, its scenes and its jobs, as read together.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub story: Value,
    pub scenes: Vec<Value>,
    pub jobs: Vec<Value>,
}

/// Whether an event asks for a fresh snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    Applied,
    Refresh,
}

/// The state of one wait.
pub struct Board {
    goal: Goal,
    display: Box<dyn Display>,
    title: String,
    status: String,
    stages: HashMap<Stage, (u64, u64)>,
    /// (position, id), by position.
    scenes: Vec<(i64, String)>,
    scene_percent: HashMap<String, u8>,
    job_scene: HashMap<String, String>,
    /// The current job of each scene.
    scene_job: HashMap<String, String>,
    /// The furthest each job was seen to get: a snapshot read a moment before
    /// an event does not move a bar back.
    job_best: HashMap<String, u8>,
    failures: HashSet<String>,
    primed: bool,
}

fn text(v: &Value) -> &str {
    v.as_str().unwrap_or("")
}

/// How far a job is, 0 to 100 (100 only once it succeeded).
fn job_percent(job: &Value) -> u8 {
    if job["status"] == "succeeded" {
        return 100;
    }
    let progress = job["progress"].as_f64().unwrap_or(0.0).clamp(0.0, 1.0);
    ((progress * 100.0).floor() as u8).min(99)
}

impl Board {
    pub fn new(goal: Goal, display: Box<dyn Display>) -> Self {
        Self {
            goal,
            display,
            title: String::new(),
            status: String::new(),
            stages: HashMap::new(),
            scenes: Vec::new(),
            scene_percent: HashMap::new(),
            job_scene: HashMap::new(),
            scene_job: HashMap::new(),
            job_best: HashMap::new(),
            failures: HashSet::new(),
            primed: false,
        }
    }

    fn set_status(&mut self, status: &str) {
        if status != self.status {
            self.status = status.to_string();
            self.display.status(&self.title, status);
        }
    }

    fn set_stage(&mut self, stage: Stage, done: u64, total: u64) {
        if self.stages.get(&stage) != Some(&(done, total)) {
            self.stages.insert(stage, (done, total));
            self.display.stage(stage, done, total);
        }
    }

    /// Tells of a failed job, once.
    fn failed(&mut self, job: &str, kind: &str, error: Option<&str>) {
        if self.failures.insert(job.to_string()) {
            self.display.note(&format!(
                "job {job} ({kind}) failed: {}",
                error.unwrap_or("no reason given")
            ));
        }
    }

    /// Records how far `job` got; answers the furthest it was seen to get.
    fn seen(&mut self, job: &str, percent: u8) -> u8 {
        let best = self.job_best.entry(job.to_string()).or_insert(0);
        *best = (*best).max(percent);
        *best
    }

    fn set_scene(&mut self, id: &str, percent: u8) {
        let Some(&(position, _)) = self.scenes.iter().find(|(_, s)| s == id) else {
            return;
        };
        if self.scene_percent.get(id) != Some(&percent) {
            self.scene_percent.insert(id.to_string(), percent);
            self.display.scene(position, percent);
        }
        let done = self.scene_percent.values().filter(|p| **p == 100).count() as u64;
        self.set_stage(Stage::Scenes, done, self.scenes.len() as u64);
    }

    /// Takes in a fresh snapshot; answers how the wait ends, once it does.
    pub fn apply_snapshot(&mut self, snap: &Snapshot) -> Option<Outcome> {
        self.title = text(&snap.story["title"]).to_string();
        let mut scenes: Vec<(i64, String)> = snap
            .scenes
            .iter()
            .filter_map(|s| Some((s["position"].as_i64()?, s["id"].as_str()?.to_string())))
            .collect();
        scenes.sort();
        if self.goal.scene_quality().is_none() {
            scenes.clear();
        }
        if !self.primed || scenes != self.scenes {
            self.scenes = scenes;
            self.scene_percent.clear();
            let positions: Vec<i64> = self.scenes.iter().map(|(p, _)| *p).collect();
            self.display.layout(self.goal.stages(), &positions);
        }
        self.set_status(text(&snap.story["status"]));

        // Jobs come newest first: the first one seen for a scene or a stage is current.
        let mut scene_jobs: HashMap<&str, &Value> = HashMap::new();
        let mut stage_job: Option<&Value> = None;
        for job in &snap.jobs {
            let kind = text(&job["kind"]);
            if kind == self.goal.stage_job_kind() && stage_job.is_none() {
                stage_job = Some(job);
            }
            let quality = job["parameters"]["quality"].as_str().unwrap_or("preview");
            if kind == "generate_scene" && Some(quality) == self.goal.scene_quality() {
                let scene = text(&job["scene"]);
                self.job_scene
                    .insert(text(&job["id"]).to_string(), scene.to_string());
                scene_jobs.entry(scene).or_insert(job);
            }
            if job["status"] == "failed" {
                let id = text(&job["id"]);
                if self.primed {
                    self.failed(id, kind, job["last_error"].as_str());
                } else {
                    // Failures from before the wait began are history, not news.
                    self.failures.insert(id.to_string());
                }
            }
        }
        let ids: Vec<String> = self.scenes.iter().map(|(_, id)| id.clone()).collect();
        for id in ids {
            if let Some(job) = scene_jobs.get(id.as_str()) {
                let job_id = text(&job["id"]);
                self.scene_job.insert(id.clone(), job_id.to_string());
                let p = self.seen(job_id, job_percent(job));
                self.set_scene(&id, p);
            }
        }
        let last = *self.goal.stages().last().expect("every goal has a stage");
        let stage_percent = match stage_job {
            Some(job) => self.seen(text(&job["id"]), job_percent(job)),
            None => 0,
        };
        self.set_stage(last, u64::from(stage_percent), 100);
        if self.goal.scene_quality().is_some() {
            let done = self.scene_percent.values().filter(|p| **p == 100).count() as u64;
            self.set_stage(Stage::Scenes, done, self.scenes.len() as u64);
        }
        self.primed = true;

        let cancelled = stage_job.is_some_and(|j| j["status"] == "cancelled");
        let outcome = outcome(self.goal, &snap.story, cancelled);
        if outcome == Some(Outcome::Reached) {
            self.complete();
        }
        outcome
    }

    /// Every bar full: the goal is reached.
    fn complete(&mut self) {
        let ids: Vec<String> = self.scenes.iter().map(|(_, id)| id.clone()).collect();
        for id in ids {
            self.set_scene(&id, 100);
        }
        let last = *self.goal.stages().last().expect("every goal has a stage");
        self.set_stage(last, 100, 100);
    }

    /// Takes in one event of the stream (`type` and `data` of its JSON).
    pub fn apply_event(&mut self, kind: &str, data: &Value) -> Effect {
        let percent = || data["percent"].as_f64().unwrap_or(0.0).clamp(0.0, 100.0) as u8;
        match kind {
            "scene.progress" | "scene.generated" => {
                let scene = text(&data["scene_id"]).to_string();
                if !self.scenes.iter().any(|(_, id)| *id == scene) {
                    return Effect::Refresh;
                }
                let job = match data["job_id"].as_str() {
                    Some(job) => {
                        self.scene_job.insert(scene.clone(), job.to_string());
                        Some(job.to_string())
                    }
                    None => self.scene_job.get(&scene).cloned(),
                };
                let p = if kind == "scene.generated" {
                    100
                } else {
                    percent()
                };
                let p = match job {
                    Some(job) => self.seen(&job, p),
                    None => p,
                };
                self.set_scene(&scene, p);
                Effect::Applied
            }
            "job.progress" => {
                let job = text(&data["job_id"]).to_string();
                if text(&data["kind"]) == self.goal.stage_job_kind() {
                    let last = *self.goal.stages().last().expect("every goal has a stage");
                    let p = self.seen(&job, percent());
                    self.set_stage(last, u64::from(p), 100);
                } else if let Some(scene) = self.job_scene.get(&job).cloned() {
                    let p = self.seen(&job, percent());
                    self.set_scene(&scene, p);
                }
                Effect::Applied
            }
            "story.status_changed" => {
                self.set_status(text(&data["status"]));
                Effect::Refresh
            }
            "job.failed" => {
                let job = text(&data["job_id"]);
                self.failed(job, text(&data["kind"]), data["error"].as_str());
                Effect::Refresh
            }
            _ => Effect::Refresh,
        }
    }

    pub fn display(&mut self) -> &mut dyn Display {
        self.display.as_mut()
    }
}

/// Whether `story` ends the wait for `goal`.
pub fn outcome(goal: Goal, story: &Value, stage_cancelled: bool) -> Option<Outcome> {
    let status = text(&story["status"]);
    if status == "failed" {
        return Some(Outcome::Failed(
            story["last_error"].as_str().map(String::from),
        ));
    }
    let reached = match goal {
        Goal::Planned => matches!(status, "planned" | "previewing" | "rendering" | "completed"),
        Goal::PreviewReady => {
            story["preview_url"].is_string()
                && matches!(status, "previewing" | "rendering" | "completed")
        }
        Goal::Completed => status == "completed",
    };
    let working = match goal {
        Goal::Planned => status == "planning",
        Goal::PreviewReady => status == "previewing",
        Goal::Completed => status == "rendering",
    };
    if reached {
        Some(Outcome::Reached)
    } else if !working {
        Some(Outcome::Stopped(format!(
            "the story is {status}: the wait cannot end well"
        )))
    } else if stage_cancelled {
        Some(Outcome::Stopped(format!(
            "the {} job was cancelled (retry it with `ai-video retry`)",
            goal.stage_job_kind()
        )))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use serde_json::json;

    use super::*;

    /// A display that writes down what it is told.
    #[derive(Clone, Default)]
    struct Record(Arc<Mutex<Vec<String>>>);

    impl Display for Record {
        fn layout(&mut self, stages: &[Stage], scenes: &[i64]) {
            let names: Vec<&str> = stages.iter().map(|s| s.label()).collect();
            self.0
                .lock()
                .unwrap()
                .push(format!("layout {names:?} {scenes:?}"));
        }
        fn status(&mut self, _title: &str, status: &str) {
            self.0.lock().unwrap().push(format!("status {status}"));
        }
        fn stage(&mut self, stage: Stage, done: u64, total: u64) {
            self.0
                .lock()
                .unwrap()
                .push(format!("{} {done}/{total}", stage.label()));
        }
        fn scene(&mut self, position: i64, percent: u8) {
            self.0
                .lock()
                .unwrap()
                .push(format!("scene {position} {percent}"));
        }
        fn note(&mut self, text: &str) {
            self.0.lock().unwrap().push(text.to_string());
        }
        fn info(&mut self, _text: &str) {}
        fn finish(&mut self) {}
    }

    fn snapshot(status: &str, jobs: Vec<Value>) -> Snapshot {
        Snapshot {
            story: json!({"title": "T", "status": status, "preview_url": null}),
            scenes: vec![
                json!({"id": "s2", "position": 2}),
                json!({"id": "s1", "position": 1}),
            ],
            jobs,
        }
    }

    fn scene_job(id: &str, scene: &str, status: &str, progress: f64) -> Value {
        json!({"id": id, "kind": "generate_scene", "scene": scene, "status": status,
               "progress": progress, "parameters": {"quality": "final"}})
    }

    #[test]
    fn a_render_shows_its_scenes_and_its_stage_from_the_newest_jobs() {
        let record = Record::default();
        let mut board = Board::new(Goal::Completed, Box::new(record.clone()));
        let jobs = vec![
            json!({"id": "r", "kind": "render_final", "status": "queued", "parameters": {"quality": "final"}}),
            scene_job("j2", "s2", "running", 0.5),
            scene_job("j1", "s1", "succeeded", 1.0),
            // An older preview job of the same scene does not count for the render.
            json!({"id": "p1", "kind": "generate_scene", "scene": "s1", "status": "failed",
                   "parameters": {"quality": "preview"}}),
        ];
        assert_eq!(board.apply_snapshot(&snapshot("rendering", jobs)), None);
        let seen = record.0.lock().unwrap().clone();
        assert_eq!(
            seen,
            [
                "layout [\"scenes\", \"render\"] [1, 2]",
                "status rendering",
                "scene 1 100",
                "scenes 1/2",
                "scene 2 50",
                "render 0/100",
            ]
        );

        record.0.lock().unwrap().clear();
        assert_eq!(
            board.apply_event("scene.progress", &json!({"scene_id": "s2", "percent": 80})),
            Effect::Applied
        );
        assert_eq!(
            board.apply_event(
                "job.progress",
                &json!({"job_id": "r", "kind": "render_final", "percent": 40})
            ),
            Effect::Applied
        );
        assert_eq!(
            board.apply_event(
                "scene.progress",
                &json!({"scene_id": "other", "percent": 1})
            ),
            Effect::Refresh
        );
        assert_eq!(
            record.0.lock().unwrap().clone(),
            ["scene 2 80", "render 40/100"]
        );

        // A snapshot read just before those events does not move the bars back.
        record.0.lock().unwrap().clear();
        let stale = vec![
            json!({"id": "r", "kind": "render_final", "status": "queued", "parameters": {"quality": "final"}}),
            scene_job("j2", "s2", "running", 0.5),
            scene_job("j1", "s1", "succeeded", 1.0),
        ];
        assert_eq!(board.apply_snapshot(&snapshot("rendering", stale)), None);
        assert!(record.0.lock().unwrap().is_empty());
    }

    #[test]
    fn failures_during_the_wait_are_told_once_and_old_ones_never() {
        let record = Record::default();
        let mut board = Board::new(Goal::Completed, Box::new(record.clone()));
        let old = json!({"id": "old", "kind": "generate_scene", "scene": "s1", "status": "failed",
                         "parameters": {"quality": "preview"}, "last_error": "before"});
        board.apply_snapshot(&snapshot("rendering", vec![old.clone()]));
        let new = json!({"id": "new", "kind": "generate_scene", "scene": "s1", "status": "failed",
                         "parameters": {"quality": "final"}, "last_error": "boom"});
        let event = json!({"job_id": "new", "kind": "generate_scene", "error": "boom"});
        assert_eq!(board.apply_event("job.failed", &event), Effect::Refresh);
        board.apply_snapshot(&snapshot("rendering", vec![new.clone(), old.clone()]));
        board.apply_snapshot(&snapshot("rendering", vec![new, old]));
        let notes: Vec<String> = record
            .0
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.starts_with("job "))
            .cloned()
            .collect();
        assert_eq!(notes, ["job new (generate_scene) failed: boom"]);
    }

    #[test]
    fn outcomes() {
        let story = |status: &str, preview: Value| json!({"status": status, "preview_url": preview, "last_error": "why"});
        let url = json!("/media/x");
        assert_eq!(
            outcome(Goal::Planned, &story("planning", Value::Null), false),
            None
        );
        assert_eq!(
            outcome(Goal::Planned, &story("planned", Value::Null), false),
            Some(Outcome::Reached)
        );
        assert!(matches!(
            outcome(Goal::Planned, &story("draft", Value::Null), false),
            Some(Outcome::Stopped(_))
        ));
        assert_eq!(
            outcome(Goal::PreviewReady, &story("previewing", Value::Null), false),
            None
        );
        assert_eq!(
            outcome(Goal::PreviewReady, &story("previewing", url.clone()), false),
            Some(Outcome::Reached)
        );
        assert!(matches!(
            outcome(Goal::Completed, &story("rendering", url.clone()), true),
            Some(Outcome::Stopped(_))
        ));
        assert_eq!(
            outcome(Goal::Completed, &story("failed", url), false),
            Some(Outcome::Failed(Some("why".into())))
        );
    }
}
