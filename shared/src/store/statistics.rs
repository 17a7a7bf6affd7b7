//! `jobs/statistics/`: the seed's key figures, aggregated by the database.
//!
//! The database sums by `(kind, provider, status)`. Finished jobs are settled into
//! `job_stat_rollups` by the worker's reconciler (see [`rollup`]), so the answer reads
//! those few rows plus the jobs not settled yet (unfinished, or finished after the
//! mark) through indexes, and its cost does not grow with the number of old jobs. The
//! figures of one story are summed from its jobs (`jobs_story_idx`).

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use sea_orm::{AccessMode, DatabaseConnection, FromQueryResult, IsolationLevel, TransactionTrait};
use serde::Serialize;
use uuid::Uuid;

use super::rollup;
use super::{StoreResult, Viewer};
use crate::db::Money;
use crate::domain::{JobKind, JobStatus, Provider};

/// Figures for one slice of jobs.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct JobFigures {
    pub total: u64,
    pub queued: u64,
    pub running: u64,
    pub retrying: u64,
    pub succeeded: u64,
    pub failed: u64,
    pub cancelled: u64,
    /// Unfinished jobs untouched for [`super::jobs::STUCK_AFTER`]: work that should
    /// have moved.
    pub stuck: u64,
    /// succeeded ÷ (succeeded + failed + stuck); null before any job finished or
    /// stuck.
    pub success_rate: Option<f64>,
    /// Mean start → finish of succeeded jobs, in seconds.
    pub average_generation_time_seconds: Option<f64>,
    /// Mean enqueue → start of started jobs, in seconds.
    pub average_queue_wait_seconds: Option<f64>,
    #[schema(value_type = String, example = "0.1200")]
    pub total_cost: Decimal,
}

/// Figures for one provider and kind.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ProviderFigures {
    /// `null` for jobs that did not call a provider.
    pub provider: Option<Provider>,
    pub kind: JobKind,
    #[serde(flatten)]
    pub figures: JobFigures,
}

/// The seed's key figures: success rate, generation time, API cost and queue wait.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct JobStatistics {
    #[serde(flatten)]
    pub overall: JobFigures,
    pub by_kind: BTreeMap<String, JobFigures>,
    pub by_provider: Vec<ProviderFigures>,
}

/// One `(kind, provider, status)` group as the database sums it.
#[derive(Debug, FromQueryResult)]
pub(super) struct Group {
    pub kind: JobKind,
    pub provider: Option<Provider>,
    pub status: JobStatus,
    pub n: i64,
    pub stale: Option<i64>,
    pub cost_units: Option<i64>,
    pub wait_ms: Option<i64>,
    pub waited: i64,
    pub run_ms: Option<i64>,
    pub ran: i64,
}

#[derive(Default)]
struct Acc {
    figures: JobFigures,
    gen_sum: f64,
    gen_n: u64,
    wait_sum: f64,
    wait_n: u64,
}

impl Acc {
    fn add(&mut self, g: &Group) {
        let f = &mut self.figures;
        let n = g.n.max(0) as u64;
        f.total += n;
        match g.status {
            JobStatus::Queued => f.queued += n,
            JobStatus::Running => f.running += n,
            JobStatus::Retrying => f.retrying += n,
            JobStatus::Succeeded => f.succeeded += n,
            JobStatus::Failed => f.failed += n,
            JobStatus::Cancelled => f.cancelled += n,
        }
        if g.status.is_active() {
            f.stuck += g.stale.unwrap_or(0).max(0) as u64;
        }
        f.total_cost += Decimal::new(g.cost_units.unwrap_or(0), 4);
        self.wait_sum += g.wait_ms.unwrap_or(0) as f64 / 1000.0;
        self.wait_n += g.waited.max(0) as u64;
        if g.status == JobStatus::Succeeded {
            self.gen_sum += g.run_ms.unwrap_or(0) as f64 / 1000.0;
            self.gen_n += g.ran.max(0) as u64;
        }
    }

    fn finish(self) -> JobFigures {
        let mut f = self.figures;
        let done = f.succeeded + f.failed + f.stuck;
        f.success_rate = (done > 0).then(|| f.succeeded as f64 / done as f64);
        f.average_generation_time_seconds =
            (self.gen_n > 0).then(|| self.gen_sum / self.gen_n as f64);
        f.average_queue_wait_seconds =
            (self.wait_n > 0).then(|| self.wait_sum / self.wait_n as f64);
        f.total_cost = Money::new(f.total_cost).0;
        f
    }
}

/// Statistics over the jobs the viewer may see, optionally of one story.
///
/// A story's jobs are read from `jobs` alone. Otherwise the settled sums and the jobs
/// after the mark are read in one snapshot, so a job is counted once even while
/// [`rollup::settle`] moves the mark.
pub async fn statistics(
    db: &DatabaseConnection,
    viewer: &Viewer,
    story_id: Option<Uuid>,
) -> StoreResult<JobStatistics> {
    let owner = (!viewer.is_admin).then_some(viewer.user_id.as_str());
    let groups = match story_id {
        Some(story) => rollup::live(db, owner, Some(story), None).await?,
        None => {
            let txn = db
                .begin_with_config(
                    Some(IsolationLevel::RepeatableRead),
                    Some(AccessMode::ReadOnly),
                )
                .await?;
            let mark = rollup::mark(&txn, false).await?;
            let mut groups = rollup::settled(&txn, owner).await?;
            groups.extend(rollup::live(&txn, owner, None, Some(mark)).await?);
            txn.commit().await?;
            groups
        }
    };
    let mut overall = Acc::default();
    let mut by_kind: BTreeMap<String, Acc> = BTreeMap::new();
    let mut by_provider: BTreeMap<(String, String), (Option<Provider>, JobKind, Acc)> =
        BTreeMap::new();
    for g in &groups {
        overall.add(g);
        by_kind.entry(g.kind.to_string()).or_default().add(g);
        let key = (
            g.provider.map(|p| p.to_string()).unwrap_or_default(),
            g.kind.to_string(),
        );
        by_provider
            .entry(key)
            .or_insert_with(|| (g.provider, g.kind, Acc::default()))
            .2
            .add(g);
    }
    Ok(JobStatistics {
        overall: overall.finish(),
        by_kind: by_kind.into_iter().map(|(k, a)| (k, a.finish())).collect(),
        by_provider: by_provider
            .into_values()
            .map(|(provider, kind, acc)| ProviderFigures {
                provider,
                kind,
                figures: acc.finish(),
            })
            .collect(),
    })
}
