//! CPU time of the processes a benchmark runs on (this process, the Postgres
//! cluster, Redis), read from `/proc`, so a figure can say where the cores went.

use std::time::Instant;

/// Linux reports process times in clock ticks of 1/100 s (USER_HZ).
const TICKS_PER_SECOND: f64 = 100.0;

fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces; the fields after it are fixed.
    let (_, rest) = stat.rsplit_once(") ")?;
    Some(rest.split_whitespace().map(str::to_owned).collect())
}

/// Seconds of CPU (user + system, including reaped children) of one process.
fn cpu_seconds(pid: u32) -> f64 {
    let Some(f) = stat_fields(pid) else {
        return 0.0;
    };
    // After the name: state(0) ppid(1) … utime(11) stime(12) cutime(13) cstime(14).
    let tick = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (tick(11) + tick(12) + tick(13) + tick(14)) / TICKS_PER_SECOND
}

fn parent(pid: u32) -> Option<u32> {
    stat_fields(pid)?.get(1)?.parse().ok()
}

/// A process and its children, or one process alone.
#[derive(Debug, Clone, Copy)]
pub enum Tree {
    One(u32),
    WithChildren(u32),
}

impl Tree {
    fn seconds(self) -> f64 {
        match self {
            Tree::One(pid) => cpu_seconds(pid),
            Tree::WithChildren(root) => {
                let mut total = cpu_seconds(root);
                if let Ok(dir) = std::fs::read_dir("/proc") {
                    for entry in dir.flatten() {
                        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse().ok())
                        else {
                            continue;
                        };
                        if parent(pid) == Some(root) {
                            total += cpu_seconds(pid);
                        }
                    }
                }
                total
            }
        }
    }
}

/// The parent of `pid` (the postmaster of a Postgres backend).
pub fn parent_of(pid: u32) -> Option<u32> {
    parent(pid)
}

/// CPU seconds of named process trees between `start` and `stop`.
pub struct Meter {
    trees: Vec<(&'static str, Tree)>,
    first: Vec<f64>,
    started: Instant,
}

impl Meter {
    pub fn start(trees: Vec<(&'static str, Tree)>) -> Self {
        let first = trees.iter().map(|(_, t)| t.seconds()).collect();
        Self {
            trees,
            first,
            started: Instant::now(),
        }
    }

    /// `(name, CPU seconds)` per tree, and the wall-clock seconds elapsed.
    pub fn stop(self) -> (Vec<(&'static str, f64)>, f64) {
        let wall = self.started.elapsed().as_secs_f64();
        let used = self
            .trees
            .iter()
            .zip(self.first)
            .map(|((name, t), first)| (*name, (t.seconds() - first).max(0.0)))
            .collect();
        (used, wall)
    }
}
