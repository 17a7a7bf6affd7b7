//! Swagger UI is served offline from a document generated from the routes, and it
//! lists every endpoint of the contract; the probes answer.

use ai_video_tests::TestApp;
use serde_json::Value;

/// The OpenAPI document the API serves.
async fn openapi(app: &TestApp) -> Value {
    let r = app.client.get(app.url("/api/ai-video/openapi.json")).send();
    r.await.unwrap().json().await.unwrap()
}

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

    let doc = openapi(&app).await;
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
    // The edge: every POST a user makes may meet an Idempotency-Key's answers, every
    // operation but the probes may be throttled.
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for (method, op) in ops.as_object().unwrap() {
            let probe = path == "/healthz" || path == "/readyz";
            assert_eq!(
                op["responses"].get("429").is_some(),
                !probe,
                "{method} {path}: 429 throttled"
            );
            let public = op["security"].as_array().is_some_and(|s| {
                s.iter()
                    .all(|r| r.as_object().is_some_and(|o| o.is_empty()))
            });
            if method == "post" && !public {
                for status in ["409", "422"] {
                    assert!(
                        op["responses"].get(status).is_some(),
                        "{method} {path}: {status} of an Idempotency-Key"
                    );
                }
            }
        }
    }
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
    // Ready or not, nothing more: details go to the log.
    assert_eq!(r, serde_json::json!({"status": "ok"}));
    let r = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert!(
        r.headers().contains_key("x-request-id"),
        "every response carries a request id"
    );
}

/// The document says what the server does: errors are problem+json, the limits the
/// server enforces are in the schemas, and the probes need no token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_states_errors_limits_and_security() {
    let app = TestApp::spawn().await;
    let doc = openapi(&app).await;
    let resolve = |r: &Value| -> Value {
        match r["$ref"].as_str() {
            Some(name) => {
                let name = name.trim_start_matches("#/components/responses/");
                doc["components"]["responses"][name].clone()
            }
            None => r.clone(),
        }
    };
    let unsecured = ["/healthz", "/readyz", "/api/ai-video/webhooks/replicate/"];
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for (method, op) in ops.as_object().unwrap() {
            let responses = op["responses"].as_object().unwrap();
            for (status, response) in responses {
                let response = resolve(response);
                if status.as_str() >= "400" && path != "/readyz" {
                    let content = response["content"].as_object().unwrap();
                    assert_eq!(
                        content.keys().collect::<Vec<_>>(),
                        ["application/problem+json"],
                        "{method} {path} {status}"
                    );
                    assert_eq!(
                        content["application/problem+json"]["schema"]["$ref"],
                        "#/components/schemas/Problem"
                    );
                }
            }
            if unsecured.contains(&path.as_str()) {
                assert_eq!(op["security"], serde_json::json!([]), "{method} {path}");
            } else {
                assert!(op.get("security").is_none(), "{method} {path}");
                assert!(responses.contains_key("401"), "{method} {path}");
            }
            if path.contains("{id}") {
                assert!(responses.contains_key("404"), "{method} {path}");
            }
            if op.get("requestBody").is_some() {
                for status in ["400", "413", "422"] {
                    assert!(responses.contains_key(status), "{method} {path} {status}");
                }
            }
            let params = op["parameters"].as_array().cloned().unwrap_or_default();
            if let Some(page) = params.iter().find(|p| p["name"] == "page") {
                assert_eq!(page["schema"]["minimum"], 1, "{method} {path}");
                assert_eq!(page["schema"]["maximum"], 1_000_000_000u64);
                let size = params.iter().find(|p| p["name"] == "page_size").unwrap();
                assert_eq!(
                    (&size["schema"]["minimum"], &size["schema"]["maximum"]),
                    (&serde_json::json!(1), &serde_json::json!(100))
                );
                for status in ["400", "404", "422"] {
                    assert!(responses.contains_key(status), "{method} {path} {status}");
                }
            }
        }
    }
    for list in [
        "stories/",
        "scenes/",
        "jobs/",
        "stories/{id}/transitions/",
        "providers/",
    ] {
        let op = &doc["paths"][format!("/api/ai-video/{list}")]["get"];
        let body = &op["responses"]["200"]["content"]["application/json"]["schema"]["$ref"];
        assert!(
            body.as_str().unwrap().contains("Paginated_"),
            "{list} answers a page: {body}"
        );
    }

    let schemas = &doc["components"]["schemas"];
    let story = &schemas["StoryIn"]["properties"];
    assert_eq!(story["title"]["minLength"], 1);
    assert_eq!(story["title"]["maxLength"], 200);
    assert!(
        story["title"]["pattern"]
            .as_str()
            .unwrap()
            .contains("\\u0000")
    );
    assert_eq!(story["duration_seconds"]["maximum"], 600);
    assert_eq!(
        schemas["VideoProvider"]["enum"],
        serde_json::json!(["runway_ml", "replicate", "local"])
    );
    assert_eq!(schemas["StoryIn"]["additionalProperties"], false);
    let scenes = &schemas["BulkCreateIn"]["properties"]["scenes"];
    assert_eq!(
        (&scenes["minItems"], &scenes["maxItems"]),
        (&1.into(), &200.into())
    );
    assert_eq!(schemas["PromptIn"]["properties"]["text"]["maxLength"], 2000);
    assert_eq!(
        schemas["TransitionIn"]["properties"]["priority"]["maximum"],
        10
    );
    assert!(
        schemas["ReorderIn"]["oneOf"]
            .as_array()
            .is_some_and(|f| f.len() == 2)
    );
}
