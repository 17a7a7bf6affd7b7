//! What the reconciler reads and writes: the database is the truth, Redis delivers.
//!
//! Unfinished top-level jobs (plans, single scenes, the assembly jobs of previews and
//! renders) that have no outbox row are the ones Redis must hold. The worker's
//! reconciler asks Redis about them; one Redis no longer has is queued again through
//! the outbox (a flow with its unfinished scene jobs only), and one Redis failed for
//! good while the row still says it runs is failed here with Redis's reason.

use chrono::{Duration, Utc};
use sea_orm::sea_query::{OnConflict, Query};
use sea_orm::{
    ColumnTrait, Condition, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    Set,
};

use super::StoreResult;
use super::transitions::ACTIVE;
use crate::db::entities::{job, outbox};

/// Unfinished top-level jobs not waiting in the outbox and untouched for `settled`
/// (so a job being pushed right now is left alone), oldest first.
pub async fn candidates(
    db: &DatabaseConnection,
    settled: std::time::Duration,
    limit: u64,
) -> StoreResult<Vec<job::Model>> {
    let before = Utc::now() - Duration::from_std(settled).unwrap_or_default();
    let in_outbox = Query::select()
        .column(outbox::Column::JobId)
        .from(outbox::Entity)
        .to_owned();
    Ok(job::Entity::find()
        .filter(job::Column::Status.is_in(ACTIVE))
        .filter(job::Column::ParentId.is_null())
        .filter(job::Column::UpdatedAt.lt(before))
        .filter(Condition::all().add(job::Column::Id.not_in_subquery(in_outbox)))
        .order_by_asc(job::Column::UpdatedAt)
        .limit(limit)
        .all(db)
        .await?)
}

/// Queues lost jobs again: their outbox rows make the relay push them (with their
/// stable ids, so a job that reappeared meanwhile is not doubled).
pub async fn requeue(db: &DatabaseConnection, ids: &[uuid::Uuid]) -> StoreResult<()> {
    if ids.is_empty() {
        return Ok(());
    }
    let now = Utc::now();
    let rows = ids.iter().map(|id| outbox::ActiveModel {
        job_id: Set(*id),
        created_at: Set(now),
    });
    let inserted = outbox::Entity::insert_many(rows)
        .on_conflict(
            OnConflict::column(outbox::Column::JobId)
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(db)
        .await;
    match inserted {
        Ok(_) | Err(sea_orm::DbErr::RecordNotInserted) => Ok(()),
        Err(e) => Err(e.into()),
    }
}
