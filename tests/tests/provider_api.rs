//! `providers/`: admins read and change provider configurations; nobody else can;
//! bad values are named; secrets never go in. And Replicate's webhook endpoint only
//! takes correctly signed calls.

use ai_video_tests::TestApp;
use ai_video_tests::fakes::sign_webhook;
use ai_video_tests::tokens::WEBHOOK_SECRET;
use reqwest::Method;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admins_manage_provider_configs_and_others_cannot() {
    let app = TestApp::spawn().await;
    let admin = app.tokens.admin("ops");
    let alice = app.tokens.user("alice");

    let list = app.get("providers/", &admin).await;
    list.assert_status(200);
    let names: Vec<&str> = list.body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["provider"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "elevenlabs",
            "local",
            "openai",
            "replicate",
            "runway_ml",
            "stability_ai"
        ]
    );
    assert_eq!(list.body["count"], 6, "a DRF page: {}", list.text);
    assert_eq!(list.body["next"], serde_json::Value::Null);
    let page = app.get("providers/?page=2&page_size=3", &admin).await;
    assert_eq!(page.body["results"][0]["provider"], "replicate");
    assert!(
        page.body["previous"]
            .as_str()
            .unwrap()
            .ends_with("providers/?page_size=3")
    );
    app.get("providers/?page=3&page_size=3", &admin)
        .await
        .assert_problem(404, "not_found");
    let stability = app.get("providers/stability_ai/", &admin).await;
    assert_eq!(stability.body["rate_limit_per_minute"], 60);
    assert_eq!(stability.body["rate_limit_per_hour"], 1000);
    assert_eq!(stability.body["cost_per_image"], "0.0200");
    assert_eq!(stability.body["cost_per_second_video"], "0.0500");
    assert_eq!(
        stability.body["settings"]["default_model"],
        "stable-diffusion-xl-1024-v1-0"
    );
    assert_eq!(stability.body["settings"]["steps"], 30);
    let runway = app.get("providers/runway_ml/", &admin).await;
    assert_eq!(
        runway.body["settings"]["default_model"], "gen4_turbo",
        "a model Runway still serves"
    );
    assert_eq!(
        (
            runway.body["rate_limit_per_minute"].as_i64(),
            runway.body["cost_per_image"].as_str()
        ),
        (Some(30), Some("0.0300"))
    );
    for body in [&list.text, &stability.text, &runway.text] {
        assert!(
            !body.to_lowercase().contains("api_key") && !body.contains("sk-"),
            "no key in a response"
        );
    }

    let r = app
        .patch("providers/runway_ml/", &admin, json!({"is_active": false, "rate_limit_per_minute": 10,
            "cost_per_second_video": "0.0500", "settings": {"default_model": "gen4.5", "max_duration": 10}}))
        .await;
    r.assert_status(200);
    assert_eq!(r.body["is_active"], false);
    assert_eq!(r.body["rate_limit_per_minute"], 10);
    assert_eq!(r.body["rate_limit_per_hour"], 500, "untouched");
    assert_eq!(r.body["cost_per_second_video"], "0.0500");
    assert_eq!(r.body["settings"]["default_model"], "gen4.5");

    for path in ["providers/", "providers/runway_ml/"] {
        app.get(path, &alice)
            .await
            .assert_problem(403, "permission_denied");
    }
    app.patch("providers/runway_ml/", &alice, json!({"is_active": true}))
        .await
        .assert_problem(403, "permission_denied");
    app.request(Method::GET, "providers/", None, None)
        .await
        .assert_problem(401, "not_authenticated");
    app.get("providers/sora/", &admin)
        .await
        .assert_problem(404, "not_found");

    let r = app
        .patch(
            "providers/local/",
            &admin,
            json!({"rate_limit_per_hour": -1, "cost_per_image": "-0.5"}),
        )
        .await;
    r.assert_problem(422, "validation_error");
    assert!(
        !r.field_errors("rate_limit_per_hour").is_empty()
            && !r.field_errors("cost_per_image").is_empty()
    );
    let r = app
        .patch(
            "providers/replicate/",
            &admin,
            json!({"settings": {"api_token": "r8_secret"}}),
        )
        .await;
    assert!(
        !r.assert_problem(422, "validation_error")
            .field_errors("settings.api_token")
            .is_empty()
    );
    // Settings are typed: an unknown key or a value of the wrong type names the field.
    for (settings, field) in [
        (json!({"max_durration": 4}), "settings.max_durration"),
        (json!({"max_duration": "4"}), "settings.max_duration"),
        (json!({"poll_interval_ms": 5}), "settings.poll_interval_ms"),
        (json!({"image_input": "go"}), "settings.image_input"),
    ] {
        let r = app
            .patch(
                "providers/runway_ml/",
                &admin,
                json!({ "settings": settings }),
            )
            .await;
        assert_eq!(
            r.assert_problem(422, "validation_error")
                .field_errors(field)
                .len(),
            1,
            "{settings}: {}",
            r.text
        );
    }
    let r = app
        .patch("providers/replicate/", &admin, json!({"settings": [1, 2]}))
        .await;
    assert!(
        !r.assert_problem(422, "validation_error")
            .field_errors("settings")
            .is_empty()
    );
    let r = app
        .patch(
            "providers/replicate/",
            &admin,
            json!({"cost_per_image": 0.1}),
        )
        .await;
    r.assert_problem(400, "invalid_input");
    // Every bad value at once; prices are plain decimal strings; NUL cannot be stored.
    let r = app
        .patch(
            "providers/replicate/",
            &admin,
            json!({"cost_per_image": "1e3", "cost_per_second_video": "0.00001",
                "rate_limit_per_minute": 1_000_001, "settings": {"model": "a\u{0}b"}}),
        )
        .await;
    r.assert_problem(422, "validation_error");
    for field in [
        "cost_per_image",
        "cost_per_second_video",
        "rate_limit_per_minute",
        "settings",
    ] {
        assert_eq!(r.field_errors(field).len(), 1, "{field}: {}", r.text);
    }
    let r = app
        .patch(
            "providers/replicate/",
            &admin,
            json!({"cost_per_image": "1000000", "rate_limit_per_hour": 60.0}),
        )
        .await;
    r.assert_status(200);
    assert_eq!(r.body["cost_per_image"], "1000000.0000");
    assert_eq!(r.body["rate_limit_per_hour"], 60);
    let after = app.get("providers/replicate/", &admin).await;
    assert!(
        after.body["settings"].get("api_token").is_none(),
        "refused patches change nothing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicate_webhooks_need_a_valid_signature() {
    let app = TestApp::spawn().await;
    let body = json!({"id": "abcdefghijklmnopqrstuvwxyz", "status": "succeeded", "output": "https://replicate.delivery/x.png"}).to_string();
    let now = chrono::Utc::now().timestamp().to_string();
    let post = |id: &str, ts: &str, sig: &str| {
        app.client
            .post(app.url("webhooks/replicate/"))
            .header("webhook-id", id)
            .header("webhook-timestamp", ts)
            .header("webhook-signature", sig)
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
    };
    let good = sign_webhook(WEBHOOK_SECRET, "msg_1", &now, body.as_bytes());
    let r = post("msg_1", &now, &good).await.unwrap();
    assert_eq!(r.status(), 204);
    let stored = app
        .queued_key(&ai_video_shared::webhooks::inbox_key(
            &app.queue,
            "abcdefghijklmnopqrstuvwxyz",
        ))
        .await;
    assert_eq!(
        stored.as_deref(),
        Some(body.as_str()),
        "left for the worker that polls it"
    );

    let r = post("msg_2", &now, &good).await.unwrap();
    assert_eq!(r.status(), 401, "signed for another message id");
    let old = (chrono::Utc::now().timestamp() - 3600).to_string();
    let stale = sign_webhook(WEBHOOK_SECRET, "msg_3", &old, body.as_bytes());
    assert_eq!(
        post("msg_3", &old, &stale).await.unwrap().status(),
        401,
        "too old"
    );
    assert_eq!(post("msg_4", &now, "v1,AAAA").await.unwrap().status(), 401);
}
