//! The API under load with `wrk`: story detail, story list and story create against
//! Postgres, next to a hello-world axum route on the same machine (the ceiling).

use std::process::Stdio;

use anyhow::Context;
use tokio::process::Command;

use crate::Bench;
use crate::pipeline::{SECRET, fresh_database, seed, services};
use crate::report::{Report, Row, num};

/// Requests/s and p99 (ms) from a `wrk --latency` run.
async fn wrk(
    url: &str,
    token: Option<&str>,
    script: Option<&std::path::Path>,
) -> anyhow::Result<(f64, f64)> {
    let mut cmd = Command::new("wrk");
    cmd.args(["-t2", "-c32", "-d8s", "--latency"]);
    if let Some(token) = token {
        cmd.arg("-H").arg(format!("Authorization: Bearer {token}"));
    }
    if let Some(script) = script {
        cmd.arg("-s").arg(script);
    }
    let out = cmd
        .arg(url)
        .stdout(Stdio::piped())
        .output()
        .await
        .context("wrk runs (scripts/bench.sh installs it)")?;
    let text = String::from_utf8_lossy(&out.stdout);
    let rps = text
        .lines()
        .find_map(|l| l.strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .context("no Requests/sec from wrk")?;
    let p99 = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("99%"))
        .map(|v| v.trim().to_string())
        .context("no 99% latency from wrk")?;
    Ok((rps, to_ms(&p99)))
}

/// `1.23ms`, `456.78us`, `1.02s` → milliseconds.
fn to_ms(text: &str) -> f64 {
    let (value, factor) = if let Some(v) = text.strip_suffix("ms") {
        (v, 1.0)
    } else if let Some(v) = text.strip_suffix("us") {
        (v, 0.001)
    } else if let Some(v) = text.strip_suffix('s') {
        (v, 1000.0)
    } else {
        (text, 1.0)
    };
    value
        .trim()
        .parse::<f64>()
        .map(|v| v * factor)
        .unwrap_or(f64::NAN)
}

pub async fn run(bench: &Bench, report: &mut Report) -> anyhow::Result<()> {
    bench.flush().await?;
    let url = fresh_database(bench).await?;
    let services = services(bench, &url, false).await?;
    let ids = seed(&services.db, "bench", 1000).await?;
    let token = ai_video_api::auth::mint(SECRET, "bench", false, 3600, &Default::default())?;

    let hello = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let hello_url = format!("http://{}/hello", hello.local_addr()?);
    tokio::spawn(async move {
        let app =
            axum::Router::new().route("/hello", axum::routing::get(|| async { "hello, world" }));
        axum::serve(hello, app).await
    });
    let (ceiling, ceiling_p99) = wrk(&hello_url, None, None).await?;
    report.add(Row {
        benchmark: "HTTP ceiling: hello-world axum route".into(),
        setup: "wrk, 2 threads, 32 connections, 8 s".into(),
        ai_video: format!("{} req/s, p99 {} ms", num(ceiling), num(ceiling_p99)),
        peer: "—".into(),
        ratio: "1×".into(),
        target: "—".into(),
    });

    let base = format!("{}/api/ai-video", services.base);
    let script = std::env::temp_dir().join(format!("create-{}.lua", uuid::Uuid::new_v4().simple()));
    std::fs::write(
        &script,
        r#"wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"title": "Load", "synopsis": "A keeper and a storm.", "duration_seconds": 21}'
"#,
    )?;
    for (name, url, script) in [
        ("story detail", format!("{base}/stories/{}/", ids[0]), None),
        (
            "story list (page of 20 of 1,000)",
            format!("{base}/stories/?page_size=20"),
            None,
        ),
        (
            "story create",
            format!("{base}/stories/"),
            Some(script.as_path()),
        ),
    ] {
        let (rps, p99) = wrk(&url, Some(&token), script).await?;
        report.add(Row {
            benchmark: format!("API: {name}"),
            setup: "Postgres, JWT auth, wrk 2 threads × 32 connections, 8 s".into(),
            ai_video: format!("{} req/s, p99 {} ms", num(rps), num(p99)),
            peer: format!("ceiling {} req/s", num(ceiling)),
            ratio: format!("{}× the ceiling", num(rps / ceiling)),
            target: "—".into(),
        });
    }
    let _ = std::fs::remove_file(&script);
    Ok(())
}
