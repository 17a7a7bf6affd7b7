//! An LLM plans the story over an OpenAI-compatible Chat Completions API with a
//! strict JSON schema: a story bible and scenes with prompts, narration, camera
//! motion and durations. The plan is validated; an invalid one gets exactly one
//! repair request; a 429 is waited out; the tokens are costed.

use std::time::Duration;

use ai_video_tests::TestApp;
use ai_video_tests::fakes::{ChatReply, FakeOpenAi, FakeOptions};
use ai_video_tests::worker::{TestWorker, WorkerTweaks};
use serde_json::{Value, json};

const LONG: Duration = Duration::from_secs(120);

fn plan(durations: &[u32]) -> String {
    let scenes: Vec<Value> = durations
        .iter()
        .enumerate()
        .map(|(i, d)| {
            json!({"prompt": format!("Scene {}: the old keeper in a red coat, grey stone lighthouse, storm light", i + 1),
                   "narration": format!("Part {} of the tale.", i + 1),
                   "camera_motion": if i % 2 == 0 { "zoom_in" } else { "pan_left" },
                   "duration_seconds": d})
        })
        .collect();
    json!({"bible": {"characters": [{"name": "The keeper", "look": "old, red coat, white beard"}],
                     "setting": "a grey stone lighthouse on a cliff", "palette": "slate grey and red"},
           "scenes": scenes})
    .to_string()
}

struct Planner {
    fake: FakeOpenAi,
    app: TestApp,
    _worker: TestWorker,
    token: String,
}

impl Planner {
    async fn start() -> Self {
        let fake = FakeOpenAi::start(FakeOptions::with_key("sk-plan"));
        let app = TestApp::spawn().await;
        let worker = app
            .start_worker(WorkerTweaks {
                env: vec![
                    ("OPENAI_API_KEY".into(), "sk-plan".into()),
                    ("OPENAI_API_BASE".into(), fake.api_base()),
                ],
                ..WorkerTweaks::default()
            })
            .await;
        // Round prices, so the cost of the tokens is exact.
        let admin = app.tokens.admin("ops");
        app.patch(
            "providers/openai/",
            &admin,
            json!({"settings": {"chat_model": "gpt-4o-mini", "input_token_price": "1000",
                                "output_token_price": "2000"}}),
        )
        .await
        .assert_status(200);
        let token = app.tokens.user("alice");
        Self {
            fake,
            app,
            _worker: worker,
            token,
        }
    }

    async fn story(&self) -> String {
        let r = self
            .app
            .post(
                "stories/",
                &self.token,
                json!({"title": "The Lighthouse", "synopsis": "A keeper meets a storm and a ship.",
                       "duration_seconds": 21, "film": {"planner": "openai"}}),
            )
            .await;
        r.assert_status(201);
        let id = r.body["id"].as_str().unwrap().to_string();
        self.app
            .start_planning(&self.token, &id)
            .await
            .assert_status(200);
        id
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_llm_writes_the_scenes_and_a_429_is_waited_out() {
    let p = Planner::start().await;
    // The account's one request in three seconds is spent elsewhere: planning meets
    // a 429 with Retry-After and waits.
    p.fake.set_rate_limit(Some((1, Duration::from_secs(3))));
    let spent = p
        .app
        .client
        .post(format!("{}/chat/completions", p.fake.api_base()))
        .bearer_auth("sk-plan")
        .json(&json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(spent.status(), 200);
    p.fake.push_chat(ChatReply::Content(plan(&[8, 7, 6])));
    let id = p.story().await;
    let story = p.app.wait_for_status(&p.token, &id, "planned", LONG).await;

    assert!(!p.fake.refused_creates().is_empty(), "a 429 was met");
    let log = p.fake.chat_log();
    assert_eq!(
        log.len(),
        2,
        "one plan bought (beside the request spent elsewhere)"
    );
    let request = &log[1].request;
    let format = &request["response_format"];
    assert_eq!(format["type"], "json_schema");
    assert_eq!(format["json_schema"]["name"], "scene_plan");
    assert_eq!(format["json_schema"]["strict"], true);
    let asked = request["messages"].to_string();
    assert!(
        asked.contains("A keeper meets a storm and a ship."),
        "{asked}"
    );

    assert_eq!(
        story["bible"]["setting"],
        "a grey stone lighthouse on a cliff"
    );
    assert_eq!(
        story["bible"]["characters"][0]["look"],
        "old, red coat, white beard"
    );
    let scenes = p.app.get(&format!("scenes/?story={id}"), &p.token).await;
    let scenes = scenes.body["results"].as_array().unwrap().clone();
    let durations: Vec<i64> = scenes
        .iter()
        .map(|s| s["duration_seconds"].as_i64().unwrap())
        .collect();
    assert_eq!(durations, [8, 7, 6]);
    assert_eq!(scenes[1]["narration"], "Part 2 of the tale.");
    assert_eq!(scenes[1]["prompt"]["camera_motion"], "pan_left");
    assert!(
        scenes[0]["prompt"]["text"]
            .as_str()
            .unwrap()
            .contains("red coat")
    );
    // $1000 and $2000 per million prompt and completion tokens.
    let (prompt, completion) = (log[1].prompt_tokens, log[1].completion_tokens);
    let cost = (prompt as f64 * 1000.0 + completion as f64 * 2000.0) / 1e6;
    let actual: f64 = story["actual_cost"].as_str().unwrap().parse().unwrap();
    assert!(
        (actual - cost).abs() < 1e-9,
        "paid {actual} for tokens worth {cost}"
    );
    // The user still edits the plan before the preview.
    let scene = scenes[0]["id"].as_str().unwrap();
    let r = p
        .app
        .patch(
            &format!("scenes/{scene}/"),
            &p.token,
            json!({"narration": "Edited."}),
        )
        .await;
    r.assert_status(200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_plan_gets_one_repair_request_then_fails_with_the_reason() {
    let p = Planner::start().await;
    p.fake.push_chat(ChatReply::Content(plan(&[7, 7, 6])));
    p.fake.push_chat(ChatReply::Content(plan(&[7, 7, 7])));
    let id = p.story().await;
    p.app.wait_for_status(&p.token, &id, "planned", LONG).await;
    let log = p.fake.chat_log();
    assert_eq!(log.len(), 2, "the invalid plan and its one repair");
    let repair = log[1].request["messages"].as_array().unwrap();
    let last = repair.last().unwrap()["content"].as_str().unwrap();
    assert!(
        last.contains("add up to 20 seconds, not the story's 21"),
        "the repair names the problem: {last}"
    );
    assert_eq!(repair[repair.len() - 2]["role"], "assistant");

    p.fake.push_chat(ChatReply::Content(plan(&[21])));
    p.fake.push_chat(ChatReply::Content("not a plan".into()));
    let id = p.story().await;
    let failed = p.app.wait_for_status(&p.token, &id, "failed", LONG).await;
    let error = failed["last_error"].as_str().unwrap_or_default();
    assert!(error.contains("invalid plan twice"), "{failed}");
    assert_eq!(p.fake.chat_log().len(), 4, "exactly one repair request");
    let scenes = p.app.get(&format!("scenes/?story={id}"), &p.token).await;
    assert_eq!(scenes.body["count"], 0, "nothing half-written");
}
