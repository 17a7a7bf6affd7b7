//! Stories in a given state, for tests that start from one: planned by the worker,
//! with scenes added in bulk, previewed, or failed at a chosen step.

use std::time::Duration;

use crate::TestApp;

impl TestApp {
    /// A story with one 2-second scene per prompt, planned by the worker (which must
    /// be running), so it carries its estimate as real planning leaves it; returns
    /// its id and scene ids.
    pub async fn planned_by_worker(&self, token: &str, prompts: &[&str]) -> (String, Vec<String>) {
        let story = self
            .create_story(token, "Planned by the worker", 2 * prompts.len() as i64)
            .await;
        let id = story["id"].as_str().expect("id").to_string();
        let scenes: Vec<serde_json::Value> = prompts
            .iter()
            .enumerate()
            .map(|(i, text)| serde_json::json!({"duration_seconds": 2, "prompt": {"text": text, "seed": i}}))
            .collect();
        let ids = self.bulk_scenes(token, &id, scenes).await;
        self.start_planning(token, &id).await.assert_status(200);
        self.wait_for_status(token, &id, "planned", Duration::from_secs(60))
            .await;
        (id, ids)
    }

    /// Every job of a story (up to 100), newest first.
    pub async fn jobs_of(&self, token: &str, story: &str) -> Vec<serde_json::Value> {
        let r = self
            .get(&format!("jobs/?story={story}&page_size=100"), token)
            .await;
        r.assert_status(200);
        r.body["results"].as_array().expect("results").clone()
    }
}

impl TestApp {
    /// Appends scenes to a story with `bulk_create`; answers their ids.
    pub async fn bulk_scenes(
        &self,
        token: &str,
        story: &str,
        scenes: Vec<serde_json::Value>,
    ) -> Vec<String> {
        let r = self
            .post(
                "scenes/bulk_create/",
                token,
                serde_json::json!({"story": story, "scenes": scenes}),
            )
            .await;
        r.assert_status(201);
        r.body["results"]
            .as_array()
            .expect("results")
            .iter()
            .map(|s| s["id"].as_str().expect("id").to_string())
            .collect()
    }

    /// Asks for the story's preview and waits until it is ready; answers the story.
    pub async fn preview(&self, token: &str, story: &str) -> serde_json::Value {
        self.post(
            &format!("stories/{story}/generate_preview/"),
            token,
            serde_json::json!({}),
        )
        .await
        .assert_status(202);
        let done = self
            .wait_for(token, story, Duration::from_secs(120), |s| {
                !s["preview_url"].is_null() || s["status"] == "failed"
            })
            .await;
        assert_eq!(done["status"], "previewing", "{done}");
        done
    }

    /// Asks for `step` (`generate_preview` or `render_final`) while the `local`
    /// provider refuses prompts containing `word`, and waits for the story to fail;
    /// answers the failed story.
    pub async fn fail_step(
        &self,
        token: &str,
        story: &str,
        step: &str,
        word: &str,
    ) -> serde_json::Value {
        self.set_local_settings(serde_json::json!({"refuse_prompts_containing": word}))
            .await;
        self.post(
            &format!("stories/{story}/{step}/"),
            token,
            serde_json::json!({}),
        )
        .await
        .assert_status(202);
        self.wait_for_status(token, story, "failed", Duration::from_secs(90))
            .await
    }
}
