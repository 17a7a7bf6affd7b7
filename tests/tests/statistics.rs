//! `jobs/statistics/` figures, summed by the database, are exact on Postgres and
//! SQLite alike: counts, stuck jobs, success rate, mean generation time and queue
//! wait, and the total cost to the ten-thousandth of a dollar.

use ai_video_shared::db::Money;
use ai_video_shared::db::entities::job;
use ai_video_shared::domain::{JobKind, JobStatus, Provider};
use ai_video_shared::store::rollup;
use ai_video_tests::{Backend, TestApp};
use chrono::{Duration, Utc};
use sea_orm::{ActiveModelTrait, IntoActiveModel};
use serde_json::{Value, json};
use uuid::Uuid;

struct Row {
    owner: &'static str,
    kind: JobKind,
    status: JobStatus,
    provider: Option<Provider>,
    cost: Option<&'static str>,
    /// Seconds after queueing that the job started and finished.
    started: Option<i64>,
    finished: Option<i64>,
    /// Minutes since the row last changed.
    idle_minutes: i64,
}

async fn insert(app: &TestApp, story: Uuid, row: Row) {
    let queued = Utc::now() - Duration::hours(3);
    let id = Uuid::new_v4();
    job::Model {
        id,
        story_id: story,
        scene_id: None,
        parent_id: None,
        retry_of: None,
        owner_id: row.owner.into(),
        kind: row.kind,
        status: row.status,
        priority: 5,
        attempt: 1,
        max_attempts: 3,
        backoff_ms: 1000,
        parameters: json!({}),
        last_error: None,
        result: None,
        provider: row.provider,
        cost: row.cost.map(|c| Money::new(c.parse().unwrap())),
        queue_id: format!("story_{story}_{id}"),
        queued_at: queued,
        started_at: row.started.map(|s| queued + Duration::seconds(s)),
        finished_at: row.finished.map(|s| queued + Duration::seconds(s)),
        created_at: queued,
        progress: None,
        updated_at: Utc::now() - Duration::minutes(row.idle_minutes),
        run_id: None,
        heartbeat_at: None,
    }
    .into_active_model()
    .reset_all()
    .insert(&app.db)
    .await
    .expect("insert job row");
}

fn done(kind: JobKind, provider: Provider, cost: &'static str, start: i64, end: i64) -> Row {
    Row {
        owner: "alice",
        kind,
        status: JobStatus::Succeeded,
        provider: Some(provider),
        cost: Some(cost),
        started: Some(start),
        finished: Some(end),
        idle_minutes: 60,
    }
}

/// The figures alice and an admin see, compared with the expected ones.
async fn check(app: &TestApp, story: Uuid, other: Uuid) {
    let alice = app.tokens.user("alice");
    let s = app.get("jobs/statistics/", &alice).await.body;
    assert_eq!(s["total"], 5, "{s}");
    assert_eq!(
        (&s["succeeded"], &s["failed"], &s["queued"], &s["running"]),
        (&json!(2), &json!(1), &json!(1), &json!(1)),
        "{s}"
    );
    assert_eq!(s["stuck"], 1, "only the hour-old queued job: {s}");
    assert_eq!(s["success_rate"], 0.5, "2 ÷ (2 + 1 failed + 1 stuck): {s}");
    assert_eq!(s["total_cost"], "0.7600", "{s}");
    let near = |v: &Value, want: f64| (v.as_f64().unwrap() - want).abs() < 0.01;
    assert!(
        near(&s["average_generation_time_seconds"], 15.0),
        "(10 + 20) ÷ 2 succeeded: {s}"
    );
    assert!(
        near(&s["average_queue_wait_seconds"], 13.0 / 4.0),
        "(2 + 4 + 1 + 6) ÷ 4 started: {s}"
    );
    assert_eq!(s["by_kind"]["plan_story"]["total"], 1, "{s}");
    assert_eq!(s["by_kind"]["generate_scene"]["total"], 4, "{s}");
    let runway = s["by_provider"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["provider"] == "runway_ml" && p["kind"] == "generate_scene")
        .unwrap_or_else(|| panic!("runway figures: {s}"));
    assert_eq!(runway["total"], 3);
    assert_eq!(runway["total_cost"], "0.7500");

    let one = app
        .get(&format!("jobs/statistics/?story={story}"), &alice)
        .await
        .body;
    assert_eq!(one["total"], 5);
    let none = app
        .get(&format!("jobs/statistics/?story={other}"), &alice)
        .await
        .body;
    assert_eq!(none["total"], 0, "bob's story shows nothing to alice");
    let all = app
        .get("jobs/statistics/", &app.tokens.admin("root"))
        .await
        .body;
    assert_eq!(all["total"], 6);
    assert_eq!(all["total_cost"], "9.7600");
}

async fn exact_figures(app: TestApp) {
    app.allow_unfinished();
    let alice = app.tokens.user("alice");
    let bob = app.tokens.user("bob");
    let story: Uuid = app.create_story(&alice, "Counted", 30).await["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let other: Uuid = app.create_story(&bob, "Not hers", 30).await["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let scene = JobKind::GenerateScene;
    for row in [
        done(scene, Provider::RunwayMl, "0.5000", 2, 12),
        done(scene, Provider::RunwayMl, "0.2500", 4, 24),
        Row {
            status: JobStatus::Failed,
            cost: Some("0.0100"),
            started: Some(1),
            finished: Some(3),
            provider: Some(Provider::StabilityAi),
            ..done(scene, Provider::StabilityAi, "0", 0, 0)
        },
        // Queued and untouched for an hour: stuck.
        Row {
            kind: JobKind::PlanStory,
            status: JobStatus::Queued,
            provider: None,
            cost: None,
            started: None,
            finished: None,
            ..done(scene, Provider::RunwayMl, "0", 0, 0)
        },
        // Running and fresh: not stuck.
        Row {
            status: JobStatus::Running,
            cost: None,
            started: Some(6),
            finished: None,
            idle_minutes: 0,
            ..done(scene, Provider::RunwayMl, "0", 0, 0)
        },
    ] {
        insert(&app, story, row).await;
    }
    insert(
        &app,
        other,
        Row {
            owner: "bob",
            ..done(scene, Provider::RunwayMl, "9.0000", 0, 100)
        },
    )
    .await;
    check(&app, story, other).await;
    // Settled into the sums, the finished jobs count exactly as before; the unfinished
    // ones are still read live.
    let settled = rollup::settle_before(&app.db, Utc::now() - Duration::minutes(30))
        .await
        .unwrap();
    assert_eq!(settled, 4, "three finished jobs of alice's, one of bob's");
    check(&app, story, other).await;
    // A job that finished after the mark (five minutes ago) is counted once, live.
    insert(
        &app,
        story,
        done(scene, Provider::Replicate, "0.0400", 10_000, 10_500),
    )
    .await;
    let s = app.get("jobs/statistics/", &alice).await.body;
    assert_eq!(
        (&s["total"], &s["total_cost"]),
        (&json!(6), &json!("0.8000")),
        "{s}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statistics_are_exact_on_postgres() {
    exact_figures(TestApp::spawn_on(Backend::Postgres).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statistics_are_exact_on_sqlite() {
    exact_figures(TestApp::spawn_on(Backend::Sqlite).await).await;
}
