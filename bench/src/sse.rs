//! Server-Sent Events: the memory of one API process (the `ai-video-api` binary)
//! holding 10,000 idle streams, and how long an event takes from the commit of its
//! transaction to a connected client while those streams stay open.
//!
//! The events are recorded here as a worker records them: in a transaction, with
//! this process's announcer publishing them on Redis; the API process hears the
//! notice and reads the log.

use std::process::Stdio;
use std::time::{Duration, Instant};

use ai_video_shared::announce::Announcer;
use ai_video_shared::config::{QueueConfig, RedisConfig, Secret};
use ai_video_shared::domain::EventType;
use ai_video_shared::store::{begin_write, events};
use anyhow::Context;
use futures::StreamExt;
use sea_orm::Database;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};

use crate::Bench;
use crate::pipeline::{SECRET, fresh_database, seed};
use crate::report::{Report, Row, num};
use crate::slow::memory;

const STREAMS: usize = 10_000;
const SAMPLES: usize = 300;

/// The API binary built beside this one.
fn api_binary() -> anyhow::Result<std::path::PathBuf> {
    let exe = std::env::current_exe()?;
    let bin = exe.with_file_name("ai-video-api");
    anyhow::ensure!(
        bin.exists(),
        "{} is missing; scripts/bench.sh builds it",
        bin.display()
    );
    Ok(bin)
}

/// Opens a stream and reads up to the end of the response head.
async fn open(addr: &str, path: &str, token: &str) -> anyhow::Result<TcpStream> {
    let mut stream = TcpStream::connect(addr).await?;
    stream
        .write_all(
            format!(
                "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nAccept: text/event-stream\r\n\r\n"
            )
            .as_bytes(),
        )
        .await?;
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buf).await?;
        anyhow::ensure!(n > 0, "the API closed a stream before answering");
        head.extend_from_slice(&buf[..n]);
    }
    anyhow::ensure!(
        head.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&head)
    );
    Ok(stream)
}

/// Reads a stream and reports when each `"seq":N` arrives.
async fn watch_seqs(mut stream: TcpStream, tx: mpsc::UnboundedSender<(u64, Instant)>) {
    let mut buf = vec![0u8; 16 * 1024];
    let mut text = String::new();
    loop {
        let Ok(n) = stream.read(&mut buf).await else {
            return;
        };
        if n == 0 {
            return;
        }
        let at = Instant::now();
        text.push_str(&String::from_utf8_lossy(&buf[..n]));
        while let Some(i) = text.find("\"seq\":") {
            let rest = &text[i + 6..];
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            if digits.len() == rest.len() {
                break;
            }
            if let Ok(seq) = digits.parse() {
                let _ = tx.send((seq, at));
            }
            text = text[i + 6 + digits.len()..].to_string();
        }
    }
}

/// `ai-video-bench sse-peer PORT`: the baseline, axum's own SSE with a heartbeat and
/// no events, in a process of its own.
pub async fn peer_process(args: &[String]) -> anyhow::Result<()> {
    let port: u16 = args.first().and_then(|a| a.parse().ok()).context("port")?;
    let app = axum::Router::new().route(
        "/events",
        axum::routing::get(|| async {
            axum::response::sse::Sse::new(futures::stream::pending::<
                Result<axum::response::sse::Event, std::convert::Infallible>,
            >())
            .keep_alive(
                axum::response::sse::KeepAlive::new()
                    .interval(Duration::from_secs(15))
                    .text("heartbeat"),
            )
        }),
    );
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    axum::serve(listener, app).await?;
    Ok(())
}

/// Starts a server process and waits until it accepts connections.
async fn start(
    mut cmd: tokio::process::Command,
    addr: &str,
) -> anyhow::Result<tokio::process::Child> {
    let child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .context("start a server")?;
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(addr).await.is_err() {
        anyhow::ensure!(Instant::now() < deadline, "the server did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    Ok(child)
}

/// Opens `STREAMS` streams of `path`, the `i`th with `tokens[i % n]`; answers them and
/// how long opening took.
async fn open_all(
    addr: &str,
    path: &str,
    tokens: &[String],
) -> anyhow::Result<(Vec<TcpStream>, Duration)> {
    let started = Instant::now();
    let streams = futures::stream::iter(0..STREAMS)
        .map(|i| {
            let (addr, token) = (addr.to_string(), tokens[i % tokens.len()].clone());
            let path = path.to_string();
            async move { open(&addr, &path, &token).await }
        })
        .buffer_unordered(64)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<anyhow::Result<_>>()?;
    let took = started.elapsed();
    tokio::time::sleep(Duration::from_secs(2)).await;
    Ok((streams, took))
}

fn free_addr() -> anyhow::Result<String> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    Ok(format!("127.0.0.1:{port}"))
}

/// RSS (MiB) and RSS per stream (KiB) of the baseline: axum's SSE and nothing else.
async fn baseline() -> anyhow::Result<(f64, f64)> {
    let addr = free_addr()?;
    let mut cmd = tokio::process::Command::new(std::env::current_exe()?);
    cmd.arg("sse-peer")
        .arg(addr.rsplit(':').next().unwrap_or_default());
    let mut peer = start(cmd, &addr).await?;
    let pid = peer.id().context("pid")?;
    let (before, _) = memory(pid);
    let (streams, _) = open_all(&addr, "/events", &["-".to_string()]).await?;
    let (after, _) = memory(pid);
    let per = (after - before) * 1024.0 / streams.len() as f64;
    drop(streams);
    let _ = peer.kill().await;
    Ok((after, per))
}

pub async fn run(bench: &Bench, report: &mut Report) -> anyhow::Result<()> {
    let (peer_rss, peer_per) = baseline().await?;
    bench.flush().await?;
    let url = fresh_database(bench).await?;
    let db = Database::connect(url.as_str()).await?;
    let owners: Vec<String> = (0..100).map(|i| format!("viewer-{i}")).collect();
    let story = seed(&db, "bench", 1).await?[0];
    let queue = QueueConfig {
        name: "ai-video".into(),
        prefix: format!("s{}", uuid::Uuid::new_v4().simple()),
    };
    let addr = free_addr()?;
    let dir = std::env::temp_dir().join(format!("ai-video-sse-{}", uuid::Uuid::new_v4().simple()));
    let mut cmd = tokio::process::Command::new(api_binary()?);
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("RUST_LOG", "error")
        .env("DATABASE_URL", &url)
        .env("DATABASE_MAX_CONNECTIONS", "16")
        .env("REDIS_URL", bench.redis_url())
        .env("QUEUE_NAME", &queue.name)
        .env("QUEUE_PREFIX", &queue.prefix)
        .env("JWT_SECRET", SECRET)
        .env("BIND_ADDR", &addr)
        .env("STORAGE_DIR", dir.join("media"))
        .env("RATE_LIMIT_USER_PER_MINUTE", "0")
        .env("RATE_LIMIT_CLIENT_PER_MINUTE", "0")
        .envs(std::env::vars().filter(|(k, _)| k.starts_with("MALLOC_")));
    let mut api = start(cmd, &addr).await?;
    let pid = api.id().context("pid")?;
    let (idle_rss, _) = memory(pid);

    let tokens: Vec<String> = owners
        .iter()
        .map(|o| ai_video_api::auth::mint(SECRET, o, false, 3600, &Default::default()))
        .collect::<Result<_, _>>()?;
    let (streams, opening) = open_all(&addr, "/api/ai-video/events/", &tokens).await?;
    let (held_rss, _) = memory(pid);
    report.add(Row {
        benchmark: format!("SSE: {} idle streams in one API process", streams.len()),
        setup: format!(
            "`events/` of 100 users, opened 64 at a time in {} s; RSS of ai-video-api",
            num(opening.as_secs_f64())
        ),
        ai_video: format!(
            "{} MiB ({} MiB before the streams, {} KiB a stream)",
            num(held_rss),
            num(idle_rss),
            num((held_rss - idle_rss) * 1024.0 / streams.len() as f64)
        ),
        peer: format!(
            "axum's SSE alone: {} MiB, {} KiB a stream",
            num(peer_rss),
            num(peer_per)
        ),
        ratio: format!(
            "{}× a stream",
            num((held_rss - idle_rss) * 1024.0 / streams.len() as f64 / peer_per)
        ),
        target: "< 200 MB".into(),
    });

    // One more client follows the story; events are committed one at a time.
    let (stop, stopped) = watch::channel(false);
    let announcer = tokio::spawn(
        Announcer::new(
            db.clone(),
            RedisConfig {
                url: Secret::new(bench.redis_url()),
            },
            &queue,
        )
        .run(stopped),
    );
    let token = ai_video_api::auth::mint(SECRET, "bench", false, 3600, &Default::default())?;
    let follower = open(
        &addr,
        &format!("/api/ai-video/stories/{story}/events/"),
        &token,
    )
    .await?;
    let (tx, mut rx) = mpsc::unbounded_channel();
    tokio::spawn(watch_seqs(follower, tx));
    let mut latencies = Vec::with_capacity(SAMPLES);
    for seq in 0..SAMPLES as u64 {
        let txn = begin_write(&db).await?;
        events::record(
            &txn,
            "bench",
            Some(story),
            EventType::JobProgress,
            serde_json::json!({"story_id": story, "seq": seq, "percent": seq % 100}),
        )
        .await?;
        txn.commit().await?;
        let committed = Instant::now();
        loop {
            let (got, at) = tokio::time::timeout(Duration::from_secs(5), rx.recv())
                .await
                .context("an event did not reach the stream within 5 s")?
                .context("the stream ended")?;
            if got == seq {
                latencies.push(at.saturating_duration_since(committed).as_secs_f64() * 1000.0);
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let _ = stop.send(true);
    let _ = announcer.await;
    latencies.sort_by(f64::total_cmp);
    let pct = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
    report.add(Row {
        benchmark: "SSE: commit → event at a connected client".into(),
        setup: format!(
            "{SAMPLES} events recorded as a worker does (its announcer → Redis → the API process), {} idle streams open",
            streams.len()
        ),
        ai_video: format!(
            "p50 {} ms, p99 {} ms, max {} ms",
            num(pct(0.5)),
            num(pct(0.99)),
            num(*latencies.last().unwrap_or(&f64::NAN))
        ),
        peer: "—".into(),
        ratio: "—".into(),
        target: "p99 < 50 ms".into(),
    });
    drop(streams);
    let _ = api.kill().await;
    db.close().await?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
