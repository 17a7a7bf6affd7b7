//! Bad input gets a 4xx problem+json naming the field, never a 500, and never
//! leaves a half-written story behind.

use ai_video_tests::{Backend, TestApp};
use reqwest::Method;
use serde_json::json;

async fn story_bodies(app: &TestApp) {
    let alice = app.tokens.user("alice");
    let post = |body: &'static str| app.post_raw("stories/", &alice, "application/json", body);

    post("{\"title\": \"x\",")
        .await
        .assert_problem(400, "malformed_json");
    post("").await.assert_problem(400, "malformed_json");
    post("[1, 2]").await.assert_problem(400, "invalid_input");
    post("{\"title\": \"x\", \"duration_seconds\": 7} trailing")
        .await
        .assert_problem(400, "malformed_json");
    app.post_raw("stories/", &alice, "text/plain", "{}")
        .await
        .assert_problem(415, "unsupported_media_type");

    let r = post(r#"{"title": 5, "duration_seconds": 7}"#).await;
    r.assert_problem(400, "invalid_input");
    assert!(!r.field_errors("title").is_empty(), "{}", r.text);
    let r = post(r#"{"title": "x", "duration_seconds": "seven"}"#).await;
    assert!(
        !r.assert_problem(400, "invalid_input")
            .field_errors("duration_seconds")
            .is_empty()
    );
    let r = post(r#"{"title": "x", "duration_seconds": 7.5}"#).await;
    assert!(
        !r.assert_problem(400, "invalid_input")
            .field_errors("duration_seconds")
            .is_empty()
    );
    let r = post(r#"{"title": "x", "duration_seconds": 99999999999999999999999}"#).await;
    assert!(
        !r.assert_problem(400, "invalid_input")
            .field_errors("duration_seconds")
            .is_empty()
    );
    let r = post(r#"{"duration_seconds": 7}"#).await;
    assert_eq!(
        r.assert_problem(400, "invalid_input").field_errors("title"),
        ["This field is required."]
    );
    let r = post(r#"{"title": "x", "duration_seconds": 7, "owner": "bob"}"#).await;
    assert!(
        !r.assert_problem(400, "invalid_input")
            .field_errors("owner")
            .is_empty(),
        "{}",
        r.text
    );
    let r = post(r#"{"title": "x", "duration_seconds": 7, "aspect_ratio": "5:5"}"#).await;
    let msg = r
        .assert_problem(422, "validation_error")
        .field_errors("aspect_ratio")
        .join(" ");
    assert!(msg.contains("16:9"), "lists the valid choices: {msg}");
    let r = post(r#"{"title": "x", "duration_seconds": 7, "aspect_ratio": 16}"#).await;
    assert!(
        !r.assert_problem(400, "invalid_input")
            .field_errors("aspect_ratio")
            .is_empty(),
        "a choice of the wrong type is malformed"
    );
    // Every bad value of a well-formed body is named in one answer.
    let r = post(
        r#"{"title": " ", "duration_seconds": 0, "aspect_ratio": "2:1",
            "image_provider": "midjourney", "video_provider": "stability_ai", "style": "a\u0007"}"#,
    )
    .await;
    r.assert_problem(422, "validation_error");
    for field in [
        "title",
        "duration_seconds",
        "aspect_ratio",
        "image_provider",
        "video_provider",
        "style",
    ] {
        assert_eq!(r.field_errors(field).len(), 1, "{field}: {}", r.text);
    }

    for (duration, why) in [
        (0, "zero"),
        (-7, "negative"),
        (601, "over ten minutes"),
        (86_400, "a day"),
    ] {
        let r = app
            .post(
                "stories/",
                &alice,
                json!({"title": "x", "duration_seconds": duration}),
            )
            .await;
        r.assert_problem(422, "validation_error");
        assert_eq!(
            r.field_errors("duration_seconds").len(),
            1,
            "{why}: {}",
            r.text
        );
    }
    let r = app
        .post(
            "stories/",
            &alice,
            json!({"title": "  ", "duration_seconds": 0}),
        )
        .await;
    r.assert_problem(422, "validation_error");
    assert!(
        !r.field_errors("title").is_empty() && !r.field_errors("duration_seconds").is_empty(),
        "all fields at once"
    );
    let r = app
        .post(
            "stories/",
            &alice,
            json!({"title": "x".repeat(201), "duration_seconds": 7}),
        )
        .await;
    assert!(
        !r.assert_problem(422, "validation_error")
            .field_errors("title")
            .is_empty()
    );
    let r = app
        .post(
            "stories/",
            &alice,
            json!({"title": "x", "duration_seconds": 7, "video_provider": "stability_ai"}),
        )
        .await;
    assert!(
        !r.assert_problem(422, "validation_error")
            .field_errors("video_provider")
            .is_empty()
    );

    // Refused from the announced length, before the body is read.
    app.post_announcing("stories/", &alice, 2 * 1024 * 1024)
        .await
        .assert_problem(413, "payload_too_large");

    let list = app.get("stories/", &alice).await;
    assert_eq!(
        list.body["count"], 0,
        "no bad request left a story: {}",
        list.text
    );
}

async fn ids_and_queries(app: &TestApp) {
    let alice = app.tokens.user("alice");
    for path in [
        "stories/not-a-uuid/",
        "scenes/123/",
        "jobs/x/",
        "jobs/x/cancel/",
    ] {
        let method = if path.ends_with("cancel/") {
            Method::POST
        } else {
            Method::GET
        };
        app.request(method, path, Some(&alice), None)
            .await
            .assert_problem(404, "not_found");
    }
    let unknown = uuid::Uuid::new_v4();
    app.get(&format!("stories/{unknown}/"), &alice)
        .await
        .assert_problem(404, "not_found");
    app.get("nothing-here/", &alice)
        .await
        .assert_problem(404, "not_found");
    app.request(Method::DELETE, "stories/", Some(&alice), None)
        .await
        .assert_problem(405, "method_not_allowed");

    app.get("stories/?page=0", &alice)
        .await
        .assert_problem(422, "validation_error");
    app.get("stories/?page_size=1000", &alice)
        .await
        .assert_problem(422, "validation_error");
    let r = app.get("stories/?page=abc", &alice).await;
    assert!(
        !r.assert_problem(400, "invalid_input")
            .field_errors("page")
            .is_empty(),
        "{}",
        r.text
    );
    let r = app.get("stories/?status=done", &alice).await;
    assert!(
        !r.assert_problem(400, "invalid_input")
            .field_errors("status")
            .is_empty(),
        "{}",
        r.text
    );
    app.get("jobs/?kind=nope", &alice)
        .await
        .assert_problem(400, "invalid_input");
    app.get("scenes/?story=nope", &alice)
        .await
        .assert_problem(400, "invalid_input");
    app.get("stories/?page=9", &alice)
        .await
        .assert_problem(404, "not_found");
}

/// Page numbers whose offset would overflow, or past the documented maximum, are
/// answered 404 "Invalid page." before any query runs; the server keeps serving.
async fn page_overflow(app: &TestApp) {
    let alice = app.tokens.user("alice");
    let story = app.create_story(&alice, "Paged", 7).await;
    let story = story["id"].as_str().unwrap();
    for list in [
        "stories/".to_string(),
        "scenes/".into(),
        "jobs/".into(),
        format!("stories/{story}/transitions/"),
    ] {
        for query in [
            "page=9223372036854775809",
            "page=4611686018427387904&page_size=4",
            "page=18446744073709551615",
            "page=18446744073709551616",
            "page=99999999999999999999999999&page_size=100",
            "page=1000000001",
            "page=1000000000&page_size=100",
        ] {
            let r = app.get(&format!("{list}?{query}"), &alice).await;
            r.assert_problem(404, "not_found");
            assert_eq!(r.body["detail"], "Invalid page.", "{list}?{query}");
        }
        app.get(&list, &alice).await.assert_status(200);
    }
    let admin = app.tokens.admin("ops");
    app.get("providers/?page=18446744073709551615", &admin)
        .await
        .assert_problem(404, "not_found");
    app.get("providers/", &admin).await.assert_status(200);
}

async fn scenes_and_transitions(app: &TestApp) {
    let alice = app.tokens.user("alice");
    let (story, scenes) = app.story_with_scenes(&alice, 3).await;

    let bulk = |scenes: serde_json::Value| {
        app.post(
            "scenes/bulk_create/",
            &alice,
            json!({"story": story, "scenes": scenes}),
        )
    };
    let r = bulk(json!([])).await;
    assert!(
        !r.assert_problem(422, "validation_error")
            .field_errors("scenes")
            .is_empty()
    );
    let r = bulk(json!([{"duration_seconds": 0, "prompt": {"text": "x"}}, {"duration_seconds": 5, "prompt": {"text": "", "seed": -1}}])).await;
    r.assert_problem(422, "validation_error");
    for field in [
        "scenes[0].duration_seconds",
        "scenes[1].prompt.text",
        "scenes[1].prompt.seed",
    ] {
        assert!(!r.field_errors(field).is_empty(), "{field}: {}", r.text);
    }
    let r = bulk(
        json!([{"position": 4, "duration_seconds": 5, "prompt": {"text": "a"}},
                        {"position": 4, "duration_seconds": 5, "prompt": {"text": "b"}}]),
    )
    .await;
    assert!(
        !r.assert_problem(409, "position_taken")
            .field_errors("scenes[1].position")
            .is_empty(),
        "two scenes of one request ask for one position: {}",
        r.text
    );
    let r = bulk(json!([{"position": 5, "duration_seconds": 5, "prompt": {"text": "a"}}])).await;
    assert!(
        !r.assert_problem(409, "position_out_of_range")
            .field_errors("scenes[0].position")
            .is_empty(),
        "past the story's end: {}",
        r.text
    );
    bulk(json!([{"position": 2, "duration_seconds": 5, "prompt": {"text": "a"}}]))
        .await
        .assert_problem(409, "position_taken");
    let r = bulk(json!([{"duration_seconds": 5, "prompt": {"txt": "a"}}])).await;
    r.assert_problem(400, "invalid_input");
    assert!(
        r.body["errors"]
            .as_object()
            .unwrap()
            .keys()
            .any(|k| k.starts_with("scenes[0].prompt")),
        "{}",
        r.text
    );
    let r = app
        .post(
            "scenes/bulk_create/",
            &alice,
            json!({"story": "nope", "scenes": []}),
        )
        .await;
    assert!(
        !r.assert_problem(400, "invalid_input")
            .field_errors("story")
            .is_empty()
    );
    let count = app.get(&format!("scenes/?story={story}"), &alice).await;
    assert_eq!(count.body["count"], 3, "refused bulk creates add nothing");

    let reorder_path = format!("scenes/{}/reorder/", scenes[0]);
    let reorder = |body: serde_json::Value| app.post(&reorder_path, &alice, body);
    let r = reorder(json!({"positions": [{"scene_id": scenes[0], "position": 1}, {"scene_id": scenes[1], "position": 1}]})).await;
    assert!(
        !r.assert_problem(409, "position_taken")
            .field_errors("positions[1].position")
            .is_empty(),
        "{}",
        r.text
    );
    let r = reorder(json!({"positions": [{"scene_id": scenes[0], "position": 1}, {"scene_id": scenes[0], "position": 2}]})).await;
    assert!(
        !r.assert_problem(409, "scene_repeated")
            .field_errors("positions[1].scene_id")
            .is_empty(),
        "{}",
        r.text
    );
    let r = reorder(json!({"position": 0})).await;
    assert!(
        !r.assert_problem(422, "validation_error")
            .field_errors("position")
            .is_empty()
    );
    let r = reorder(json!({"position": 4})).await;
    assert!(
        !r.assert_problem(409, "position_out_of_range")
            .field_errors("position")
            .is_empty()
    );
    reorder(json!({}))
        .await
        .assert_problem(422, "validation_error");
    reorder(json!({"position": 2, "positions": []}))
        .await
        .assert_problem(422, "validation_error");
    let foreign = uuid::Uuid::new_v4();
    let r = reorder(json!({"positions": [{"scene_id": foreign, "position": 1}]})).await;
    assert!(
        !r.assert_problem(409, "scene_not_in_story")
            .field_errors("positions[0].scene_id")
            .is_empty()
    );
    let order = app.get(&format!("scenes/?story={story}"), &alice).await;
    let ids: Vec<&str> = order.body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        scenes.iter().map(String::as_str).collect::<Vec<_>>(),
        "refused reorders change nothing"
    );

    let r = app
        .patch(
            &format!("stories/{story}/"),
            &alice,
            json!({"aspect_ratio": "2:1", "duration_seconds": 601, "video_provider": "sora"}),
        )
        .await;
    r.assert_problem(422, "validation_error");
    for field in ["aspect_ratio", "duration_seconds", "video_provider"] {
        assert_eq!(r.field_errors(field).len(), 1, "{field}: {}", r.text);
    }

    let path = format!("stories/{story}/transition/");
    let r = app
        .post(
            &path,
            &alice,
            json!({"to": "done", "priority": 7.5, "reason": "\u{0}"}),
        )
        .await;
    r.assert_problem(422, "validation_error");
    for field in ["to", "priority", "reason"] {
        assert_eq!(r.field_errors(field).len(), 1, "{field}: {}", r.text);
    }
    assert!(
        r.field_errors("priority")[0].contains("whole number"),
        "{}",
        r.text
    );
    for priority in [json!(0), json!(11), json!(10.5)] {
        let r = app
            .post(
                &path,
                &alice,
                json!({"to": "planning", "priority": priority}),
            )
            .await;
        assert!(
            !r.assert_problem(422, "validation_error")
                .field_errors("priority")
                .is_empty(),
            "{priority}"
        );
    }
    let r = app
        .post(&path, &alice, json!({"to": "planning", "priority": "7"}))
        .await;
    r.assert_problem(400, "invalid_input");
    let r = app
        .post(
            &path,
            &alice,
            json!({"to": "planning", "reason": "x".repeat(501)}),
        )
        .await;
    assert!(
        !r.assert_problem(422, "validation_error")
            .field_errors("reason")
            .is_empty()
    );
    let r = app
        .patch(
            &format!("stories/{story}/"),
            &alice,
            json!({"status": "completed"}),
        )
        .await;
    assert!(
        !r.assert_problem(400, "invalid_input")
            .field_errors("status")
            .is_empty(),
        "status is not patchable"
    );
    let r = app
        .patch(
            &format!("stories/{story}/"),
            &alice,
            json!({"title": "new", "version": 99}),
        )
        .await;
    r.assert_problem(409, "version_conflict");
    let jobs = app.get("jobs/", &alice).await;
    assert_eq!(jobs.body["count"], 0, "refused requests queue nothing");
}

/// A Korean title and prompt (and an emoji) round-trip intact.
async fn korean_round_trip(app: &TestApp) {
    let alice = app.tokens.user("alice");
    let title = "등대지기의 마지막 밤 🌊";
    let prompt = "폭풍우 치는 밤, 낡은 등대 위로 번개가 친다. 「빛」을 지키는 노인의 얼굴.";
    let r = app
        .post(
            "stories/",
            &alice,
            json!({"title": title, "synopsis": prompt, "duration_seconds": 14, "style": "수채화"}),
        )
        .await;
    r.assert_status(201);
    let id = r.body["id"].as_str().unwrap();
    let r = app
        .post("scenes/bulk_create/", &alice, json!({"story": id, "scenes": [{"duration_seconds": 7, "prompt": {"text": prompt, "negative_prompt": "흐릿함"}}]}))
        .await;
    r.assert_status(201);
    let scene = r.body["results"][0]["id"].as_str().unwrap();
    let story = app.get(&format!("stories/{id}/"), &alice).await;
    assert_eq!(story.body["title"], title);
    assert_eq!(story.body["synopsis"], prompt);
    assert_eq!(story.body["style"], "수채화");
    let scene = app.get(&format!("scenes/{scene}/"), &alice).await;
    assert_eq!(scene.body["prompt"]["text"], prompt);
    assert_eq!(scene.body["prompt"]["negative_prompt"], "흐릿함");
    assert_eq!(scene.body["prompt"]["style"], "수채화");
    // 2,000 Korean characters fit the limit, which counts characters, not bytes.
    let long = "가".repeat(2000);
    let r = app
        .post(
            "scenes/bulk_create/",
            &alice,
            json!({"story": id, "scenes": [{"duration_seconds": 7, "prompt": {"text": long}}]}),
        )
        .await;
    r.assert_status(201);
    assert_eq!(
        r.body["results"][0]["prompt"]["text"]
            .as_str()
            .unwrap()
            .chars()
            .count(),
        2000
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_story_bodies_on_postgres() {
    story_bodies(&TestApp::spawn().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_ids_and_queries_on_postgres() {
    ids_and_queries(&TestApp::spawn().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn page_overflow_is_404_on_postgres() {
    page_overflow(&TestApp::spawn().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_scenes_and_transitions_on_postgres() {
    scenes_and_transitions(&TestApp::spawn().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn korean_round_trip_on_postgres() {
    korean_round_trip(&TestApp::spawn().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_smoke_on_sqlite() {
    let app = TestApp::spawn_on(Backend::Sqlite).await;
    story_bodies(&app).await;
    ids_and_queries(&app).await;
    scenes_and_transitions(&app).await;
    korean_round_trip(&app).await;
    page_overflow(&app).await;
}
