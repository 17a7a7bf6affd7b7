//! Checkpoints of a job's paid steps: money is spent once.
//!
//! A scene job is a sequence of steps (the keyframe, each remote task, the stored
//! clip). A remote task's id is recorded as `submitted` before it is polled, so a
//! run that lost its worker adopts the task instead of creating another; a step
//! whose product is stored is recorded as `done`, with its storage key and cost, and
//! its cost is added to the job's and the story's in the same transaction. A run
//! that is put back, retried or re-delivered reads the steps first and resumes
//! after the last one done. A job that retries another (`retry_of`) inherits the
//! steps that job completed, so a retry buys only what failed.

use chrono::Utc;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, QuerySelect, Set,
};
use uuid::Uuid;

use super::{StoreError, StoreResult, begin_write};
use crate::db::Money;
use crate::db::entities::{job, step, story};
use crate::domain::Provider;

/// A remote task exists for the step; it may still be running.
pub const SUBMITTED: &str = "submitted";
/// The step's product is stored and paid for.
pub const DONE: &str = "done";
/// A task whose output was unusable: paid for, never adopted.
pub const REJECTED: &str = "rejected";

/// How many `retry_of` links a job's inherited steps are looked up through.
const RETRY_CHAIN: usize = 8;

/// The steps a run of `job` resumes from: its own, then the completed steps of the
/// jobs it retries (nearest first) for names it has none of.
pub async fn of_job(db: &DatabaseConnection, job: &job::Model) -> StoreResult<Vec<step::Model>> {
    let mut chain = vec![job.id];
    let mut next = job.retry_of;
    while let Some(id) = next {
        if chain.len() >= RETRY_CHAIN || chain.contains(&id) {
            break;
        }
        chain.push(id);
        next = job::Entity::find_by_id(id)
            .select_only()
            .column(job::Column::RetryOf)
            .into_tuple::<Option<Uuid>>()
            .one(db)
            .await?
            .flatten();
    }
    let rows = step::Entity::find()
        .filter(step::Column::JobId.is_in(chain.clone()))
        .all(db)
        .await?;
    let mut steps: Vec<step::Model> = Vec::new();
    for id in &chain {
        for row in rows.iter().filter(|r| r.job_id == *id) {
            let own = *id == job.id;
            if (own || row.status == DONE) && !steps.iter().any(|s| s.name == row.name) {
                steps.push(row.clone());
            }
        }
    }
    Ok(steps)
}

/// A remote task the provider accepted.
#[derive(Debug, Clone)]
pub struct Submitted<'a> {
    pub name: &'a str,
    pub provider: Provider,
    pub remote_id: &'a str,
    /// Its price, added to the job's and the story's cost now: an accepted task is
    /// billed whatever happens to the run.
    pub cost: Money,
}

/// Records that a remote task was created for a step, before it is polled.
pub async fn submitted(
    db: &DatabaseConnection,
    job: &job::Model,
    task: Submitted<'_>,
) -> StoreResult<()> {
    let txn = begin_write(db).await?;
    add_costs(&txn, job, task.cost).await?;
    upsert(
        &txn,
        job.id,
        task.name,
        SUBMITTED,
        step::ActiveModel {
            provider: Set(Some(task.provider)),
            remote_id: Set(Some(task.remote_id.to_owned())),
            cost: Set(task.cost),
            ..Default::default()
        },
    )
    .await?;
    txn.commit().await?;
    Ok(())
}

/// The tasks of `provider` this job recorded are not to be adopted again: their
/// output was unusable, so the next run buys new ones.
pub async fn reject_tasks(
    db: &DatabaseConnection,
    job_id: Uuid,
    provider: Provider,
) -> StoreResult<()> {
    step::Entity::update_many()
        .col_expr(step::Column::Status, Expr::value(REJECTED))
        .col_expr(step::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(step::Column::JobId.eq(job_id))
        .filter(step::Column::Provider.eq(provider))
        .filter(step::Column::Status.eq(SUBMITTED))
        .exec(db)
        .await?;
    Ok(())
}

/// A completed step.
#[derive(Debug, Clone)]
pub struct Done<'a> {
    pub name: &'a str,
    pub provider: Provider,
    pub remote_id: Option<&'a str>,
    pub storage_key: Option<&'a str>,
    pub cost: Money,
    pub data: serde_json::Value,
}

/// Records a completed step and adds its cost (what was not paid through its
/// tasks already) to the job's and the story's.
pub async fn done(db: &DatabaseConnection, job: &job::Model, done: Done<'_>) -> StoreResult<()> {
    let txn = begin_write(db).await?;
    add_costs(&txn, job, done.cost).await?;
    upsert(
        &txn,
        job.id,
        done.name,
        DONE,
        step::ActiveModel {
            provider: Set(Some(done.provider)),
            remote_id: Set(done.remote_id.map(str::to_owned)),
            storage_key: Set(done.storage_key.map(str::to_owned)),
            cost: Set(done.cost),
            data: Set(Some(done.data)),
            ..Default::default()
        },
    )
    .await?;
    txn.commit().await?;
    Ok(())
}

/// Called before the step is written: the job row is locked for update first, so
/// two steps of one job recorded at once queue on that lock instead of each
/// holding the key-share lock its step's foreign key takes and waiting for the
/// other's (a deadlock on Postgres).
async fn add_costs<C: ConnectionTrait>(db: &C, job: &job::Model, cost: Money) -> StoreResult<()> {
    if !cost.0.is_zero() {
        add_job_cost(db, job.id, cost).await?;
        add_story_cost(db, job.story_id, cost).await?;
    }
    Ok(())
}

async fn upsert<C: ConnectionTrait>(
    db: &C,
    job_id: Uuid,
    name: &str,
    status: &str,
    mut row: step::ActiveModel,
) -> StoreResult<()> {
    let now = Utc::now();
    row.id = Set(Uuid::now_v7());
    row.job_id = Set(job_id);
    row.name = Set(name.to_owned());
    row.status = Set(status.to_owned());
    row.created_at = Set(now);
    row.updated_at = Set(now);
    let mut update = vec![step::Column::Status, step::Column::UpdatedAt];
    for (set, col) in [
        (row.provider.is_set(), step::Column::Provider),
        (row.remote_id.is_set(), step::Column::RemoteId),
        (row.storage_key.is_set(), step::Column::StorageKey),
        (row.cost.is_set(), step::Column::Cost),
        (row.data.is_set(), step::Column::Data),
    ] {
        if set {
            update.push(col);
        }
    }
    if !row.cost.is_set() {
        row.cost = Set(Money::ZERO);
    }
    step::Entity::insert(row)
        .on_conflict(
            OnConflict::columns([step::Column::JobId, step::Column::Name])
                .update_columns(update)
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    Ok(())
}

async fn add_job_cost<C: ConnectionTrait>(db: &C, job_id: Uuid, cost: Money) -> StoreResult<()> {
    let current = job::Entity::find_by_id(job_id)
        .lock_exclusive()
        .one(db)
        .await?
        .ok_or(StoreError::NotFound("job"))?;
    let total = current.cost.map_or(Money::ZERO, |c| c).0 + cost.0;
    job::Entity::update_many()
        .col_expr(job::Column::Cost, Expr::value(Money::new(total)))
        .filter(job::Column::Id.eq(job_id))
        .exec(db)
        .await?;
    Ok(())
}

/// Read-modify-write of the locked story row, inside the caller's write
/// transaction: exact decimals on both databases (SQLite keeps money as text, so SQL
/// arithmetic would be float), and no lost update when scenes finish together.
pub(crate) async fn add_story_cost<C: ConnectionTrait>(
    db: &C,
    story_id: Uuid,
    cost: Money,
) -> StoreResult<()> {
    let current = story::Entity::find_by_id(story_id)
        .lock_exclusive()
        .one(db)
        .await?
        .ok_or(StoreError::NotFound("story"))?;
    story::Entity::update_many()
        .col_expr(
            story::Column::ActualCost,
            Expr::value(Money::new(current.actual_cost.0 + cost.0)),
        )
        .filter(story::Column::Id.eq(story_id))
        .exec(db)
        .await?;
    Ok(())
}

/// Whether a step was recorded in a state.
pub fn find<'a>(steps: &'a [step::Model], name: &str, status: &str) -> Option<&'a step::Model> {
    steps.iter().find(|s| s.name == name && s.status == status)
}
