//! A parser of `text/event-stream` (the WHATWG server-sent events format) over a
//! byte stream that arrives in arbitrary chunks.
//!
//! Lines end in `\n`, `\r\n` or `\r`; `data:` lines of one event are joined with
//! `\n`; a line starting with `:` is a comment (the server's heartbeat); a blank
//! line dispatches the event. An event without data is not dispatched, but its
//! `id` still becomes the last event id, which a reconnection sends back as
//! `Last-Event-ID`.

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The last id the stream set, this event's or an earlier one's.
    pub id: Option<String>,
    /// `event:`; `message` when the event named none.
    pub kind: String,
    pub data: String,
}

/// Turns chunks of bytes into events.
#[derive(Debug, Default)]
pub struct Parser {
    pending: Vec<u8>,
    started: bool,
    last_id: Option<String>,
    kind: Option<String>,
    /// Each `data:` value followed by `\n`.
    data: String,
}

impl Parser {
    /// The id a reconnection should resume after.
    pub fn last_id(&self) -> Option<&str> {
        self.last_id.as_deref()
    }

    /// Reads a chunk; answers the events it completed.
    pub fn feed(&mut self, chunk: &[u8]) -> Vec<Event> {
        self.pending.extend_from_slice(chunk);
        let mut events = Vec::new();
        let mut start = 0;
        let mut i = 0;
        while i < self.pending.len() {
            let end_len = match self.pending[i] {
                b'\n' => 1,
                b'\r' => match self.pending.get(i + 1) {
                    Some(b'\n') => 2,
                    Some(_) => 1,
                    // A `\r` at the end of the chunk may be half of a `\r\n`.
                    None => break,
                },
                _ => {
                    i += 1;
                    continue;
                }
            };
            let line = String::from_utf8_lossy(&self.pending[start..i]).into_owned();
            if let Some(event) = self.line(&line) {
                events.push(event);
            }
            i += end_len;
            start = i;
        }
        self.pending.drain(..start);
        events
    }

    fn line(&mut self, line: &str) -> Option<Event> {
        let line = if self.started {
            line
        } else {
            self.started = true;
            line.strip_prefix('\u{feff}').unwrap_or(line)
        };
        if line.is_empty() {
            return self.dispatch();
        }
        if line.starts_with(':') {
            return None;
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line, ""),
        };
        match field {
            "event" => self.kind = Some(value.to_string()),
            "data" => {
                self.data.push_str(value);
                self.data.push('\n');
            }
            "id" if !value.contains('\0') => self.last_id = Some(value.to_string()),
            _ => {}
        }
        None
    }

    fn dispatch(&mut self) -> Option<Event> {
        let kind = self.kind.take();
        let mut data = std::mem::take(&mut self.data);
        if data.is_empty() {
            return None;
        }
        data.pop();
        Some(Event {
            id: self.last_id.clone(),
            kind: kind
                .filter(|k| !k.is_empty())
                .unwrap_or_else(|| "message".into()),
            data,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STREAM: &str = "id: 123\nevent: story.status_changed\n\
        data: {\"type\":\"story.status_changed\"}\n\n\
        : heartbeat\n\n\
        id: 124\r\nevent: scene.progress\r\ndata: first\r\ndata: second\r\n\r\n\
        data:no space\rid: 125\r\r\n";

    fn expected() -> Vec<Event> {
        let event = |id: &str, kind: &str, data: &str| Event {
            id: Some(id.into()),
            kind: kind.into(),
            data: data.into(),
        };
        vec![
            event(
                "123",
                "story.status_changed",
                "{\"type\":\"story.status_changed\"}",
            ),
            event("124", "scene.progress", "first\nsecond"),
            event("125", "message", "no space"),
        ]
    }

    #[test]
    fn a_whole_stream_parses_with_every_line_ending() {
        let mut p = Parser::default();
        assert_eq!(p.feed(STREAM.as_bytes()), expected());
        assert_eq!(p.last_id(), Some("125"));
    }

    #[test]
    fn chunks_split_anywhere_give_the_same_events() {
        let bytes = STREAM.as_bytes();
        for size in 1..8 {
            let mut p = Parser::default();
            let events: Vec<Event> = bytes.chunks(size).flat_map(|c| p.feed(c)).collect();
            assert_eq!(events, expected(), "chunks of {size}");
        }
    }

    #[test]
    fn an_event_without_data_is_not_dispatched_but_sets_the_id() {
        let mut p = Parser::default();
        assert!(p.feed(b"id: 7\nevent: ping\n\n").is_empty());
        assert_eq!(p.last_id(), Some("7"));
        let events = p.feed(b"data: x\n\n");
        assert_eq!(events[0].id.as_deref(), Some("7"));
        assert_eq!(events[0].kind, "message");
    }

    #[test]
    fn an_empty_data_line_still_makes_an_event_and_a_byte_order_mark_is_skipped() {
        let mut p = Parser::default();
        let events = p.feed("\u{feff}data\ndata\n\n".as_bytes());
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].data, "\n");
    }

    #[test]
    fn an_unfinished_event_waits_for_its_blank_line() {
        let mut p = Parser::default();
        assert!(p.feed(b"data: a\n").is_empty());
        assert_eq!(p.feed(b"\n")[0].data, "a");
    }
}
