//! Who owns a running job. A run takes a job by writing its own `run_id` on the row
//! and keeps it by beating (`heartbeat_at`) while it works; every write of the run
//! names its `run_id`, so a run that lost the job (it was paused past its lock and a
//! re-delivery took over) changes nothing. A re-delivery of a job whose run still
//! beats is put back, never run beside it: paid steps never run twice at once.

use std::time::Duration;

use chrono::Utc;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter,
    QuerySelect,
};
use serde_json::json;
use uuid::Uuid;

use super::{StoreResult, begin_write, events};
use crate::db::entities::job;
use crate::domain::{EventType, JobStatus, percent};

/// What [`begin`] found.
#[derive(Debug)]
pub enum Begin {
    /// The job is marked running under this run, which counts as a run.
    Started(Box<job::Model>),
    /// Another run owns the job and beat less than `stale_after` ago.
    Busy,
    /// The row is no longer active (cancelled, finished, or gone): nothing runs.
    Inactive,
}

/// The rows a run may write: its own, while running.
fn owned(job_id: Uuid, run_id: Option<Uuid>) -> Condition {
    let mut cond = Condition::all()
        .add(job::Column::Id.eq(job_id))
        .add(job::Column::Status.eq(JobStatus::Running));
    if let Some(run) = run_id {
        cond = cond.add(job::Column::RunId.eq(run));
    }
    cond
}

/// Only rows the run `job` owns (by its `run_id`) while they are running.
pub fn owned_by(job: &job::Model) -> Condition {
    owned(job.id, job.run_id)
}

/// Takes the job for `run_id` when it is queued or retrying, or running under a run
/// that has not beaten for `stale_after` (it died or is paused): the row is marked
/// running, owned by this run, and the run counted.
pub async fn begin(
    db: &DatabaseConnection,
    job_id: Uuid,
    run_id: Uuid,
    stale_after: Duration,
) -> StoreResult<Begin> {
    let now = Utc::now();
    let stale = now - chrono::Duration::from_std(stale_after).unwrap_or_default();
    let takeable = Condition::any()
        .add(job::Column::Status.is_in([JobStatus::Queued, JobStatus::Retrying]))
        .add(
            Condition::all()
                .add(job::Column::Status.eq(JobStatus::Running))
                .add(
                    Condition::any()
                        .add(job::Column::HeartbeatAt.is_null())
                        .add(job::Column::HeartbeatAt.lt(stale)),
                ),
        );
    let updated = job::Entity::update_many()
        .col_expr(job::Column::Status, Expr::value(JobStatus::Running))
        .col_expr(job::Column::Attempt, Expr::col(job::Column::Attempt).add(1))
        .col_expr(
            job::Column::StartedAt,
            Expr::col(job::Column::StartedAt).if_null(now),
        )
        .col_expr(job::Column::RunId, Expr::value(run_id))
        .col_expr(job::Column::HeartbeatAt, Expr::value(now))
        .col_expr(job::Column::UpdatedAt, Expr::value(now))
        .filter(job::Column::Id.eq(job_id))
        .filter(takeable)
        .exec_with_returning(db)
        .await?;
    if let Some(row) = updated.into_iter().next() {
        return Ok(Begin::Started(Box::new(row)));
    }
    let row = job::Entity::find_by_id(job_id).one(db).await?;
    Ok(match row {
        Some(row) if row.status == JobStatus::Running => Begin::Busy,
        _ => Begin::Inactive,
    })
}

/// The run says it is alive. `false` when it no longer owns the job (another run
/// took it over, or it was cancelled or finished): the run must stop.
pub async fn heartbeat(db: &DatabaseConnection, job: &job::Model) -> StoreResult<bool> {
    let updated = job::Entity::update_many()
        .col_expr(job::Column::HeartbeatAt, Expr::value(Utc::now()))
        .filter(owned_by(job))
        .exec(db)
        .await?;
    Ok(updated.rows_affected == 1)
}

/// Whether the run still owns its job: the row is running under its `run_id` (a
/// cancel turns it `cancelled`, a takeover changes the run).
pub async fn still_owned<C: ConnectionTrait>(db: &C, job: &job::Model) -> StoreResult<bool> {
    Ok(job::Entity::find()
        .filter(owned_by(job))
        .one(db)
        .await?
        .is_some())
}

/// Records how far the run is (0 to 1); a change of whole percent is also an event
/// (`job.progress`, and `scene.progress` for a scene's job) for the SSE streams.
/// Progress never waits for the owner's event lock: when another of the owner's
/// changes holds it, this tick's event is skipped; the column is written all the
/// same, and the next change of percent is announced.
pub async fn set_progress(
    db: &DatabaseConnection,
    job: &job::Model,
    progress: f64,
) -> StoreResult<()> {
    let progress = progress.clamp(0.0, 1.0);
    let txn = begin_write(db).await?;
    let before: Option<Option<f64>> = job::Entity::find()
        .select_only()
        .column(job::Column::Progress)
        .filter(owned_by(job))
        .into_tuple()
        .one(&txn)
        .await?;
    let Some(before) = before else {
        return Ok(());
    };
    let now = percent(progress);
    let announce =
        before.map(percent) != Some(now) && events::try_lock_owner(&txn, &job.owner_id).await?;
    job::Entity::update_many()
        .col_expr(job::Column::Progress, Expr::value(progress))
        .filter(owned_by(job))
        .exec(&txn)
        .await?;
    if announce {
        let story = Some(job.story_id);
        events::record(
            &txn,
            &job.owner_id,
            story,
            EventType::JobProgress,
            json!({"story_id": job.story_id, "job_id": job.id, "kind": job.kind, "percent": now}),
        )
        .await?;
        if let Some(scene) = job.scene_id {
            events::record(
                &txn,
                &job.owner_id,
                story,
                EventType::SceneProgress,
                json!({"story_id": job.story_id, "scene_id": scene, "job_id": job.id, "percent": now}),
            )
            .await?;
        }
    }
    txn.commit().await?;
    Ok(())
}

/// Whether a database error means the database could not be reached (down, restarting,
/// pool exhausted), not that the statement was wrong: work that meets it waits
/// instead of failing.
pub fn is_unavailable(err: &DbErr) -> bool {
    use sea_orm::RuntimeErr;
    use sea_orm::sqlx::Error as Sqlx;
    let runtime = match err {
        DbErr::ConnectionAcquire(_) => return true,
        DbErr::Conn(_) => return true,
        DbErr::Exec(e) | DbErr::Query(e) => e,
        _ => return false,
    };
    match runtime {
        RuntimeErr::SqlxError(e) => match e.as_ref() {
            Sqlx::Io(_)
            | Sqlx::Tls(_)
            | Sqlx::PoolTimedOut
            | Sqlx::PoolClosed
            | Sqlx::WorkerCrashed
            | Sqlx::Protocol(_) => true,
            Sqlx::Database(db) => db.code().is_some_and(|code| {
                // connection_exception, admin/crash shutdown, cannot connect now
                code.starts_with("08") || code.starts_with("57P")
            }),
            _ => false,
        },
        _ => false,
    }
}
