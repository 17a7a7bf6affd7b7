//! Waiting for a story: follows its event stream (`GET stories/{id}/events/`) and
//! falls back to polling the story, its scenes and its jobs every second.
//!
//! Policy:
//! - the story is read once first, so a goal already reached (or a story already
//!   failed) ends the wait at once;
//! - the stream is the fast path; a snapshot is still read every 5 s beside it, and
//!   after any event that changes the story as a whole, so nothing the stream does
//!   not say (a cancelled job, a stored preview) is missed;
//! - a stream that cannot be opened (404, 405, any error) means polling from then
//!   on; a stream that drops is reopened with `Last-Event-ID` up to
//!   [`RECONNECTS`] times in a row, then polling takes over;
//! - while waiting, an API that is unreachable or answers 5xx or 429 is retried
//!   for [`OUTAGE`]; another 4xx ends the wait (the story is gone, the token
//!   expired).

mod board;
pub mod sse;

use std::pin::Pin;
use std::time::Duration;

use futures::{Stream, StreamExt};
use serde_json::Value;
use tokio::time::{Instant, MissedTickBehavior, interval};

pub use board::{Board, Goal, Outcome, Snapshot, Stage};

use crate::client::Client;
use crate::error::{CliError, Result};
use crate::progress::Display;

/// Between two snapshots while polling.
const POLL: Duration = Duration::from_secs(1);
/// Between two snapshots while the stream runs.
const STREAM_CHECK: Duration = Duration::from_secs(5);
/// Reopenings of a dropped stream before polling takes over.
pub const RECONNECTS: u32 = 3;
/// How long the API may be unreachable during a wait.
pub const OUTAGE: Duration = Duration::from_secs(60);

type Chunks = Pin<Box<dyn Stream<Item = reqwest::Result<Vec<u8>>> + Send>>;

/// What woke the wait up.
enum Step {
    Chunk(Vec<u8>),
    Dropped,
    Tick,
}

/// An open event stream and what its parser has read.
struct EventStream {
    chunks: Chunks,
    parser: sse::Parser,
}

/// The story, its scenes and its jobs, read together.
pub async fn snapshot(client: &Client, id: &str) -> Result<Snapshot> {
    let story_path = format!("stories/{id}/");
    let query = [("story", id.to_string())];
    let (story, scenes, jobs) = tokio::try_join!(
        client.get(&story_path),
        client.all_pages("scenes/", &query),
        client.all_pages("jobs/", &query),
    )?;
    Ok(Snapshot {
        story,
        scenes,
        jobs,
    })
}

async fn open(client: &Client, id: &str, last_id: Option<&str>) -> Result<Chunks> {
    let answer = client.events(id, last_id).await?;
    Ok(answer
        .bytes_stream()
        .map(|chunk| chunk.map(|b| b.to_vec()))
        .boxed())
}

/// Whether an error may pass with time (the API restarting), rather than end the
/// wait.
fn transient(e: &CliError) -> bool {
    match e {
        CliError::Unreachable { .. } => true,
        CliError::Api { status, .. } => *status >= 500 || *status == 429,
        _ => false,
    }
}

/// Waits until `goal` is reached, from the event stream when `events` (and the
/// API has one), else by polling; answers the story as it is then. A failed story
/// is [`CliError::StoryFailed`]; one that stopped otherwise is an error too.
pub async fn follow(
    client: &Client,
    id: &str,
    goal: Goal,
    display: Box<dyn Display>,
    events: bool,
) -> Result<Value> {
    let mut follower = Follower {
        client,
        id,
        board: Board::new(goal, display),
        outage_since: None,
        events,
    };
    let result = follower.run().await;
    follower.board.display().finish();
    result
}

struct Follower<'a> {
    client: &'a Client,
    id: &'a str,
    board: Board,
    outage_since: Option<Instant>,
    /// Whether to try the event stream at all.
    events: bool,
}

impl Follower<'_> {
    async fn run(&mut self) -> Result<Value> {
        let first = snapshot(self.client, self.id).await?;
        if let Some(end) = self.board.apply_snapshot(&first) {
            return self.end(end, first.story);
        }
        let opened = if self.events {
            Some(open(self.client, self.id, None).await)
        } else {
            None
        };
        let mut stream = match opened {
            Some(Ok(chunks)) => {
                self.board.display().info("following the story's events");
                Some(EventStream {
                    chunks,
                    parser: sse::Parser::default(),
                })
            }
            Some(Err(e)) => {
                let why = match e {
                    CliError::Api {
                        status: 404 | 405, ..
                    } => "this API has no event stream".to_string(),
                    e => format!("no event stream ({e})"),
                };
                self.board
                    .display()
                    .info(&format!("{why}; polling every second"));
                None
            }
            None => {
                self.board.display().info("polling every second");
                None
            }
        };
        let mut ticks = interval(if stream.is_some() { STREAM_CHECK } else { POLL });
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        // The first tick is at once: a snapshot taken after the stream opened
        // covers whatever happened between the first snapshot and the stream.
        loop {
            let step = match stream.as_mut() {
                Some(events) => tokio::select! {
                    chunk = events.chunks.next() => match chunk {
                        Some(Ok(bytes)) => Step::Chunk(bytes),
                        Some(Err(_)) | None => Step::Dropped,
                    },
                    _ = ticks.tick() => Step::Tick,
                },
                None => {
                    ticks.tick().await;
                    Step::Tick
                }
            };
            let refresh = match (step, stream.as_mut()) {
                (Step::Chunk(bytes), Some(events)) => self.read(events, &bytes),
                (Step::Dropped, Some(events)) => {
                    // The server may end the stream because the story is done.
                    let last_id = events.parser.last_id().map(String::from);
                    if let Some((end, story)) = self.refresh().await? {
                        return self.end(end, story);
                    }
                    stream = self.reopen(last_id).await;
                    if stream.is_none() {
                        ticks = interval(POLL);
                        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
                    }
                    // Just read: the next tick reads again.
                    false
                }
                _ => true,
            };
            if refresh && let Some((end, story)) = self.refresh().await? {
                return self.end(end, story);
            }
        }
    }

    /// Applies the events in a chunk; answers whether a snapshot is due.
    fn read(&mut self, events: &mut EventStream, bytes: &[u8]) -> bool {
        let mut refresh = false;
        for event in events.parser.feed(bytes) {
            let Ok(body) = serde_json::from_str::<Value>(&event.data) else {
                continue;
            };
            let kind = body["type"].as_str().unwrap_or(&event.kind).to_string();
            let effect = self.board.apply_event(&kind, &body["data"]);
            refresh |= effect == board::Effect::Refresh;
        }
        refresh
    }

    /// Reopens a dropped stream after the last event seen; `None` after
    /// [`RECONNECTS`] failed tries.
    async fn reopen(&mut self, last_id: Option<String>) -> Option<EventStream> {
        for attempt in 0..RECONNECTS {
            tokio::time::sleep(Duration::from_secs(1 << attempt)).await;
            if let Ok(chunks) = open(self.client, self.id, last_id.as_deref()).await {
                let mut parser = sse::Parser::default();
                // Seed the parser so the next drop resumes from the same place.
                if let Some(id) = &last_id {
                    parser.feed(format!("id: {id}\n\n").as_bytes());
                }
                return Some(EventStream { chunks, parser });
            }
        }
        self.board
            .display()
            .info("the event stream dropped; polling every second");
        None
    }

    /// Reads a snapshot; answers how the wait ends, once it does. Transient
    /// failures are tolerated for [`OUTAGE`].
    async fn refresh(&mut self) -> Result<Option<(Outcome, Value)>> {
        match snapshot(self.client, self.id).await {
            Ok(snap) => {
                self.outage_since = None;
                Ok(self
                    .board
                    .apply_snapshot(&snap)
                    .map(|end| (end, snap.story)))
            }
            Err(e) if transient(&e) => {
                let since = *self.outage_since.get_or_insert_with(Instant::now);
                if since.elapsed() > OUTAGE {
                    return Err(e);
                }
                self.board.display().info(&format!("{e}; trying again"));
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    fn end(&mut self, outcome: Outcome, story: Value) -> Result<Value> {
        match outcome {
            Outcome::Reached => Ok(story),
            Outcome::Failed(error) => Err(CliError::StoryFailed {
                id: self.id.to_string(),
                error,
            }),
            Outcome::Stopped(why) => Err(CliError::Other(anyhow::anyhow!("{why}"))),
        }
    }
}
