//! Human and machine output on stdout: the API's JSON as it came (`--json`), or
//! short lines and aligned tables.

use serde_json::Value;

use crate::client::Client;

/// Prints a value as pretty JSON.
pub fn json(value: &Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).expect("a JSON value serializes")
    );
}

/// A member as text: strings bare, null as `-`, anything else as JSON.
pub fn field(value: &Value) -> String {
    match value {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// At most `max` characters, with `…` when cut.
pub fn clip(text: &str, max: usize) -> String {
    let line = text.lines().next().unwrap_or("");
    if line.chars().count() <= max && line.len() == text.len() {
        return line.to_string();
    }
    let kept: String = line.chars().take(max.saturating_sub(1)).collect();
    format!("{kept}…")
}

/// Left-aligned columns under a header; the last column is not padded.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let last = cells.len().saturating_sub(1);
        let mut out = String::new();
        for (i, cell) in cells.into_iter().enumerate() {
            if i == last {
                out.push_str(cell);
            } else {
                let pad = widths[i] - cell.chars().count();
                out.push_str(cell);
                out.push_str(&" ".repeat(pad + 2));
            }
        }
        out.trim_end().to_string()
    };
    let mut out = vec![line(header.to_vec())];
    out.extend(
        rows.iter()
            .map(|r| line(r.iter().map(String::as_str).collect())),
    );
    out.join("\n")
}

/// A media link as an absolute URL, or `-`.
fn link(client: &Client, value: &Value) -> String {
    value
        .as_str()
        .and_then(|l| client.media_url(l).ok())
        .map_or_else(|| "-".into(), |u| u.to_string())
}

/// One story, a member a line.
pub fn story(client: &Client, s: &Value) -> String {
    let mut lines = vec![
        format!("{}  ({})", field(&s["title"]), field(&s["id"])),
        format!("  status      {}", field(&s["status"])),
        format!(
            "  video       {} s, {}, {}, narrated in {}",
            field(&s["duration_seconds"]),
            field(&s["aspect_ratio"]),
            field(&s["style"]),
            field(&s["language"]),
        ),
        format!(
            "  providers   images {}, video {}",
            field(&s["image_provider"]),
            field(&s["video_provider"])
        ),
        format!(
            "  cost        estimated {}, so far {}",
            field(&s["estimated_cost"]),
            field(&s["actual_cost"])
        ),
        format!("  preview     {}", link(client, &s["preview_url"])),
        format!("  final       {}", link(client, &s["final_url"])),
    ];
    if !s["last_error"].is_null() {
        lines.push(format!("  error       {}", field(&s["last_error"])));
    }
    let next: Vec<String> = s["legal_transitions"]
        .as_array()
        .map(|a| a.iter().map(field).collect())
        .unwrap_or_default();
    if !next.is_empty() {
        lines.push(format!("  next        {}", next.join(", ")));
    }
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_their_columns() {
        let rows = vec![
            vec!["a".into(), "longer".into(), "x".into()],
            vec!["bbb".into(), "s".into(), "y".into()],
        ];
        assert_eq!(
            table(&["ID", "STATUS", "TITLE"], &rows),
            "ID   STATUS  TITLE\na    longer  x\nbbb  s       y"
        );
    }

    #[test]
    fn long_or_multiline_text_is_clipped() {
        assert_eq!(clip("short", 10), "short");
        assert_eq!(clip("abcdefghijkl", 5), "abcd…");
        assert_eq!(clip("one\ntwo", 10), "one…");
    }
}
