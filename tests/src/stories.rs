//! Story-level helpers shared by the fault-injection tests: previews asked for in
//! bulk, and the check that every one finished with each scene made once.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{Value, json};

use crate::TestApp;

/// How long a preview may take to finish after its outage.
const PREVIEW_WAIT: Duration = Duration::from_secs(120);

impl TestApp {
    /// A story of two scenes per name, planned by the running worker, then asked for
    /// its preview with the local provider taking `delay_ms` per image and clip.
    pub async fn ask_previews(&self, token: &str, names: &[&str], delay_ms: u64) -> Vec<String> {
        let mut stories = Vec::new();
        for name in names {
            let (id, _) = self
                .planned_by_worker(token, &[&format!("{name} shore"), &format!("{name} hill")])
                .await;
            stories.push(id);
        }
        self.set_local_settings(json!({"delay_ms": delay_ms})).await;
        for id in &stories {
            self.post(&format!("stories/{id}/generate_preview/"), token, json!({}))
                .await
                .assert_status(202);
        }
        stories
    }

    /// Waits for every story's preview and checks that each scene succeeded exactly
    /// once and no job is left unfinished; answers the stories' scene jobs.
    pub async fn each_scene_once(&self, token: &str, stories: &[String]) -> Vec<Value> {
        let mut scene_jobs = Vec::new();
        for id in stories {
            let done = self
                .wait_for(token, id, PREVIEW_WAIT, |s| {
                    !s["preview_url"].is_null() || s["status"] == "failed"
                })
                .await;
            assert_eq!(done["status"], "previewing", "{done}");
            let jobs = self.jobs_of(token, id).await;
            let mut per_scene: HashMap<String, usize> = HashMap::new();
            for j in jobs.iter().filter(|j| j["kind"] == "generate_scene") {
                assert_ne!(j["status"], "failed", "{j}");
                if j["status"] == "succeeded" {
                    *per_scene
                        .entry(j["scene"].as_str().expect("scene").to_string())
                        .or_default() += 1;
                }
                scene_jobs.push(j.clone());
            }
            assert_eq!(per_scene.len(), 2, "{per_scene:?}");
            assert!(per_scene.values().all(|n| *n == 1), "{per_scene:?}");
            let unfinished: Vec<&Value> = jobs
                .iter()
                .filter(|j| {
                    matches!(
                        j["status"].as_str(),
                        Some("queued" | "running" | "retrying")
                    )
                })
                .collect();
            assert!(unfinished.is_empty(), "{unfinished:?}");
        }
        scene_jobs
    }
}
