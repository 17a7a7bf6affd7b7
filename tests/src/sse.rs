//! A third-party SSE client for tests: `tests/python/sse_client.py`, which follows a
//! stream with `httpx-sse` and reports each event as a JSON line.

use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

/// What a client is asked to do.
#[derive(Debug, Clone, Default)]
pub struct Follow {
    pub token: Option<String>,
    pub last_event_id: Option<i64>,
    /// Stop after an event of one of these types.
    pub until: Vec<String>,
    /// Stop after this many events.
    pub count: Option<usize>,
}

/// A running client; killed on drop.
pub struct SseClient {
    child: Child,
    lines: Lines<BufReader<ChildStdout>>,
}

fn python() -> String {
    std::env::var("TEST_PYTHON").unwrap_or_else(|_| {
        panic!("TEST_PYTHON is not set; run the tests through scripts/test.sh, which installs httpx-sse")
    })
}

impl SseClient {
    /// Connects to `url`; answers the client and its first line (`{"status": …}`).
    pub async fn open(url: &str, follow: Follow) -> (Self, Value) {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/python/sse_client.py");
        let mut cmd = Command::new(python());
        cmd.arg(script).arg(url);
        if let Some(t) = &follow.token {
            cmd.arg("--token").arg(t);
        }
        if let Some(id) = follow.last_event_id {
            cmd.arg("--last-event-id").arg(id.to_string());
        }
        for t in &follow.until {
            cmd.arg("--until").arg(t);
        }
        if let Some(n) = follow.count {
            cmd.arg("--count").arg(n.to_string());
        }
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("start the SSE client");
        let stdout = child.stdout.take().expect("stdout");
        let mut client = Self {
            child,
            lines: BufReader::new(stdout).lines(),
        };
        let first = client
            .next_line(Duration::from_secs(30))
            .await
            .expect("the SSE client says how the request went");
        (client, first)
    }

    async fn next_line(&mut self, timeout: Duration) -> Option<Value> {
        let line = tokio::time::timeout(timeout, self.lines.next_line())
            .await
            .ok()?
            .ok()??;
        Some(serde_json::from_str(&line).expect("the SSE client prints JSON"))
    }

    /// Every event until the client stops (its stop condition, or the stream ends),
    /// within `timeout`.
    pub async fn events(&mut self, timeout: Duration) -> Vec<Value> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut out = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next_line(left).await {
                Some(v) if v.get("end").is_some() => return out,
                Some(v) => out.push(v),
                None => panic!(
                    "the SSE client did not finish within {timeout:?}; it saw {} events: {:?}",
                    out.len(),
                    out.iter().map(|e| e["event"].clone()).collect::<Vec<_>>()
                ),
            }
        }
    }

    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}
