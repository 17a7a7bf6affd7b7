//! A receiver that fails: retried on the schedule with the same `webhook-id` (its
//! `Retry-After` honoured), disabled by `410 Gone` or by failing too long, and a
//! delivery sent again by hand.

use ai_video_tests::webhook_receiver::{WebhookReceiver, attempt_codes};
use ai_video_tests::{Backend, TestApp};
use serde_json::{Value, json};

use crate::{WAIT, archived_story, count_for};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_receiver_gets_the_event_again_with_the_same_id() {
    let receiver = WebhookReceiver::start();
    let app = TestApp::spawn_with(receiver.options(Backend::Postgres)).await;
    let alice = app.tokens.user("alice");
    let bob = app.tokens.user("bob");
    let (flaky, secret) = app
        .register_webhook(
            &alice,
            json!({"url": receiver.url("flaky"), "events": ["story.status_changed"]}),
        )
        .await;
    receiver
        .configure("flaky", &[&secret], &[500, 500, 200])
        .await;
    let (patient, bob_secret) = app
        .register_webhook(&bob, json!({"url": receiver.url("patient")}))
        .await;
    receiver
        .configure_with("patient", &[&bob_secret], &[503, 200], Some(1))
        .await;
    let worker = app.start_worker(receiver.worker(&[])).await;
    archived_story(&app, &alice).await;
    archived_story(&app, &bob).await;
    receiver
        .wait_for(
            |log| count_for(log, "flaky") >= 3 && count_for(log, "patient") >= 2,
            WAIT,
        )
        .await;
    let listed = app.settled_deliveries(&alice, &flaky).await;
    let log = receiver.log_of("flaky").await;

    let answered: Vec<u16> = log.iter().map(|d| d.status_answered).collect();
    assert_eq!(answered, [500, 500, 200], "{log:#?}");
    for d in &log {
        assert!(d.verified, "{d:?}");
        assert_eq!(
            d.webhook_id, log[0].webhook_id,
            "the id is stable: {log:#?}"
        );
        assert_eq!(d.body, log[0].body, "the payload is the same");
    }
    // The schedule is 200 ms, then 400 ms (±10 %).
    assert!(log[1].received_at - log[0].received_at >= 0.17, "{log:#?}");
    assert!(log[2].received_at - log[1].received_at >= 0.35, "{log:#?}");

    assert_eq!(listed.len(), 1, "{listed:#?}");
    let d = &listed[0];
    assert_eq!(
        (&d["status"], &d["attempts"]),
        (&json!("delivered"), &json!(3)),
        "{d}"
    );
    assert_eq!(
        attempt_codes(d),
        [json!(500), json!(500), json!(200)],
        "{d}"
    );
    assert_eq!(d["response_code"], 200);
    assert_eq!(d["message_id"].as_str(), log[0].webhook_id.as_deref());
    assert!(
        d["delivered_at"].is_string() && d["next_attempt_at"].is_null(),
        "{d}"
    );
    let numbers: Vec<&Value> = d["attempt_log"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| &a["attempt"])
        .collect();
    assert_eq!(numbers, [&json!(1), &json!(2), &json!(3)]);
    let first_error = d["attempt_log"][0]["error"].as_str().unwrap_or_default();
    assert!(first_error.contains("500"), "{d}");
    assert!(d["attempt_log"][2]["error"].is_null(), "{d}");
    let endpoint = app.get(&format!("webhooks/{flaky}/"), &alice).await;
    assert_eq!(endpoint.body["enabled"], true);
    assert!(
        endpoint.body["failing_since"].is_null(),
        "a success ends the failing run: {}",
        endpoint.text
    );

    // `Retry-After: 1`, longer than the schedule's 200 ms, is honoured.
    let patient_log = receiver.log_of("patient").await;
    assert_eq!(patient_log.len(), 2, "{patient_log:#?}");
    let waited = patient_log[1].received_at - patient_log[0].received_at;
    assert!(
        waited >= 0.95,
        "retried after {waited:.2} s, not the asked 1 s"
    );
    let bobs = app.settled_deliveries(&bob, &patient).await;
    assert_eq!(attempt_codes(&bobs[0]), [json!(503), json!(200)]);
    worker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gone_disables_the_endpoint_and_nothing_more_is_sent() {
    let receiver = WebhookReceiver::start();
    let app = TestApp::spawn_with(receiver.options(Backend::Postgres)).await;
    let alice = app.tokens.user("alice");
    let (gone, gone_secret) = app
        .register_webhook(&alice, json!({"url": receiver.url("gone")}))
        .await;
    let (_, witness_secret) = app
        .register_webhook(&alice, json!({"url": receiver.url("witness")}))
        .await;
    receiver.configure("gone", &[&gone_secret], &[410]).await;
    receiver
        .configure("witness", &[&witness_secret], &[200])
        .await;
    let worker = app.start_worker(receiver.worker(&[])).await;

    archived_story(&app, &alice).await;
    let disabled = app
        .webhook_until(&alice, &gone, |e| e["enabled"] == false)
        .await;
    let reason = disabled["disabled_reason"].as_str().unwrap_or_default();
    assert!(reason.contains("410"), "{disabled}");
    let listed = app.deliveries(&alice, &gone).await;
    assert_eq!(listed.len(), 1, "{listed:#?}");
    assert_eq!(listed[0]["status"], "failed");
    assert_eq!(listed[0]["attempts"], 1, "410 is not retried");
    assert_eq!(attempt_codes(&listed[0]), [json!(410)]);

    // The next event reaches the other endpoint, not the disabled one.
    let second = archived_story(&app, &alice).await;
    let log = receiver
        .wait_for(
            |log| {
                log.iter()
                    .any(|d| d.name == "witness" && d.story() == Some(second.as_str()))
            },
            WAIT,
        )
        .await;
    assert_eq!(count_for(&log, "gone"), 1, "{log:#?}");
    assert_eq!(app.deliveries(&alice, &gone).await.len(), 1);

    // Enabled again by its owner, it loses the reason and hears the next event.
    let r = app
        .patch(
            &format!("webhooks/{gone}/"),
            &alice,
            json!({"enabled": true}),
        )
        .await;
    r.assert_status(200);
    assert!(r.body["disabled_reason"].is_null(), "{}", r.text);
    receiver.configure("gone", &[&gone_secret], &[200]).await;
    let third = archived_story(&app, &alice).await;
    receiver
        .wait_for(
            |log| {
                log.iter()
                    .any(|d| d.name == "gone" && d.story() == Some(third.as_str()))
            },
            WAIT,
        )
        .await;
    worker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endpoint_failing_too_long_is_disabled_with_a_reason() {
    let receiver = WebhookReceiver::start();
    let app = TestApp::spawn_with(receiver.options(Backend::Postgres)).await;
    let alice = app.tokens.user("alice");
    let (endpoint, secret) = app
        .register_webhook(&alice, json!({"url": receiver.url("down")}))
        .await;
    receiver.configure("down", &[&secret], &[500]).await;
    let worker = app
        .start_worker(receiver.worker(&[("WEBHOOK_DISABLE_AFTER", "1s")]))
        .await;
    archived_story(&app, &alice).await;
    let e = app
        .webhook_until(&alice, &endpoint, |e| e["enabled"] == false)
        .await;
    let reason = e["disabled_reason"].as_str().unwrap_or_default();
    assert!(reason.contains("failed") && reason.contains("500"), "{e}");
    assert!(e["failing_since"].is_string(), "{e}");
    let listed = app.settled_deliveries(&alice, &endpoint).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["status"], "failed");
    assert_eq!(
        attempt_codes(&listed[0]),
        vec![json!(500); 4],
        "the first try and the schedule's three"
    );
    let log = receiver.log().await;
    assert_eq!(log.len(), 4, "{log:#?}");
    assert!(
        log.iter()
            .all(|d| d.verified && d.webhook_id == log[0].webhook_id),
        "{log:#?}"
    );
    worker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_sent_again_by_hand_keeps_its_id() {
    let receiver = WebhookReceiver::start();
    let app = TestApp::spawn_with(receiver.options(Backend::Postgres)).await;
    let alice = app.tokens.user("alice");
    let (endpoint, secret) = app
        .register_webhook(&alice, json!({"url": receiver.url("again")}))
        .await;
    receiver.configure("again", &[&secret], &[200]).await;
    let worker = app.start_worker(receiver.worker(&[])).await;
    archived_story(&app, &alice).await;
    let listed = app.settled_deliveries(&alice, &endpoint).await;
    assert_eq!(listed.len(), 1);
    let resend = format!(
        "webhooks/{endpoint}/deliveries/{}/resend/",
        listed[0]["id"].as_str().unwrap()
    );
    app.post(&resend, &alice, json!({}))
        .await
        .assert_status(202);
    let log = receiver.wait_for(|log| log.len() >= 2, WAIT).await;
    assert_eq!(log.len(), 2, "{log:#?}");
    assert_eq!(log[1].webhook_id, log[0].webhook_id);
    assert_eq!(log[1].body, log[0].body);
    assert!(log.iter().all(|d| d.verified), "{log:#?}");
    let listed = app.settled_deliveries(&alice, &endpoint).await;
    assert_eq!(
        (&listed[0]["status"], &listed[0]["attempts"]),
        (&json!("delivered"), &json!(2))
    );
    assert_eq!(attempt_codes(&listed[0]), [json!(200), json!(200)]);
    let missing = uuid::Uuid::new_v4();
    app.post(
        &format!("webhooks/{endpoint}/deliveries/{missing}/resend/"),
        &alice,
        json!({}),
    )
    .await
    .assert_problem(404, "not_found");
    worker.stop().await;
}
