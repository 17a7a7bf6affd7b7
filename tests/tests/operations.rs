//! What SREs rely on: Prometheus metrics with bounded labels on both services, JSON
//! logs carrying the job and story ids, and a SIGTERM that finishes running jobs and
//! leaves the rest to be picked up again — nothing lost, nothing run twice.

use std::time::Duration;

use ai_video_tests::redis_server::RedisServer;
use ai_video_tests::worker::WorkerTweaks;
use ai_video_tests::{Options, TempDir, TestApp, free_port};
use serde_json::{Value, json};

const LONG: Duration = Duration::from_secs(90);

/// Metric lines (not comments) of a Prometheus text body.
fn samples(text: &str) -> Vec<&str> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .collect()
}

fn has_uuid(line: &str) -> bool {
    line.split(|c: char| !c.is_ascii_hexdigit() && c != '-')
        .any(|w| w.len() == 36 && uuid::Uuid::parse_str(w).is_ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_serves_metrics_with_bounded_labels() {
    let app = TestApp::spawn().await;
    let alice = app.tokens.user("alice");
    let story = app.create_story(&alice, "Metrics", 7).await;
    let id = story["id"].as_str().unwrap();
    app.get(&format!("stories/{id}/"), &alice)
        .await
        .assert_status(200);
    app.get(&format!("stories/{}/", uuid::Uuid::new_v4()), &alice)
        .await
        .assert_status(404);
    let text = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let lines = samples(&text);
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("ai_video_http_requests_total{")
                && l.contains(r#"route="/api/ai-video/stories/{id}/""#)
                && l.contains(r#"status="404""#)),
        "{text}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("ai_video_http_request_duration_seconds_bucket{"))
    );
    assert!(text.contains("# TYPE ai_video_http_request_duration_seconds histogram"));
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("ai_video_http_requests_in_flight"))
    );
    for line in lines {
        assert!(!has_uuid(line), "an id leaked into a label: {line}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_worker_serves_metrics_and_logs_json_with_ids() {
    let app = TestApp::spawn().await;
    let dir = TempDir::new();
    let log = dir.path.join("worker.log");
    let port = free_port();
    let tweaks = WorkerTweaks {
        env: vec![
            ("METRICS_ADDR".into(), format!("127.0.0.1:{port}")),
            ("LOG_FORMAT".into(), "json".into()),
            ("RUST_LOG".into(), "info".into()),
        ],
        log_file: Some(log.clone()),
        ..WorkerTweaks::default()
    };
    let mut worker = app.spawn_worker_process(tweaks);
    let alice = app.tokens.user("alice");
    let (story, _) = app.planned_story(&alice, 2, 1).await;
    app.post(
        &format!("stories/{story}/generate_preview/"),
        &alice,
        json!({"priority": 2}),
    )
    .await
    .assert_status(202);
    app.wait_for(&alice, &story, LONG, |s| s["preview_url"].is_string())
        .await;

    let text = app
        .client
        .get(format!("http://127.0.0.1:{port}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let lines = samples(&text);
    let find = |prefix: &str| lines.iter().find(|l| l.starts_with(prefix)).copied();
    let succeeded =
        find(r#"ai_video_jobs_succeeded_total{kind="generate_scene",provider="local"}"#)
            .expect(&text);
    assert_eq!(succeeded.split_whitespace().last(), Some("2"));
    for name in [
        "ai_video_jobs_started_total{",
        "ai_video_job_duration_seconds_count{",
        "ai_video_job_queue_wait_seconds_count{",
        "ai_video_job_cost_dollars_sum{",
        r#"ai_video_queue_jobs{state="completed"}"#,
        r#"ai_video_queue_waiting_jobs{priority="1"}"#,
        "ai_video_jobs_in_flight",
        "ai_video_worker_concurrency",
        r#"ai_video_provider_spend_dollars_total{provider="local"} 0"#,
    ] {
        assert!(find(name).is_some(), "{name} missing from:\n{text}");
    }
    for line in &lines {
        assert!(!has_uuid(line), "an id leaked into a label: {line}");
    }
    let ready: Value = app
        .client
        .get(format!("http://127.0.0.1:{port}/readyz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        ready["checks"],
        json!({"database": "ok", "redis": "ok", "storage": "ok"})
    );

    worker.terminate();
    let logs = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<Value> = logs
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    assert!(lines.len() >= 5, "JSON lines: {logs}");
    let started: Vec<&Value> = lines
        .iter()
        .filter(|l| l["fields"]["message"] == "job started")
        .collect();
    assert_eq!(started.len(), 3, "{logs}");
    for line in started {
        assert_eq!(line["span"]["story.id"], story.as_str(), "{line}");
        assert!(
            line["span"]["job.id"]
                .as_str()
                .is_some_and(|id| uuid::Uuid::parse_str(id).is_ok()),
            "{line}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_finishes_the_running_job_and_leaves_the_rest() {
    let app = TestApp::spawn().await;
    let alice = app.tokens.user("alice");
    let mut scenes = Vec::new();
    for _ in 0..3 {
        scenes.push(app.planned_story(&alice, 1, 1).await.1[0].clone());
    }
    app.set_local_settings(json!({"delay_ms": 1500})).await;
    let tweaks = WorkerTweaks {
        concurrency: 1,
        ..WorkerTweaks::default()
    };
    let mut first = app.spawn_worker_process(tweaks.clone());
    let mut jobs = Vec::new();
    for scene in &scenes {
        let r = app
            .post(&format!("scenes/{scene}/generate/"), &alice, json!({}))
            .await;
        jobs.push(r.body["id"].as_str().unwrap().to_string());
    }
    app.wait_for_job(&alice, &jobs[0], "running", LONG).await;
    let asked = std::time::Instant::now();
    let status = first.terminate();
    assert!(status.success(), "the worker exits cleanly: {status:?}");
    assert!(
        asked.elapsed() < Duration::from_secs(9),
        "within its grace period"
    );
    let done = app.get(&format!("jobs/{}/", jobs[0]), &alice).await;
    assert_eq!(
        done.body["status"], "succeeded",
        "the running job finished: {}",
        done.text
    );
    for job in &jobs[1..] {
        let r = app.get(&format!("jobs/{job}/"), &alice).await;
        assert_eq!(
            r.body["status"], "queued",
            "left for another worker: {}",
            r.text
        );
    }

    app.set_local_settings(json!({})).await;
    let _second = app.start_worker(tweaks).await;
    for job in &jobs {
        let r = app.wait_for_job(&alice, job, "succeeded", LONG).await;
        assert_eq!(r["attempt"], 1, "nothing ran twice: {r}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_that_may_evict_jobs_is_reported() {
    let redis = RedisServer::start().await;
    let app = TestApp::spawn_with(Options {
        redis_url: Some(redis.url()),
        ..Options::default()
    })
    .await;
    let mut conn = app.redis().await;
    let set = |policy: &'static str| {
        let mut conn = conn.clone();
        async move {
            let _: () = redis::cmd("CONFIG")
                .arg("SET")
                .arg("maxmemory-policy")
                .arg(policy)
                .query_async(&mut conn)
                .await
                .unwrap();
        }
    };
    set("allkeys-lru").await;
    let port = free_port();
    let _worker = app
        .start_worker(WorkerTweaks {
            env: vec![("METRICS_ADDR".into(), format!("127.0.0.1:{port}"))],
            ..WorkerTweaks::default()
        })
        .await;
    let probe = |path: &'static str| {
        let client = app.client.clone();
        async move {
            for _ in 0..100 {
                if let Ok(r) = client
                    .get(format!("http://127.0.0.1:{port}{path}"))
                    .send()
                    .await
                {
                    return (r.status().as_u16(), r.text().await.unwrap());
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            panic!("the worker's probes never answered");
        }
    };
    let (status, body) = probe("/readyz").await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("maxmemory-policy is allkeys-lru"), "{body}");
    let (_, metrics) = probe("/metrics").await;
    assert!(metrics.contains("ai_video_redis_evicting 1"), "{metrics}");
    set("noeviction").await;
    let (status, body) = probe("/readyz").await;
    assert_eq!(status, 200, "{body}");
    let (_, metrics) = probe("/metrics").await;
    assert!(metrics.contains("ai_video_redis_evicting 0"), "{metrics}");
    let _: () = redis::cmd("PING").query_async(&mut conn).await.unwrap();
}
