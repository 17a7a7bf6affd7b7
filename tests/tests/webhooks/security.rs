//! Who and what deliveries trust: secrets rotated with and without a grace, internal
//! addresses refused at registration and at delivery, and other users' endpoints out
//! of reach.

use ai_video_tests::webhook_receiver::{Delivery, WebhookReceiver};
use ai_video_tests::worker::WorkerTweaks;
use ai_video_tests::{Backend, Options, TestApp, free_port};
use reqwest::Method;
use serde_json::json;

use crate::{WAIT, archived_story};

/// One event for the endpoint of `receiver`'s name `r`, while the receiver knows
/// only `secrets`; answers how it arrived.
async fn deliver(
    app: &TestApp,
    receiver: &WebhookReceiver,
    token: &str,
    secrets: &[&str],
) -> Delivery {
    receiver.configure("r", secrets, &[200]).await;
    let story = archived_story(app, token).await;
    let log = receiver
        .wait_for(
            |log| log.iter().any(|d| d.story() == Some(story.as_str())),
            WAIT,
        )
        .await;
    log.into_iter()
        .find(|d| d.story() == Some(story.as_str()))
        .expect("the delivery")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_secret_and_the_old_one_both_verify_during_the_grace() {
    let receiver = WebhookReceiver::start();
    let app = TestApp::spawn_with(receiver.options(Backend::Postgres)).await;
    let alice = app.tokens.user("alice");
    let (endpoint, first) = app
        .register_webhook(&alice, json!({"url": receiver.url("r")}))
        .await;
    let worker = app.start_worker(receiver.worker(&[])).await;
    let d = deliver(&app, &receiver, &alice, &[&first]).await;
    assert_eq!(
        (d.verified_with, d.signature_count()),
        (Some(0), 1),
        "{d:?}"
    );

    let rotate = format!("webhooks/{endpoint}/rotate/");
    let r = app
        .post(&rotate, &alice, json!({"grace_seconds": 3600}))
        .await;
    r.assert_status(200);
    let second = r.body["secret"].as_str().expect("a new secret").to_string();
    assert!(
        second.starts_with("whsec_") && second != first,
        "{}",
        r.text
    );
    assert!(
        r.body["previous_secret_expires_at"].is_string(),
        "{}",
        r.text
    );
    let d = deliver(&app, &receiver, &alice, &[&second]).await;
    assert!(d.verified, "the new secret verifies: {d:?}");
    assert_eq!(d.signature_count(), 2, "{d:?}");
    let d = deliver(&app, &receiver, &alice, &[&first]).await;
    assert!(
        d.verified,
        "the old secret verifies during the grace: {d:?}"
    );

    let r = app.post(&rotate, &alice, json!({"grace_seconds": 0})).await;
    r.assert_status(200);
    let third = r.body["secret"].as_str().expect("a new secret").to_string();
    assert!(r.body["previous_secret_expires_at"].is_null(), "{}", r.text);
    // The older secrets are tried first: only the newest verifies.
    let d = deliver(&app, &receiver, &alice, &[&second, &first, &third]).await;
    assert_eq!(
        (d.verified_with, d.signature_count()),
        (Some(2), 1),
        "{d:?}"
    );
    assert_eq!(d.status_answered, 200);
    let listed = app.settled_deliveries(&alice, &endpoint).await;
    assert_eq!(listed.len(), 4);
    assert!(
        listed
            .iter()
            .all(|l| l["status"] == "delivered" && l["attempts"] == 1),
        "{listed:#?}"
    );
    worker.stop().await;
}

#[tokio::test]
async fn internal_addresses_are_refused_at_registration() {
    let receiver = WebhookReceiver::start();
    let app = TestApp::spawn_with(receiver.options(Backend::Postgres)).await;
    let alice = app.tokens.user("alice");
    let mut other = free_port();
    while receiver.host_port() == format!("127.0.0.1:{other}") {
        other = free_port();
    }
    for url in [
        format!("http://127.0.0.1:{other}/x"),
        "http://169.254.169.254/latest/meta-data/".into(),
        "https://169.254.169.254/latest/meta-data/".into(),
        "http://localhost/".into(),
        "https://localhost/".into(),
        "https://10.0.0.7/hook".into(),
        "https://[::1]/hook".into(),
    ] {
        let r = app.post("webhooks/", &alice, json!({"url": url})).await;
        r.assert_problem(422, "validation_error");
        assert!(!r.field_errors("url").is_empty(), "{url}: {}", r.text);
    }
    let r = app
        .post(
            "webhooks/",
            &alice,
            json!({"url": receiver.url("ok"), "events": ["story.completed", "scene.progress"]}),
        )
        .await;
    r.assert_problem(422, "validation_error");
    assert!(
        !r.field_errors("events[1]").is_empty(),
        "progress is streamed only: {}",
        r.text
    );
    let (id, _) = app
        .register_webhook(&alice, json!({"url": receiver.url("ok")}))
        .await;
    let r = app
        .patch(
            &format!("webhooks/{id}/"),
            &alice,
            json!({"url": "http://169.254.169.254/"}),
        )
        .await;
    r.assert_problem(422, "validation_error");
    assert!(!r.field_errors("url").is_empty(), "{}", r.text);
    let list = app.get("webhooks/", &alice).await;
    assert_eq!(list.body["count"], 1, "{}", list.text);
    assert_eq!(list.body["results"][0]["url"], receiver.url("ok"));
    // The secret is shown once, at registration.
    let one = app.get(&format!("webhooks/{id}/"), &alice).await;
    for r in [&list, &one] {
        assert!(!r.text.contains("whsec_"), "{}", r.text);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_the_worker_does_not_allow_is_refused_at_delivery() {
    let receiver = WebhookReceiver::start();
    let app = TestApp::spawn_with(receiver.options(Backend::Postgres)).await;
    let alice = app.tokens.user("alice");
    let (endpoint, secret) = app
        .register_webhook(&alice, json!({"url": receiver.url("x")}))
        .await;
    receiver.configure("x", &[&secret], &[200]).await;
    let elsewhere = format!("127.0.0.1:{}", free_port());
    let worker = app
        .start_worker(WorkerTweaks {
            env: vec![("OUTBOUND_ALLOW_HOSTS".into(), elsewhere)],
            ..WorkerTweaks::default()
        })
        .await;
    archived_story(&app, &alice).await;
    let listed = app.settled_deliveries(&alice, &endpoint).await;
    assert_eq!(listed.len(), 1);
    let d = &listed[0];
    assert_eq!(d["status"], "failed", "{d}");
    assert_eq!(
        d["attempts"], 4,
        "the first try and the schedule's three: {d}"
    );
    for a in d["attempt_log"].as_array().unwrap() {
        assert!(a["response_code"].is_null(), "{d}");
        let error = a["error"].as_str().unwrap_or_default();
        assert!(
            error.contains("refused") && error.contains("not allowed"),
            "{d}"
        );
    }
    assert!(receiver.log().await.is_empty(), "the receiver was reached");
    // Five days have not passed: the endpoint stays on, failing.
    let e = app.get(&format!("webhooks/{endpoint}/"), &alice).await;
    assert_eq!(e.body["enabled"], true, "{}", e.text);
    assert!(e.body["failing_since"].is_string(), "{}", e.text);
    worker.stop().await;
}

#[tokio::test]
async fn another_users_endpoint_is_not_found() {
    let port = free_port();
    let app = TestApp::spawn_with(Options {
        outbound_allow_hosts: Some(format!("127.0.0.1:{port}")),
        ..Options::default()
    })
    .await;
    let alice = app.tokens.user("alice");
    let bob = app.tokens.user("bob");
    let (endpoint, _) = app
        .register_webhook(
            &alice,
            json!({"url": format!("http://127.0.0.1:{port}/hook")}),
        )
        .await;
    archived_story(&app, &alice).await;
    let delivery = app.deliveries(&alice, &endpoint).await[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let before = app.get(&format!("webhooks/{endpoint}/"), &alice).await;

    let path = format!("webhooks/{endpoint}/");
    let tries = [
        (Method::GET, path.clone(), None),
        (Method::PATCH, path.clone(), Some(json!({"enabled": false}))),
        (Method::DELETE, path.clone(), None),
        (
            Method::POST,
            format!("{path}rotate/"),
            Some(json!({"grace_seconds": 0})),
        ),
        (Method::GET, format!("{path}deliveries/"), None),
        (
            Method::POST,
            format!("{path}deliveries/{delivery}/resend/"),
            Some(json!({})),
        ),
    ];
    for (method, path, body) in tries {
        let r = app.request(method.clone(), &path, Some(&bob), body).await;
        r.assert_problem(404, "not_found");
        assert!(!r.text.contains("alice"), "{method} {path}: {}", r.text);
    }
    let list = app.get("webhooks/", &bob).await;
    assert_eq!(list.body["count"], 0, "{}", list.text);
    let after = app.get(&format!("webhooks/{endpoint}/"), &alice).await;
    assert_eq!(after.body, before.body, "bob changed alice's endpoint");
    let listed = app.deliveries(&alice, &endpoint).await;
    assert_eq!(
        (&listed[0]["status"], &listed[0]["attempts"]),
        (&json!("pending"), &json!(0))
    );

    // Its owner can delete it.
    app.request(Method::DELETE, &path, Some(&alice), None)
        .await
        .assert_status(204);
    app.get(&path, &alice)
        .await
        .assert_problem(404, "not_found");
    app.get(&format!("{path}deliveries/"), &alice)
        .await
        .assert_problem(404, "not_found");
}
