//! Settling finished jobs into `job_stat_rollups`, and the SQL both halves of the
//! statistics share.
//!
//! A finished job never changes again (a retry is a new job), so its figures can be
//! summed once. [`settle`], run by every worker's reconciler, adds the jobs that
//! finished between the mark and [`SETTLE_AFTER`] ago to the sums and moves the mark,
//! in one transaction that holds the mark row, so two workers never settle a job
//! twice. The grace leaves time for a write that stamped `finished_at` to commit.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::{
    ConnectionTrait, DatabaseBackend, DatabaseConnection, FromQueryResult, Statement, Value,
};
use uuid::Uuid;

use super::jobs::stuck_after;
use super::statistics::Group;
use super::{StoreResult, begin_write};
use crate::domain::JobStatus;

/// How long after it finished a job is settled.
pub const SETTLE_AFTER: Duration = Duration::from_secs(10 * 60);

/// The backend's spelling of the expressions whose SQL differs.
pub(super) struct Dialect {
    backend: DatabaseBackend,
}

impl Dialect {
    pub(super) fn of<C: ConnectionTrait>(db: &C) -> Self {
        Self {
            backend: db.get_database_backend(),
        }
    }

    fn sqlite(&self) -> bool {
        self.backend == DatabaseBackend::Sqlite
    }

    pub(super) fn placeholder(&self, i: usize) -> String {
        if self.sqlite() {
            "?".into()
        } else {
            format!("${i}")
        }
    }

    /// Whole milliseconds from one timestamp column to another, never negative.
    fn millis(&self, from: &str, to: &str) -> String {
        if self.sqlite() {
            format!(
                "CAST(ROUND(MAX(0, (julianday({to}) - julianday({from})) * 86400000.0)) AS INTEGER)"
            )
        } else {
            format!(
                "CAST(ROUND(GREATEST(0, EXTRACT(EPOCH FROM ({to} - {from})) * 1000)) AS BIGINT)"
            )
        }
    }

    /// The row's cost in ten-thousandths of a dollar (SQLite keeps the decimal's
    /// text; integers keep every sum exact).
    pub(super) fn cost_units(&self) -> &'static str {
        if self.sqlite() {
            "CAST(ROUND(CAST(cost AS REAL) * 10000) AS INTEGER)"
        } else {
            "CAST(cost * 10000 AS BIGINT)"
        }
    }

    /// A sum read back as a 64-bit integer (Postgres sums `BIGINT` into `NUMERIC`).
    pub(super) fn sum(&self, expr: &str) -> String {
        if self.sqlite() {
            format!("SUM({expr})")
        } else {
            format!("CAST(SUM({expr}) AS BIGINT)")
        }
    }

    pub(super) fn statement(&self, sql: String, values: Vec<Value>) -> Statement {
        Statement::from_sql_and_values(self.backend, sql, values)
    }
}

fn status_list(active: bool) -> String {
    JobStatus::ALL
        .iter()
        .filter(|s| s.is_active() == active)
        .map(|s| format!("'{s}'"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The sums of `jobs` rows by `group`, under `conditions` (SQL with placeholders
/// numbered from 2; the first is the stuck cut-off).
fn sums(d: &Dialect, group: &str, conditions: &[String]) -> String {
    let filter = if conditions.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", conditions.join(" AND "))
    };
    format!(
        "SELECT {group}, COUNT(*) AS n, \
         {stale} AS stale, {cost} AS cost_units, \
         {wait} AS wait_ms, COUNT(started_at) AS waited, \
         {run} AS run_ms, COUNT(CASE WHEN started_at IS NOT NULL THEN finished_at END) AS ran \
         FROM jobs {filter} GROUP BY {group}",
        stale = d.sum(&format!(
            "CASE WHEN updated_at < {} THEN 1 ELSE 0 END",
            d.placeholder(1)
        )),
        cost = d.sum(d.cost_units()),
        wait = d.sum(&format!(
            "CASE WHEN started_at IS NOT NULL THEN {} END",
            d.millis("queued_at", "started_at")
        )),
        run = d.sum(&format!(
            "CASE WHEN started_at IS NOT NULL AND finished_at IS NOT NULL THEN {} END",
            d.millis("started_at", "finished_at")
        )),
    )
}

/// The jobs not settled (all of them when `after` is `None`) of one owner and one
/// story when given, summed by kind, provider and status.
pub(super) async fn live<C: ConnectionTrait>(
    db: &C,
    owner: Option<&str>,
    story: Option<Uuid>,
    after: Option<DateTime<Utc>>,
) -> StoreResult<Vec<Group>> {
    let d = Dialect::of(db);
    let mut values: Vec<Value> = vec![(Utc::now() - stuck_after()).into()];
    let mut conditions = Vec::new();
    if let Some(owner) = owner {
        values.push(owner.into());
        conditions.push(format!("owner_id = {}", d.placeholder(values.len())));
    }
    if let Some(story) = story {
        values.push(story.into());
        conditions.push(format!("story_id = {}", d.placeholder(values.len())));
    }
    if let Some(mark) = after {
        values.push(mark.into());
        conditions.push(format!(
            "(status IN ({}) OR finished_at IS NULL OR finished_at >= {})",
            status_list(true),
            d.placeholder(values.len())
        ));
    }
    let sql = sums(&d, "kind, provider, status", &conditions);
    Ok(Group::find_by_statement(d.statement(sql, values))
        .all(db)
        .await?)
}

/// The settled sums, of one owner or of everyone.
pub(super) async fn settled<C: ConnectionTrait>(
    db: &C,
    owner: Option<&str>,
) -> StoreResult<Vec<Group>> {
    let d = Dialect::of(db);
    let (filter, values) = match owner {
        Some(owner) => (
            format!("WHERE owner_id = {}", d.placeholder(1)),
            vec![owner.into()],
        ),
        None => (String::new(), vec![]),
    };
    let sql = format!(
        "SELECT kind, NULLIF(provider, '') AS provider, status, {n} AS n, \
         CAST(0 AS BIGINT) AS stale, {cost} AS cost_units, {wait} AS wait_ms, \
         {waited} AS waited, {run} AS run_ms, {ran} AS ran \
         FROM job_stat_rollups {filter} GROUP BY kind, provider, status",
        n = d.sum("jobs"),
        cost = d.sum("cost_units"),
        wait = d.sum("wait_ms"),
        waited = d.sum("waited"),
        run = d.sum("run_ms"),
        ran = d.sum("ran"),
    );
    Ok(Group::find_by_statement(d.statement(sql, values))
        .all(db)
        .await?)
}

/// The mark: jobs finished before it are in the sums. `lock` holds its row until
/// the transaction ends.
pub(super) async fn mark<C: ConnectionTrait>(db: &C, lock: bool) -> StoreResult<DateTime<Utc>> {
    let d = Dialect::of(db);
    let lock = if lock && !d.sqlite() {
        " FOR UPDATE"
    } else {
        ""
    };
    let row = db
        .query_one_raw(d.statement(
            format!("SELECT settled_before FROM job_stat_marks WHERE id = 1{lock}"),
            vec![],
        ))
        .await?
        .ok_or(sea_orm::DbErr::RecordNotFound("job_stat_marks".into()))?;
    Ok(row.try_get::<DateTime<Utc>>("", "settled_before")?)
}

#[derive(Debug, FromQueryResult)]
struct OwnerGroup {
    owner_id: String,
    provider: Option<String>,
    kind: String,
    status: String,
    n: i64,
    cost_units: Option<i64>,
    wait_ms: Option<i64>,
    waited: i64,
    run_ms: Option<i64>,
    ran: i64,
}

/// Adds the jobs that finished between the mark and [`SETTLE_AFTER`] ago to the
/// sums and moves the mark; answers how many jobs it settled.
pub async fn settle(db: &DatabaseConnection) -> StoreResult<u64> {
    settle_before(
        db,
        Utc::now() - chrono::Duration::from_std(SETTLE_AFTER).unwrap_or_default(),
    )
    .await
}

/// As [`settle`], up to `until` (which must leave time for finishing writes to
/// commit; benchmarks and tests that write old jobs directly use it).
pub async fn settle_before(db: &DatabaseConnection, until: DateTime<Utc>) -> StoreResult<u64> {
    let txn = begin_write(db).await?;
    let from = mark(&txn, true).await?;
    if until <= from {
        txn.commit().await?;
        return Ok(0);
    }
    let d = Dialect::of(&txn);
    let conditions = [
        format!("status IN ({})", status_list(false)),
        format!("finished_at >= {}", d.placeholder(2)),
        format!("finished_at < {}", d.placeholder(3)),
    ];
    let sql = sums(&d, "owner_id, kind, provider, status", &conditions);
    let values: Vec<Value> = vec![until.into(), from.into(), until.into()];
    let groups = OwnerGroup::find_by_statement(d.statement(sql, values))
        .all(&txn)
        .await?;
    let mut settled = 0;
    for g in &groups {
        settled += g.n.max(0) as u64;
        let p: Vec<String> = (1..=10).map(|i| d.placeholder(i)).collect();
        let sql = format!(
            "INSERT INTO job_stat_rollups (owner_id, kind, provider, status, jobs, cost_units, \
             wait_ms, waited, run_ms, ran) VALUES ({}) \
             ON CONFLICT (owner_id, kind, provider, status) DO UPDATE SET \
             jobs = job_stat_rollups.jobs + excluded.jobs, \
             cost_units = job_stat_rollups.cost_units + excluded.cost_units, \
             wait_ms = job_stat_rollups.wait_ms + excluded.wait_ms, \
             waited = job_stat_rollups.waited + excluded.waited, \
             run_ms = job_stat_rollups.run_ms + excluded.run_ms, \
             ran = job_stat_rollups.ran + excluded.ran",
            p.join(", ")
        );
        let values: Vec<Value> = vec![
            g.owner_id.clone().into(),
            g.kind.clone().into(),
            g.provider.clone().unwrap_or_default().into(),
            g.status.clone().into(),
            g.n.into(),
            g.cost_units.unwrap_or(0).into(),
            g.wait_ms.unwrap_or(0).into(),
            g.waited.into(),
            g.run_ms.unwrap_or(0).into(),
            g.ran.into(),
        ];
        txn.execute_raw(d.statement(sql, values)).await?;
    }
    txn.execute_raw(d.statement(
        format!(
            "UPDATE job_stat_marks SET settled_before = {} WHERE id = 1",
            d.placeholder(1)
        ),
        vec![until.into()],
    ))
    .await?;
    txn.commit().await?;
    Ok(settled)
}
