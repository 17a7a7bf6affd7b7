//! Swagger UI is served offline from a document generated from the routes, and it
//! lists every endpoint of the contract; the probes answer.

use ai_video_tests::TestApp;
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swagger_ui_lists_every_endpoint() {
    let app = TestApp::spawn().await;
    for path in ["/api/ai-video/docs/", "/api/ai-video/docs"] {
        let r = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
        let html = r.text().await.unwrap();
        assert!(html.contains("swagger-ui"), "{path}: {html}");
    }
    let init = app
        .client
        .get(app.url("/api/ai-video/docs/swagger-initializer.js"))
        .send()
        .await
        .unwrap();
    let init = init.text().await.unwrap();
    assert!(
        init.contains("/api/ai-video/openapi.json"),
        "the UI loads the local document: {init}"
    );
    for asset in ["swagger-ui.css", "swagger-ui-bundle.js"] {
        let r = app
            .client
            .get(app.url(&format!("/api/ai-video/docs/{asset}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{asset} is served by the API, not a CDN");
    }

    let doc: Value = app
        .client
        .get(app.url("/api/ai-video/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let expected = [
        ("get", "stories/"),
        ("post", "stories/"),
        ("get", "stories/{id}/"),
        ("patch", "stories/{id}/"),
        ("post", "stories/{id}/transition/"),
        ("post", "stories/{id}/generate_preview/"),
        ("post", "stories/{id}/render_final/"),
        ("get", "scenes/"),
        ("post", "scenes/bulk_create/"),
        ("post", "scenes/{id}/generate/"),
        ("post", "scenes/{id}/reorder/"),
        ("get", "jobs/"),
        ("post", "jobs/{id}/retry/"),
        ("post", "jobs/{id}/cancel/"),
        ("get", "jobs/statistics/"),
    ];
    for (method, path) in expected {
        let full = format!("/api/ai-video/{path}");
        let op = &doc["paths"][&full][method];
        assert!(op.is_object(), "{method} {full} is documented");
        assert!(
            op["responses"].as_object().is_some_and(|r| !r.is_empty()),
            "{method} {full} has responses"
        );
    }
    assert!(doc["paths"]["/healthz"]["get"].is_object());
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );

    // Every documented path answers (with 401 without a token, not 404).
    let paths = doc["paths"].as_object().unwrap();
    for (path, ops) in paths {
        let concrete = path.replace("{id}", &uuid::Uuid::new_v4().to_string());
        for method in ops.as_object().unwrap().keys() {
            let m = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let r = app
                .client
                .request(m, app.url(&concrete))
                .send()
                .await
                .unwrap();
            assert_ne!(r.status(), 404, "{method} {path}");
            assert_ne!(r.status(), 405, "{method} {path}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paths_work_without_the_trailing_slash() {
    let app = TestApp::spawn().await;
    let alice = app.tokens.user("alice");
    let story = app.create_story(&alice, "Slash", 7).await;
    let id = story["id"].as_str().unwrap();
    app.get("stories", &alice).await.assert_status(200);
    app.get(&format!("stories/{id}"), &alice)
        .await
        .assert_status(200);
    app.get(&format!("jobs/?story={id}"), &alice)
        .await
        .assert_status(200);
    app.get(&format!("jobs?story={id}"), &alice)
        .await
        .assert_status(200);
    app.post(
        &format!("stories/{id}/transition"),
        &alice,
        serde_json::json!({"to": "planning"}),
    )
    .await
    .assert_status(200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probes_answer() {
    let app = TestApp::spawn().await;
    let r = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let r: Value = app
        .client
        .get(app.url("/readyz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["status"], "ok");
    assert_eq!(r["checks"]["database"], "ok");
    assert_eq!(r["checks"]["redis"], "ok");
    let r = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert!(
        r.headers().contains_key("x-request-id"),
        "every response carries a request id"
    );
}
