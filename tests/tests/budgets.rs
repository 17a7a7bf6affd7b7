//! Budgets and quotas are enforced before work is queued: a preview that would pass
//! its owner's monthly budget is a 402 that queues and changes nothing, until an
//! admin raises the budget; previews running at once are capped, fleet-wide.

use ai_video_tests::TestApp;
use ai_video_tests::worker::WorkerTweaks;
use serde_json::{Value, json};

/// Two planned stories of alice's whose previews are estimated at $0.30 each
/// (two 2 s scenes: keyframes 2 × $0.05, preview video 4 s × $0.10 × 0.5).
async fn two_priced_stories(app: &TestApp, alice: &str) -> (String, String) {
    let admin = app.tokens.admin("ops");
    app.patch(
        "providers/local/",
        &admin,
        json!({"cost_per_image": "0.0500", "cost_per_second_video": "0.1000"}),
    )
    .await
    .assert_status(200);
    let worker = app.start_worker(WorkerTweaks::default()).await;
    let (a, _) = app.planned_by_worker(alice, &["Dawn", "Dusk"]).await;
    let (b, _) = app.planned_by_worker(alice, &["Rain", "Sun"]).await;
    worker.stop().await;
    // Nothing runs the previews: they stay queued, committed to the budget.
    app.allow_unfinished();
    (a, b)
}

/// An admin sets alice's monthly budget to `budget`, and alice queues the preview
/// of `story` ($0.30) within it.
async fn first_preview_within(app: &TestApp, story: &str, budget: &str) {
    let admin = app.tokens.admin("ops");
    app.patch("quotas/alice/", &admin, json!({"monthly_budget": budget}))
        .await
        .assert_status(200);
    app.post(
        &format!("stories/{story}/generate_preview/"),
        &app.tokens.user("alice"),
        json!({}),
    )
    .await
    .assert_status(202);
}

async fn preview_jobs(app: &TestApp, token: &str, story: &str) -> usize {
    app.jobs_of(token, story)
        .await
        .iter()
        .filter(|j| j["kind"] == "generate_preview")
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_preview_past_the_budget_is_a_402_until_an_admin_raises_it() {
    let app = TestApp::spawn().await;
    let alice = app.tokens.user("alice");
    let admin = app.tokens.admin("ops");
    let (first, second) = two_priced_stories(&app, &alice).await;
    let planned = app.get(&format!("stories/{first}/"), &alice).await;
    assert_eq!(planned.body["estimated_cost"], "0.8000", "{}", planned.text);
    first_preview_within(&app, &first, "0.50").await;
    let me = app.get("quotas/me/", &alice).await;
    me.assert_status(200);
    assert_eq!(me.body["committed"], "0.3000", "{}", me.text);
    assert_eq!(me.body["remaining"], "0.2000", "{}", me.text);
    assert_eq!(me.body["rendering"], 1);

    let jobs_before = app.get("jobs/", &alice).await.body["count"].clone();
    let refused = app
        .post(
            &format!("stories/{second}/generate_preview/"),
            &alice,
            json!({}),
        )
        .await;
    refused.assert_problem(402, "budget_exceeded");
    assert_eq!(
        refused.body["amounts"]["budget"], "0.5000",
        "{}",
        refused.text
    );
    assert_eq!(refused.body["amounts"]["requested"], "0.3000");
    assert_eq!(refused.body["amounts"]["committed"], "0.3000");
    assert_eq!(refused.body["amounts"]["remaining"], "0.2000");
    // Nothing queued, nothing half-written.
    assert_eq!(preview_jobs(&app, &alice, &second).await, 0);
    assert_eq!(app.get("jobs/", &alice).await.body["count"], jobs_before);
    let story = app.get(&format!("stories/{second}/"), &alice).await;
    assert_eq!(story.body["status"], "planned");

    // An admin raises the budget; the same request passes.
    let raised = app
        .patch("quotas/alice/", &admin, json!({"monthly_budget": "5"}))
        .await;
    raised.assert_status(200);
    assert_eq!(
        raised.body["limits"]["monthly_budget"], "5.0000",
        "{}",
        raised.text
    );
    app.post(
        &format!("stories/{second}/generate_preview/"),
        &alice,
        json!({}),
    )
    .await
    .assert_status(202);
    assert_eq!(preview_jobs(&app, &alice, &second).await, 1);

    // Users cannot read or change anyone's quota; nobody can without a token.
    app.get("quotas/alice/", &alice).await.assert_status(403);
    app.request(reqwest::Method::GET, "quotas/alice/", None, None)
        .await
        .assert_problem(401, "not_authenticated");
    app.patch("quotas/alice/", &alice, json!({"monthly_budget": "999"}))
        .await
        .assert_status(403);
    // Back to the default with null.
    let reset = app
        .patch("quotas/alice/", &admin, json!({"monthly_budget": null}))
        .await;
    assert_eq!(
        reset.body["limits"]["monthly_budget"], "100.0000",
        "{}",
        reset.text
    );
    app.patch("quotas/alice/", &admin, json!({"monthly_budget": "-1"}))
        .await
        .assert_problem(422, "validation_error");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn previews_at_once_are_capped_across_two_api_processes() {
    let app = TestApp::spawn().await;
    let alice = app.tokens.user("alice");
    let admin = app.tokens.admin("ops");
    let (first, second) = two_priced_stories(&app, &alice).await;
    app.patch("quotas/alice/", &admin, json!({"max_rendering": 1}))
        .await
        .assert_status(200);
    let a = app.spawn_api_process(&[]).await;
    let b = app.spawn_api_process(&[]).await;
    let ask = |base: String, story: String| {
        let client = app.client.clone();
        let alice = alice.clone();
        async move {
            client
                .post(format!(
                    "{base}/api/ai-video/stories/{story}/generate_preview/"
                ))
                .bearer_auth(alice)
                .json(&json!({}))
                .send()
                .await
                .expect("request")
        }
    };
    let (ra, rb) = tokio::join!(
        ask(a.base.clone(), first.clone()),
        ask(b.base.clone(), second.clone())
    );
    let mut statuses = [ra.status().as_u16(), rb.status().as_u16()];
    statuses.sort_unstable();
    assert_eq!(statuses, [202, 429]);
    let refused = if ra.status() == 429 { ra } else { rb };
    assert!(refused.headers().contains_key("retry-after"));
    let problem: Value = refused.json().await.unwrap();
    assert_eq!(problem["code"], "quota_exceeded", "{problem}");
    let queued =
        preview_jobs(&app, &alice, &first).await + preview_jobs(&app, &alice, &second).await;
    assert_eq!(queued, 1, "one preview queued");
}

#[tokio::test]
async fn scenes_never_add_up_to_more_than_the_story_cap() {
    let app = TestApp::spawn().await;
    let alice = app.tokens.user("alice");
    let story = app.create_story(&alice, "Long", 600).await;
    let id = story["id"].as_str().unwrap().to_string();
    let scene = |i: usize| json!({"duration_seconds": 30, "prompt": {"text": format!("Shot {i}")}});
    let bulk = |scenes: Vec<Value>| json!({"story": id, "scenes": scenes});
    let r = app
        .post(
            "scenes/bulk_create/",
            &alice,
            bulk((0..21).map(scene).collect()),
        )
        .await;
    r.assert_problem(409, "too_much_video");
    assert!(r.text.contains("600"), "{}", r.text);
    let listed = app.get(&format!("scenes/?story={id}"), &alice).await;
    assert_eq!(listed.body["count"], 0, "{}", listed.text);
    // Up to the cap is fine, in one request or several.
    for _ in 0..2 {
        app.post(
            "scenes/bulk_create/",
            &alice,
            bulk((0..10).map(scene).collect()),
        )
        .await
        .assert_status(201);
    }
    app.post("scenes/bulk_create/", &alice, bulk(vec![scene(99)]))
        .await
        .assert_problem(409, "too_much_video");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_scene_made_on_its_own_counts_against_the_budget() {
    let app = TestApp::spawn().await;
    let alice = app.tokens.user("alice");
    let (first, second) = two_priced_stories(&app, &alice).await;
    first_preview_within(&app, &first, "0.50").await;
    let scenes = app.get(&format!("scenes/?story={second}"), &alice).await;
    let scene = scenes.body["results"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();

    // One 2 s scene of four seconds, in final quality: a keyframe ($0.05) and half
    // of the $0.40 final video, $0.25 — past the $0.20 left.
    let refused = app
        .post(
            &format!("scenes/{scene}/generate/"),
            &alice,
            json!({"quality": "final"}),
        )
        .await;
    refused.assert_problem(402, "budget_exceeded");
    assert_eq!(
        refused.body["amounts"]["requested"], "0.2500",
        "{}",
        refused.text
    );
    let queued = |jobs: Vec<Value>| {
        jobs.iter()
            .filter(|j| j["kind"] == "generate_scene")
            .count()
    };
    assert_eq!(
        queued(app.jobs_of(&alice, &second).await),
        0,
        "nothing queued"
    );

    // In preview quality it is $0.15, which fits, and is committed until it is done.
    let job = app
        .post(&format!("scenes/{scene}/generate/"), &alice, json!({}))
        .await;
    job.assert_status(202);
    assert_eq!(job.body["parameters"]["estimate"], "0.1500", "{}", job.text);
    let me = app.get("quotas/me/", &alice).await;
    assert_eq!(me.body["committed"], "0.4500", "{}", me.text);
    assert_eq!(me.body["rendering"], 1, "a scene is not a story rendering");
    assert_eq!(queued(app.jobs_of(&alice, &second).await), 1);
}
