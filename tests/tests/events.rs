//! Live progress over Server-Sent Events, followed by a third-party client
//! (`httpx-sse`): every status change in order, resuming with `Last-Event-ID`
//! without a gap or a duplicate, any replica serving any story, tickets for
//! browsers, heartbeats, and nobody else's stories.

use std::time::Duration;

use ai_video_tests::TestApp;
use ai_video_tests::sse::{Follow, SseClient};
use ai_video_tests::worker::WorkerTweaks;
use serde_json::{Value, json};

/// The status changes a story went through, from its transition log.
async fn logged_moves(app: &TestApp, token: &str, story: &str) -> Vec<(String, String)> {
    let r = app
        .get(
            &format!("stories/{story}/transitions/?page_size=100"),
            token,
        )
        .await;
    r.assert_status(200);
    let mut moves: Vec<(String, String, String)> = r.body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["created_at"].as_str().unwrap().to_string(),
                t["from_status"].as_str().unwrap().to_string(),
                t["to_status"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    moves.sort();
    moves.into_iter().map(|(_, f, t)| (f, t)).collect()
}

fn moves_in(events: &[Value]) -> Vec<(String, String)> {
    events
        .iter()
        .filter(|e| e["event"] == "story.status_changed")
        .map(|e| {
            (
                e["data"]["data"]["previous_status"]
                    .as_str()
                    .unwrap()
                    .to_string(),
                e["data"]["data"]["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn ids(events: &[Value]) -> Vec<i64> {
    events
        .iter()
        .map(|e| e["id"].as_str().unwrap().parse().unwrap())
        .collect()
}

fn until_completed() -> Vec<String> {
    vec!["story.completed".into(), "story.failed".into()]
}

/// Drives a two-scene story through planning, preview and render.
async fn make_film(app: &TestApp, token: &str, story: &str) {
    app.bulk_scenes(
        token,
        story,
        vec![
            json!({"duration_seconds": 2, "prompt": {"text": "A lighthouse at dusk"}}),
            json!({"duration_seconds": 2, "prompt": {"text": "Dawn over a calm sea"}}),
        ],
    )
    .await;
    app.start_planning(token, story).await.assert_status(200);
    app.wait_for_status(token, story, "planned", Duration::from_secs(60))
        .await;
    app.preview(token, story).await;
    app.post(&format!("stories/{story}/render_final/"), token, json!({}))
        .await
        .assert_status(202);
}

#[tokio::test]
async fn a_client_follows_a_story_from_planning_to_completed() {
    let app = TestApp::spawn().await;
    let _worker = app.start_worker(WorkerTweaks::default()).await;
    let alice = app.tokens.user("alice");
    let story = app.create_story(&alice, "Followed", 4).await;
    let id = story["id"].as_str().unwrap().to_string();

    let (mut client, opened) = SseClient::open(
        &app.url(&format!("stories/{id}/events/")),
        Follow {
            token: Some(alice.clone()),
            until: until_completed(),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(opened["status"], 200, "{opened}");
    assert!(
        opened["content_type"]
            .as_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    make_film(&app, &alice, &id).await;
    let events = client.events(Duration::from_secs(180)).await;

    // Every status change, in the order the transition log has them.
    assert_eq!(moves_in(&events), logged_moves(&app, &alice, &id).await);
    assert_eq!(
        moves_in(&events).first(),
        Some(&("draft".to_string(), "planning".to_string()))
    );
    let last = events.last().unwrap();
    assert_eq!(last["event"], "story.completed", "{last}");
    assert_eq!(last["data"]["type"], "story.completed");
    assert_eq!(last["data"]["data"]["story_id"], id);
    assert_eq!(
        last["data"]["data"]["links"]["story"],
        format!("/api/ai-video/stories/{id}/")
    );
    // The media links are stable and need the owner's token: they redirect to a
    // fresh signed URL of the video.
    let film = last["data"]["data"]["links"]["final"].as_str().unwrap();
    assert_eq!(film, format!("/api/ai-video/stories/{id}/media/final/"));
    let got = app
        .client
        .get(app.url(film))
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap();
    assert_eq!(got.status(), 200);
    assert!(got.bytes().await.unwrap().len() > 1000, "a video");
    let bob = app.tokens.user("bob");
    app.get(film, &bob).await.assert_problem(404, "not_found");
    assert!(
        moves_in(&events).len() > 1 && events[0]["data"]["data"]["links"].get("final").is_none(),
        "no final link before there is a film"
    );
    // Ids only grow; the event name is the envelope's type.
    let ids = ids(&events);
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    assert!(events.iter().all(|e| e["event"] == e["data"]["type"]));
    // Both scenes were generated for the preview and again for the render, with
    // progress in whole percent along the way.
    let generated = events
        .iter()
        .filter(|e| e["event"] == "scene.generated")
        .count();
    assert_eq!(generated, 4);
    let percents: Vec<i64> = events
        .iter()
        .filter(|e| e["event"] == "scene.progress")
        .map(|e| e["data"]["data"]["percent"].as_i64().unwrap())
        .collect();
    assert!(!percents.is_empty());
    assert!(percents.iter().all(|p| (0..=100).contains(p)));
    assert!(
        events.iter().any(|e| e["event"] == "job.progress"),
        "job progress is streamed"
    );
}

#[tokio::test]
async fn resuming_with_last_event_id_loses_and_repeats_nothing() {
    let app = TestApp::spawn().await;
    let _worker = app.start_worker(WorkerTweaks::default()).await;
    let alice = app.tokens.user("alice");
    let story = app.create_story(&alice, "Resumed", 4).await;
    let id = story["id"].as_str().unwrap().to_string();
    let url = app.url(&format!("stories/{id}/events/"));

    // A whole log, read from the start by one client, is the reference.
    let (mut whole, _) = SseClient::open(
        &url,
        Follow {
            token: Some(alice.clone()),
            last_event_id: Some(0),
            until: until_completed(),
            ..Default::default()
        },
    )
    .await;
    app.bulk_scenes(
        &alice,
        &id,
        vec![
            json!({"duration_seconds": 2, "prompt": {"text": "A lighthouse at dusk"}}),
            json!({"duration_seconds": 2, "prompt": {"text": "Dawn over a calm sea"}}),
        ],
    )
    .await;
    app.start_planning(&alice, &id).await.assert_status(200);
    app.wait_for_status(&alice, &id, "planned", Duration::from_secs(60))
        .await;
    app.preview(&alice, &id).await;
    // Another client drops its connection mid-render, at the first progress of a
    // scene, and comes back with the last id it saw.
    let (mut first, _) = SseClient::open(
        &url,
        Follow {
            token: Some(alice.clone()),
            until: vec!["scene.progress".into()],
            ..Default::default()
        },
    )
    .await;
    app.post(&format!("stories/{id}/render_final/"), &alice, json!({}))
        .await
        .assert_status(202);
    let before = first.events(Duration::from_secs(60)).await;
    first.stop().await;
    assert_eq!(before[0]["data"]["data"]["status"], "rendering");
    let last_seen = *ids(&before).last().unwrap();
    let (mut second, _) = SseClient::open(
        &url,
        Follow {
            token: Some(alice.clone()),
            last_event_id: Some(last_seen),
            until: until_completed(),
            ..Default::default()
        },
    )
    .await;
    let after = second.events(Duration::from_secs(180)).await;
    let reference = whole.events(Duration::from_secs(30)).await;

    let mut joined = ids(&before);
    joined.extend(ids(&after));
    let reference_ids = ids(&reference);
    let start = reference_ids
        .iter()
        .position(|i| *i == joined[0])
        .expect("the first client's first event is in the log");
    assert_eq!(
        joined,
        reference_ids[start..],
        "the two connections together are the log, without a gap or a repeat"
    );
    assert_eq!(after.last().unwrap()["event"], "story.completed");
}

#[tokio::test]
async fn any_replica_serves_any_story() {
    let app = TestApp::spawn().await;
    let _worker = app.start_worker(WorkerTweaks::default()).await;
    let replica = app.spawn_api_process(&[]).await;
    let alice = app.tokens.user("alice");
    let story = app.create_story(&alice, "Two replicas", 2).await;
    let id = story["id"].as_str().unwrap().to_string();

    let follow = Follow {
        token: Some(alice.clone()),
        until: vec!["story.status_changed".into()],
        count: Some(1),
        ..Default::default()
    };
    let (mut on_replica, opened) = SseClient::open(
        &replica.url(&format!("stories/{id}/events/")),
        follow.clone(),
    )
    .await;
    assert_eq!(opened["status"], 200, "{opened}");
    let (mut everything, _) = SseClient::open(&replica.url("events/"), follow).await;
    // The move is made through the other replica (and the worker plans in a third
    // process): the events reach this replica through Redis.
    app.start_planning(&alice, &id).await.assert_status(200);
    for client in [&mut on_replica, &mut everything] {
        let events = client.events(Duration::from_secs(30)).await;
        assert_eq!(events.len(), 1);
        assert_eq!(events[0]["data"]["data"]["story_id"], id);
        assert_eq!(events[0]["data"]["data"]["status"], "planning");
    }
    app.wait_for_status(&alice, &id, "planned", Duration::from_secs(60))
        .await;
}

#[tokio::test]
async fn a_ticket_opens_one_stream_and_expires() {
    let app = TestApp::spawn().await;
    let alice = app.tokens.user("alice");
    let story = app.create_story(&alice, "Ticketed", 2).await;
    let id = story["id"].as_str().unwrap().to_string();

    let ticket = app.post("events/ticket/", &alice, json!({})).await;
    ticket.assert_status(201);
    let t = ticket.body["ticket"].as_str().unwrap().to_string();
    let url = app.url(&format!("stories/{id}/events/?ticket={t}"));
    let follow = Follow {
        count: Some(1),
        ..Default::default()
    };
    let (mut client, opened) = SseClient::open(&url, follow.clone()).await;
    assert_eq!(opened["status"], 200, "{opened}");
    app.patch(
        &format!("stories/{id}/"),
        &alice,
        json!({"title": "Renamed"}),
    )
    .await
    .assert_status(200);
    app.post(
        &format!("stories/{id}/transition/"),
        &alice,
        json!({"to": "archived"}),
    )
    .await
    .assert_status(200);
    let events = client.events(Duration::from_secs(30)).await;
    assert_eq!(events[0]["data"]["data"]["status"], "archived");

    // Used once: refused the second time.
    let (_, again) = SseClient::open(&url, follow.clone()).await;
    assert_eq!(again["status"], 401, "{again}");
    assert_eq!(again["body"]["code"], "ticket_invalid");
    // A ticket lives two seconds in these tests.
    let ticket = app.post("events/ticket/", &alice, json!({})).await;
    let late = ticket.body["ticket"].as_str().unwrap().to_string();
    tokio::time::sleep(Duration::from_millis(3100)).await;
    let (_, expired) =
        SseClient::open(&app.url(&format!("events/?ticket={late}")), follow.clone()).await;
    assert_eq!(expired["status"], 401, "{expired}");
    assert_eq!(expired["body"]["code"], "ticket_expired");
    // A forged one.
    let (_, forged) = SseClient::open(&app.url("events/?ticket=abc.def"), follow).await;
    assert_eq!(forged["body"]["code"], "ticket_invalid");
}

#[tokio::test]
async fn another_users_story_stream_is_not_found_and_heartbeats_keep_streams_open() {
    let app = TestApp::spawn().await;
    let alice = app.tokens.user("alice");
    let bob = app.tokens.user("bob");
    let story = app.create_story(&alice, "Private", 2).await;
    let id = story["id"].as_str().unwrap().to_string();

    let r = app.get(&format!("stories/{id}/events/"), &bob).await;
    r.assert_problem(404, "not_found");
    app.get("events/", "")
        .await
        .assert_problem(401, "not_authenticated");

    // Bob's stream of everything hears nothing of Alice's story, but its heartbeat.
    let resp = app
        .client
        .get(app.url("events/"))
        .bearer_auth(&bob)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    app.start_planning(&alice, &id).await.assert_status(200);
    let mut resp = resp;
    let mut text = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_millis(2500);
    while let Ok(Ok(Some(chunk))) = tokio::time::timeout_at(deadline, resp.chunk()).await {
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(text.contains(": heartbeat\n\n"), "{text:?}");
    assert!(!text.contains("data:"), "{text:?}");
    app.allow_unfinished();
}

#[tokio::test]
async fn a_failure_is_streamed_with_its_error() {
    let app = TestApp::spawn().await;
    let _worker = app.start_worker(WorkerTweaks::default()).await;
    let alice = app.tokens.user("alice");
    let (story, scenes) = app
        .planned_by_worker(&alice, &["Calm sea", "A storm breaks"])
        .await;
    let (mut client, _) = SseClient::open(
        &app.url(&format!("stories/{story}/events/")),
        Follow {
            token: Some(alice.clone()),
            until: vec!["story.failed".into()],
            ..Default::default()
        },
    )
    .await;
    // The local provider refuses the second prompt, as a moderation refusal would;
    // the scene's job fails for good at once.
    app.fail_step(&alice, &story, "generate_preview", "storm")
        .await;
    let events = client.events(Duration::from_secs(60)).await;
    let failed_jobs: Vec<&Value> = events
        .iter()
        .filter(|e| e["event"] == "job.failed")
        .collect();
    assert!(
        failed_jobs
            .iter()
            .any(|e| e["data"]["data"]["scene_id"] == scenes[1].as_str()
                && e["data"]["data"]["error"]
                    .as_str()
                    .unwrap()
                    .contains("storm")),
        "{failed_jobs:?}"
    );
    let last = events.last().unwrap();
    assert_eq!(last["event"], "story.failed");
    assert_eq!(last["data"]["data"]["status"], "failed");
    assert_eq!(last["data"]["data"]["previous_status"], "previewing");
    assert!(
        last["data"]["data"]["error"]
            .as_str()
            .unwrap()
            .contains("storm")
    );
    // The status change precedes the failure it ends in.
    let n = events.len();
    assert_eq!(events[n - 2]["event"], "story.status_changed");
    assert_eq!(events[n - 2]["data"]["data"]["status"], "failed");
}

#[tokio::test]
async fn old_events_are_pruned_unless_a_delivery_waits_for_them() {
    use ai_video_shared::domain::EventType;
    use ai_video_shared::store::{begin_write, events};
    use sea_orm::ConnectionTrait;

    // No worker runs: the endpoint's delivery stays pending.
    let app = TestApp::spawn_with(ai_video_tests::Options {
        outbound_allow_hosts: Some("127.0.0.1:9".into()),
        ..Default::default()
    })
    .await;
    let alice = app.tokens.user("alice");
    let story = app.create_story(&alice, "Old news", 2).await;
    let id: uuid::Uuid = story["id"].as_str().unwrap().parse().unwrap();
    let txn = begin_write(&app.db).await.unwrap();
    for percent in [10, 20] {
        events::record(
            &txn,
            "alice",
            Some(id),
            EventType::JobProgress,
            json!({"story_id": id, "percent": percent}),
        )
        .await
        .unwrap();
    }
    txn.commit().await.unwrap();
    // An endpoint waits for one more event, which must outlive the retention.
    app.post(
        "webhooks/",
        &alice,
        json!({"url": "http://127.0.0.1:9/x", "events": ["story.status_changed"]}),
    )
    .await
    .assert_status(201);
    app.start_planning(&alice, story["id"].as_str().unwrap())
        .await
        .assert_status(200);
    app.db
        .execute_unprepared("UPDATE events SET created_at = created_at - INTERVAL '40 days'")
        .await
        .unwrap();
    let gone = events::prune(&app.db, Duration::from_secs(30 * 86_400))
        .await
        .unwrap();
    assert_eq!(gone, 2, "the two progress events");
    let left = events::after(&app.db, &events::Scope::Story(id), 0, 100)
        .await
        .unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].event_type, "story.status_changed");
    app.allow_unfinished();
}
