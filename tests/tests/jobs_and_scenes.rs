//! Jobs: cancel, retry, previews as BullMQ flows, statistics; scenes: reordering
//! keeps positions dense and unique; lists paginate in DRF's shape.

use std::time::Duration;

use ai_video_tests::{Backend, TestApp};
use serde_json::{Value, json};

fn ids(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect()
}

async fn reorder(app: TestApp) {
    let alice = app.tokens.user("alice");
    let (story, s) = app.story_with_scenes(&alice, 5).await;
    let positions = |list: &Value| -> Vec<i64> {
        list.as_array()
            .unwrap()
            .iter()
            .map(|x| x["position"].as_i64().unwrap())
            .collect()
    };

    // Move the last scene to the front: the others shift down by one.
    let r = app
        .post(
            &format!("scenes/{}/reorder/", s[4]),
            &alice,
            json!({"position": 1}),
        )
        .await;
    r.assert_status(200);
    assert_eq!(ids(&r.body), [&*s[4], &*s[0], &*s[1], &*s[2], &*s[3]]);
    assert_eq!(positions(&r.body), [1, 2, 3, 4, 5]);
    // Move it back to the middle.
    let r = app
        .post(
            &format!("scenes/{}/reorder/", s[4]),
            &alice,
            json!({"position": 3}),
        )
        .await;
    assert_eq!(ids(&r.body), [&*s[0], &*s[1], &*s[4], &*s[2], &*s[3]]);
    // Place two scenes at once; the rest keep their order in the free slots.
    let r = app
        .post(
            &format!("scenes/{}/reorder/", s[0]),
            &alice,
            json!({"positions": [{"scene_id": s[3], "position": 1}, {"scene_id": s[0], "position": 5}]}),
        )
        .await;
    r.assert_status(200);
    assert_eq!(ids(&r.body), [&*s[3], &*s[1], &*s[4], &*s[2], &*s[0]]);
    assert_eq!(positions(&r.body), [1, 2, 3, 4, 5]);
    let listed = app.get(&format!("scenes/?story={story}"), &alice).await;
    assert_eq!(
        ids(&listed.body["results"]),
        ids(&r.body),
        "the new order is stored"
    );

    // Appending keeps the positions dense.
    let r = app
        .post("scenes/bulk_create/", &alice, json!({"story": story, "scenes": [{"duration_seconds": 4, "prompt": {"text": "epilogue"}}]}))
        .await;
    assert_eq!(r.body["results"][0]["position"], 6);

    // Concurrent reorders leave a dense, unique order whatever wins.
    let moves = (0..6).map(|i| {
        let path = format!("scenes/{}/reorder/", s[i % 5]);
        let alice = alice.clone();
        let app = &app;
        async move {
            app.post(&path, &alice, json!({"position": (i % 6) + 1}))
                .await
        }
    });
    for r in futures::future::join_all(moves).await {
        assert!(r.status == 200 || r.status == 409, "{}", r.text);
    }
    let listed = app.get(&format!("scenes/?story={story}"), &alice).await;
    assert_eq!(positions(&listed.body["results"]), [1, 2, 3, 4, 5, 6]);

    // Once the story moved on, scenes are no longer editable.
    app.force_status(&story, "rendering").await;
    let r = app
        .post(
            &format!("scenes/{}/reorder/", s[0]),
            &alice,
            json!({"position": 1}),
        )
        .await;
    r.assert_problem(409, "invalid_story_status");
    let r = app
        .post("scenes/bulk_create/", &alice, json!({"story": story, "scenes": [{"duration_seconds": 4, "prompt": {"text": "late"}}]}))
        .await;
    r.assert_problem(409, "invalid_story_status");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reorder_keeps_positions_dense_on_postgres() {
    reorder(TestApp::spawn().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reorder_keeps_positions_dense_on_sqlite() {
    reorder(TestApp::spawn_on(Backend::Sqlite).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_then_retry_planning() {
    let app = TestApp::spawn().await;
    let alice = app.tokens.user("alice");
    let (story, _) = app.story_with_scenes(&alice, 1).await;
    let r = app.start_planning(&alice, &story).await;
    let first = r.body["job"]["id"].as_str().unwrap().to_string();

    app.post(&format!("jobs/{first}/retry/"), &alice, json!({}))
        .await
        .assert_problem(409, "job_not_retryable");
    let r = app
        .post(&format!("jobs/{first}/cancel/"), &alice, json!({}))
        .await;
    assert_eq!(r.body["status"], "cancelled");
    assert!(r.body["finished_at"].is_string());
    app.post(&format!("jobs/{first}/cancel/"), &alice, json!({}))
        .await
        .assert_problem(409, "job_not_active");
    assert_eq!(
        app.get(&format!("stories/{story}/"), &alice).await.body["status"],
        "draft"
    );

    let r = app
        .post(&format!("jobs/{first}/retry/"), &alice, json!({}))
        .await;
    r.assert_status(202);
    assert_eq!(r.body["retry_of"], first.as_str());
    assert_eq!(r.body["status"], "queued");
    let second = r.body["queue_id"].as_str().unwrap().to_string();
    assert_ne!(r.body["id"], first.as_str());
    assert_eq!(
        app.get(&format!("stories/{story}/"), &alice).await.body["status"],
        "planning"
    );
    assert!(
        app.queued_job(&second, Duration::from_secs(10))
            .await
            .is_some(),
        "the retry is queued"
    );
    app.post(&format!("jobs/{first}/retry/"), &alice, json!({}))
        .await
        .assert_problem(409, "job_in_progress");

    let log = app
        .get(&format!("stories/{story}/transitions/"), &alice)
        .await;
    let moves: Vec<String> = log.body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            format!(
                "{}->{}",
                t["from_status"].as_str().unwrap(),
                t["to_status"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        moves,
        ["draft->planning", "planning->draft", "draft->planning"]
    );

    let stats = app.get("jobs/statistics/", &alice).await;
    assert_eq!(stats.body["total"], 2);
    assert_eq!(stats.body["cancelled"], 1);
    assert_eq!(stats.body["queued"], 1);
    assert_eq!(stats.body["total_cost"], "0.0000");
    assert_eq!(
        stats.body["success_rate"],
        Value::Null,
        "nothing finished yet"
    );
    assert_eq!(stats.body["by_kind"]["plan_story"]["total"], 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_preview_is_a_flow_of_scene_jobs() {
    let app = TestApp::spawn().await;
    let alice = app.tokens.user("alice");
    let (story, scenes) = app.story_with_scenes(&alice, 3).await;
    app.force_status(&story, "planned").await;
    let r = app
        .post(
            &format!("stories/{story}/generate_preview/"),
            &alice,
            json!({"priority": 3}),
        )
        .await;
    r.assert_status(202);
    assert_eq!(r.body["story"]["status"], "previewing");
    let parent = r.body["job"].clone();
    assert_eq!(parent["kind"], "generate_preview");
    assert_eq!(parent["parameters"]["quality"], "preview");

    let jobs = app
        .get(&format!("jobs/?story={story}&kind=generate_scene"), &alice)
        .await;
    assert_eq!(jobs.body["count"], 3);
    let children = jobs.body["results"].as_array().unwrap();
    let mut child_scenes: Vec<&str> = children
        .iter()
        .map(|j| j["scene"].as_str().unwrap())
        .collect();
    child_scenes.sort();
    let mut expected: Vec<&str> = scenes.iter().map(String::as_str).collect();
    expected.sort();
    assert_eq!(child_scenes, expected, "one scene job per scene");
    for child in children {
        assert_eq!(child["parent"], parent["id"]);
        assert_eq!(child["priority"], 3);
    }

    // In Redis, the parent waits for its children, which are queued.
    let parent_fields = app
        .queued_job(
            parent["queue_id"].as_str().unwrap(),
            Duration::from_secs(10),
        )
        .await
        .unwrap();
    assert_eq!(parent_fields["name"], "preview_generation");
    let waiting_children = app.queue_set("waiting-children").await;
    assert_eq!(
        waiting_children,
        vec![parent["queue_id"].as_str().unwrap().to_string()]
    );
    for child in children {
        let fields = app
            .queued_job(child["queue_id"].as_str().unwrap(), Duration::from_secs(1))
            .await
            .unwrap();
        assert_eq!(fields["name"], "scene_generation");
        assert!(
            fields["parentKey"].ends_with(parent["queue_id"].as_str().unwrap()),
            "{fields:?}"
        );
        let link: Value = serde_json::from_str(&fields["parent"]).unwrap();
        assert_eq!(
            link["fpof"], true,
            "a scene that fails for good fails the preview: {link}"
        );
    }

    // render_final needs the preview first.
    let r = app
        .post(&format!("stories/{story}/render_final/"), &alice, json!({}))
        .await;
    r.assert_problem(409, "preview_not_ready");
    // Cancelling one scene job cancels the whole preview.
    let child = children[1]["id"].as_str().unwrap();
    app.post(&format!("jobs/{child}/cancel/"), &alice, json!({}))
        .await
        .assert_status(200);
    let all = app.get(&format!("jobs/?story={story}"), &alice).await;
    for job in all.body["results"].as_array().unwrap() {
        assert_eq!(job["status"], "cancelled", "{job}");
    }
    // ... and retrying the preview queues a new flow.
    let r = app
        .post(
            &format!("jobs/{}/retry/", parent["id"].as_str().unwrap()),
            &alice,
            json!({}),
        )
        .await;
    r.assert_status(202);
    assert_eq!(r.body["kind"], "generate_preview");
    let all = app
        .get(&format!("jobs/?story={story}&status=queued"), &alice)
        .await;
    assert_eq!(
        all.body["count"], 4,
        "a new parent and three new scene jobs"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_paginate_like_drf() {
    let app = TestApp::spawn().await;
    let alice = app.tokens.user("alice");
    for i in 0..23 {
        app.create_story(&alice, &format!("Story {i}"), 7).await;
    }
    let r = app.get("stories/?page_size=10", &alice).await;
    assert_eq!(r.body["count"], 23);
    assert_eq!(r.body["results"].as_array().unwrap().len(), 10);
    assert_eq!(r.body["previous"], Value::Null);
    let next = r.body["next"].as_str().unwrap().to_string();
    assert!(
        next.ends_with("/api/ai-video/stories/?page_size=10&page=2"),
        "{next}"
    );
    assert_eq!(r.body["results"][0]["title"], "Story 22", "newest first");
    let r2: Value = app
        .client
        .get(&next)
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r2["results"][0]["title"], "Story 12");
    let r3 = app.get("stories/?page_size=10&page=3", &alice).await;
    assert_eq!(r3.body["results"].as_array().unwrap().len(), 3);
    assert_eq!(r3.body["next"], Value::Null);
    assert!(
        r3.body["previous"]
            .as_str()
            .unwrap()
            .ends_with("stories/?page_size=10&page=2")
    );
    let first = r.body["results"][0]["id"].as_str().unwrap();
    app.post(
        &format!("stories/{first}/transition/"),
        &alice,
        json!({"to": "archived"}),
    )
    .await
    .assert_status(200);
    let archived = app.get("stories/?status=archived", &alice).await;
    assert_eq!(archived.body["count"], 1);
    assert_eq!(archived.body["results"][0]["id"], first);
    let drafts = app.get("stories/?status=draft", &alice).await;
    assert_eq!(drafts.body["count"], 22);

    // The transition log is a page too, oldest first.
    let second = r.body["results"][1]["id"].as_str().unwrap();
    for to in ["planning", "draft", "archived"] {
        app.post(
            &format!("stories/{second}/transition/"),
            &alice,
            json!({"to": to}),
        )
        .await
        .assert_status(200);
    }
    let log = app
        .get(
            &format!("stories/{second}/transitions/?page_size=2"),
            &alice,
        )
        .await;
    assert_eq!(log.body["count"], 3, "{}", log.text);
    assert_eq!(log.body["results"][0]["to_status"], "planning");
    assert_eq!(log.body["results"][1]["to_status"], "draft");
    assert_eq!(log.body["previous"], Value::Null);
    assert!(
        log.body["next"]
            .as_str()
            .unwrap()
            .ends_with(&format!("stories/{second}/transitions/?page_size=2&page=2"))
    );
    let last = app
        .get(
            &format!("stories/{second}/transitions/?page_size=2&page=2"),
            &alice,
        )
        .await;
    assert_eq!(last.body["results"][0]["to_status"], "archived");
    assert_eq!(last.body["next"], Value::Null);
    app.get(
        &format!("stories/{second}/transitions/?page=3&page_size=2"),
        &alice,
    )
    .await
    .assert_problem(404, "not_found");
}

/// A float without a fraction is the whole number it names, as DRF's
/// `IntegerField` reads it; jobs that are not scene jobs say `"scene": null`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whole_number_floats_are_integers() {
    let app = TestApp::spawn().await;
    let alice = app.tokens.user("alice");
    let r = app
        .post(
            "stories/",
            &alice,
            json!({"title": "Floats", "duration_seconds": 14.0}),
        )
        .await;
    r.assert_status(201);
    assert_eq!(r.body["duration_seconds"], 14);
    let story = r.body["id"].as_str().unwrap();
    let r = app
        .post(
            "scenes/bulk_create/",
            &alice,
            json!({"story": story, "scenes": [{"duration_seconds": 7.0, "position": 1.0,
                "prompt": {"text": "a", "seed": 3.0}}]}),
        )
        .await;
    r.assert_status(201);
    assert_eq!(r.body["results"][0]["prompt"]["seed"], 3);
    let r = app
        .post(
            &format!("stories/{story}/transition/"),
            &alice,
            json!({"to": "planning", "priority": 7.0}),
        )
        .await;
    r.assert_status(200);
    let job = &r.body["job"];
    assert_eq!(job["priority"], 7);
    assert!(
        job.as_object().unwrap().contains_key("scene") && job["scene"].is_null(),
        "{job}"
    );
    let queued = app
        .queued_job(job["queue_id"].as_str().unwrap(), Duration::from_secs(10))
        .await
        .unwrap();
    let opts: Value = serde_json::from_str(&queued["opts"]).unwrap();
    assert_eq!(opts["priority"], 7, "{opts}");

    let (planned, _) = app.planned_story(&alice, 2, 7).await;
    let r = app
        .post(
            &format!("stories/{planned}/generate_preview/"),
            &alice,
            json!({"priority": 2.0}),
        )
        .await;
    r.assert_status(202);
    assert_eq!(r.body["job"]["priority"], 2);
    assert!(r.body["job"]["scene"].is_null());
}
