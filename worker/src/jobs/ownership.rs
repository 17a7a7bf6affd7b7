//! The runs this process holds: each beats on its Job row while it works, and stops
//! (without cancelling its remote tasks, which the run that took over adopts) when
//! the row says another run owns the job. At the end of the shutdown grace every run
//! still here gives its job back (queued, the run uncounted), so that its
//! re-delivery starts at once elsewhere.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ai_video_shared::db::entities::job;
use ai_video_shared::store::{runs, worker_writes};
use bullmq::worker::CancellationToken;
use sea_orm::DatabaseConnection;
use uuid::Uuid;

/// The runs of this process, by run id.
#[derive(Default)]
pub struct Runs {
    held: Mutex<HashMap<Uuid, (job::Model, CancellationToken)>>,
}

/// A registered run: unregisters itself and stops its heartbeat when dropped.
pub struct Held {
    runs: Arc<Runs>,
    run_id: Uuid,
    /// Fired when the run lost its job or gave it up.
    pub lost: CancellationToken,
    beat: tokio::task::JoinHandle<()>,
}

impl Drop for Held {
    fn drop(&mut self) {
        self.beat.abort();
        if let Ok(mut held) = self.runs.held.lock() {
            held.remove(&self.run_id);
        }
    }
}

impl Runs {
    /// Registers `row`'s run and starts beating every `every`.
    pub fn hold(
        self: &Arc<Self>,
        db: &DatabaseConnection,
        row: &job::Model,
        every: Duration,
    ) -> Held {
        let run_id = row.run_id.unwrap_or_default();
        let lost = CancellationToken::new();
        if let Ok(mut held) = self.held.lock() {
            held.insert(run_id, (row.clone(), lost.clone()));
        }
        let beat = tokio::spawn(beat(db.clone(), row.clone(), every, lost.clone()));
        Held {
            runs: self.clone(),
            run_id,
            lost,
            beat,
        }
    }

    /// Stops every run here and puts their jobs back as queued, the runs uncounted,
    /// so that their re-deliveries start at once elsewhere; answers how many there were.
    pub async fn give_up_all(&self, db: &DatabaseConnection) -> usize {
        let held: Vec<_> = match self.held.lock() {
            Ok(held) => held.values().cloned().collect(),
            Err(_) => return 0,
        };
        for (row, lost) in &held {
            lost.cancel();
            let reason = "the worker shut down at the end of its grace; the job is queued again";
            if let Err(e) = worker_writes::requeue(db, row, reason).await {
                tracing::warn!(job.id = %row.id, error = %e, "could not let go of the job; it is taken over once its heartbeat is stale");
            }
        }
        held.len()
    }
}

async fn beat(db: DatabaseConnection, row: job::Model, every: Duration, lost: CancellationToken) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = lost.cancelled() => return,
        }
        match runs::heartbeat(&db, &row).await {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!(job.id = %row.id, "the job is no longer this run's; stopping it");
                lost.cancel();
                return;
            }
            // The database is away: the run finds out at its next write; beating
            // resumes when it returns.
            Err(e) => tracing::debug!(job.id = %row.id, error = %e, "heartbeat not written"),
        }
    }
}
