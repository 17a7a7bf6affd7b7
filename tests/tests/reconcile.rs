//! The database is the truth: when Redis loses its data (`FLUSHALL`, a restart
//! without persistence) while previews run, the reconciler queues the lost jobs
//! again and every story finishes, each scene made once.

use std::time::Duration;

use ai_video_tests::redis_server::RedisServer;
use ai_video_tests::worker::WorkerTweaks;
use ai_video_tests::{Options, TestApp};

const LONG: Duration = Duration::from_secs(90);

fn reconciling() -> WorkerTweaks {
    WorkerTweaks {
        env: vec![("WORKER_RECONCILE_INTERVAL_SECS".into(), "1".into())],
        ..WorkerTweaks::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flushall_while_previews_run_loses_no_story() {
    let redis = RedisServer::start().await;
    let app = TestApp::spawn_with(Options {
        redis_url: Some(redis.url()),
        ..Options::default()
    })
    .await;
    let _worker = app.start_worker(reconciling()).await;
    let alice = app.tokens.user("alice");
    let stories = app
        .ask_previews(&alice, &["North", "South", "East"], 700)
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut conn = app.redis().await;
    let _: () = redis::cmd("FLUSHALL").query_async(&mut conn).await.unwrap();
    app.each_scene_once(&alice, &stories).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_restart_without_persistence_loses_no_story() {
    let mut redis = RedisServer::start().await;
    let app = TestApp::spawn_with(Options {
        redis_url: Some(redis.url()),
        ..Options::default()
    })
    .await;
    let _worker = app.start_worker(reconciling()).await;
    let alice = app.tokens.user("alice");
    let stories = app
        .ask_previews(&alice, &["North", "South", "East"], 700)
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    redis.stop();
    redis.restart().await;
    let preview = app
        .jobs_of(&alice, &stories[0])
        .await
        .into_iter()
        .find(|j| j["kind"] == "generate_preview")
        .unwrap();
    let key = app.job_key(preview["queue_id"].as_str().unwrap());
    let mut conn = app.redis().await;
    let held: bool = redis::cmd("EXISTS")
        .arg(&key)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(!held, "the restarted Redis lost the preview's job");
    app.each_scene_once(&alice, &stories).await;
}

#[tokio::test]
async fn stuck_jobs_count_in_the_statistics_and_the_success_rate() {
    use sea_orm::ConnectionTrait;
    let app = TestApp::spawn().await;
    let alice = app.tokens.user("alice");
    let (story, _) = app.story_with_scenes(&alice, 1).await;
    app.start_planning(&alice, &story).await.assert_status(200);
    // No worker takes it; it looks untouched for an hour.
    app.db
        .execute_unprepared("UPDATE jobs SET updated_at = updated_at - INTERVAL '1 hour'")
        .await
        .unwrap();
    let stats = app
        .get(&format!("jobs/statistics/?story={story}"), &alice)
        .await;
    stats.assert_status(200);
    assert_eq!(stats.body["stuck"], 1, "{}", stats.text);
    assert_eq!(stats.body["queued"], 1);
    assert_eq!(
        stats.body["success_rate"], 0.0,
        "a stuck job is not a success: {}",
        stats.text
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_worker_resumes_soon_after_redis_returns() {
    let mut redis = RedisServer::start().await;
    let app = TestApp::spawn_with(Options {
        redis_url: Some(redis.url()),
        ..Options::default()
    })
    .await;
    let _worker = app.start_worker(WorkerTweaks::default()).await;
    let alice = app.tokens.user("alice");
    let (story, _) = app.story_with_scenes(&alice, 1).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    redis.stop();
    tokio::time::sleep(Duration::from_secs(3)).await;
    redis.restart().await;
    let back = chrono::Utc::now();
    let r = app.start_planning(&alice, &story).await;
    r.assert_status(200);
    let job = r.body["job"]["id"].as_str().unwrap().to_string();
    let done = app.wait_for_job(&alice, &job, "succeeded", LONG).await;
    let started: chrono::DateTime<chrono::Utc> =
        done["started_at"].as_str().unwrap().parse().unwrap();
    let after = (started - back).as_seconds_f64();
    assert!(
        after < 2.0,
        "the job started {after:.2} s after Redis was back"
    );
}
