//! Rows of results, printed as they come and as one Markdown table at the end.

use std::fmt::Write;

#[derive(Debug, Clone)]
pub struct Row {
    pub benchmark: String,
    pub setup: String,
    pub ai_video: String,
    pub peer: String,
    pub ratio: String,
    pub target: String,
}

#[derive(Default)]
pub struct Report {
    rows: Vec<Row>,
}

/// A number with the precision a table wants.
pub fn num(x: f64) -> String {
    if x >= 100.0 {
        format!("{x:.0}")
    } else if x >= 10.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.2}")
    }
}

impl Report {
    pub fn add(&mut self, row: Row) {
        println!(
            "| {} | {} | {} | {} | {} | {} |",
            row.benchmark, row.setup, row.ai_video, row.peer, row.ratio, row.target
        );
        self.rows.push(row);
    }

    pub fn markdown(&self) -> String {
        let mut out = String::from(
            "| benchmark | setup | ai-video | peer | ratio | target |\n| --- | --- | --- | --- | --- | --- |\n",
        );
        for r in &self.rows {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} |",
                r.benchmark, r.setup, r.ai_video, r.peer, r.ratio, r.target
            );
        }
        out
    }
}
