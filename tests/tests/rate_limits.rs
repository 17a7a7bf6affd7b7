//! Request rate limits hold across API replicas: two `ai-video-api` processes on one
//! Redis share each user's and each client address's budget, answer with the IETF
//! `RateLimit` headers, and refuse with `429 throttled` and `Retry-After`.

use ai_video_tests::TestApp;
use ai_video_tests::api_process::ApiProcess;

async fn get(app: &TestApp, replica: &ApiProcess, path: &str, token: &str) -> reqwest::Response {
    app.client
        .get(replica.url(path))
        .bearer_auth(token)
        .send()
        .await
        .expect("request")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_are_shared_by_two_api_processes() {
    let app = TestApp::spawn().await;
    let limits = [
        ("RATE_LIMIT_USER_PER_MINUTE", "10"),
        ("RATE_LIMIT_CLIENT_PER_MINUTE", "16"),
    ];
    let a = app.spawn_api_process(&limits).await;
    let b = app.spawn_api_process(&limits).await;
    let alice = app.tokens.user("alice");
    // Windows are whole minutes: start early in one, so that it holds the test.
    let into = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        % 60;
    if into > 40 {
        tokio::time::sleep(std::time::Duration::from_secs(61 - into)).await;
    }

    let first = get(&app, &a, "stories/", &alice).await;
    assert_eq!(first.status(), 200);
    let policy = first.headers()["ratelimit-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(policy.contains("\"user\";q=10;w=60"), "{policy}");
    assert!(policy.contains("\"client\";q=16;w=60"), "{policy}");
    let current = first.headers()["ratelimit"].to_str().unwrap().to_string();
    assert!(current.starts_with("\"user\";r=9;t="), "{current}");

    // Nine more, alternating replicas, use up alice's ten.
    for i in 0..9 {
        let replica = if i % 2 == 0 { &b } else { &a };
        assert_eq!(get(&app, replica, "stories/", &alice).await.status(), 200);
    }
    for replica in [&a, &b] {
        let refused = get(&app, replica, "stories/", &alice).await;
        assert_eq!(refused.status(), 429);
        let wait: u64 = refused.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=60).contains(&wait), "{wait}");
        assert!(refused.headers().contains_key("ratelimit"));
        let problem: serde_json::Value = refused.json().await.unwrap();
        assert_eq!(problem["code"], "throttled", "{problem}");
    }

    // Bob has his own user budget, but the address has sent 12 of its 16.
    let bob = app.tokens.user("bob");
    for _ in 0..4 {
        assert_eq!(get(&app, &a, "stories/", &bob).await.status(), 200);
    }
    let refused = get(&app, &b, "stories/", &bob).await;
    assert_eq!(refused.status(), 429);
    let problem: serde_json::Value = refused.json().await.unwrap();
    assert!(
        problem["detail"].as_str().unwrap().contains("client"),
        "{problem}"
    );

    // Probes are never limited.
    for replica in [&a, &b] {
        for probe in ["/healthz", "/metrics"] {
            let r = app
                .client
                .get(format!("{}{probe}", replica.base))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200, "{probe}");
        }
    }
}
