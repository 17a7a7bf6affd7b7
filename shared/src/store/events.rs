//! The event log: every event is written in the transaction of the change that
//! causes it, with a delivery row for each of the owner's webhook endpoints that
//! subscribed to it. Readers resume with `id > n`.
//!
//! Ids come from one sequence, so transactions of different owners may commit out of
//! id order; a stream resuming from an id must not skip an event that commits later
//! with a smaller id. On Postgres every transaction that records an event for an
//! owner holds that owner's advisory lock until it ends, so one owner's events
//! commit in id order (SQLite commits one writer at a time anyway). The lock is
//! taken when the transaction begins ([`super::begin_for`]), before any row lock.

use std::sync::LazyLock;

use chrono::Utc;
use sea_orm::sea_query::Query;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, DbErr,
    EntityTrait, NotSet, QueryFilter, QueryOrder, QuerySelect, Set, Statement,
};
use serde_json::Value;
use tokio::sync::Notify;
use uuid::Uuid;

use super::StoreResult;
use super::webhooks::{self, PENDING};
use crate::db::entities::{event, webhook_delivery};
use crate::domain::EventType;

/// Woken whenever this process records an event, so that its announcer looks for
/// it as soon as the transaction has committed.
pub static RECORDED: LazyLock<Notify> = LazyLock::new(Notify::new);

/// Whose events a reader follows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Every story of this owner.
    Owner(String),
    /// One story.
    Story(Uuid),
}

impl Scope {
    fn filter(&self) -> sea_orm::Condition {
        match self {
            Scope::Owner(owner) => {
                sea_orm::Condition::all().add(event::Column::OwnerId.eq(owner.clone()))
            }
            Scope::Story(story) => sea_orm::Condition::all().add(event::Column::StoryId.eq(*story)),
        }
    }

    /// Whether an event of this owner and story belongs to the scope.
    pub fn covers(&self, owner: &str, story: Option<Uuid>) -> bool {
        match self {
            Scope::Owner(o) => o == owner,
            Scope::Story(s) => story == Some(*s),
        }
    }
}

/// Takes `owner`'s event lock until the transaction ends (Postgres; a no-op on
/// SQLite). Transactions that may record events take it first, before any row lock
/// ([`super::begin_for`]), so that waiting for it never closes a cycle of waits.
pub async fn lock_owner<C: ConnectionTrait>(db: &C, owner: &str) -> Result<(), DbErr> {
    if db.get_database_backend() == DbBackend::Postgres {
        db.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT pg_advisory_xact_lock(7, hashtext($1))",
            [owner.into()],
        ))
        .await?;
    }
    Ok(())
}

/// Takes `owner`'s event lock if nobody holds it, without waiting; answers whether it
/// is held now (always on SQLite).
pub async fn try_lock_owner<C: ConnectionTrait>(db: &C, owner: &str) -> Result<bool, DbErr> {
    if db.get_database_backend() != DbBackend::Postgres {
        return Ok(true);
    }
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT pg_try_advisory_xact_lock(7, hashtext($1)) AS held",
            [owner.into()],
        ))
        .await?;
    Ok(row
        .and_then(|r| r.try_get::<bool>("", "held").ok())
        .unwrap_or(false))
}

/// Records an event inside the caller's transaction and returns its id.
pub async fn record<C: ConnectionTrait>(
    db: &C,
    owner: &str,
    story: Option<Uuid>,
    event_type: EventType,
    data: Value,
) -> StoreResult<i64> {
    // Already held when the transaction began with `begin_for`; taking it again is free.
    lock_owner(db, owner).await?;
    let row = event::ActiveModel {
        id: NotSet,
        owner_id: Set(owner.to_owned()),
        story_id: Set(story),
        event_type: Set(event_type.as_str().to_owned()),
        data: Set(data),
        created_at: Set(Utc::now()),
        published_at: Set(None),
    }
    .insert(db)
    .await?;
    if event_type.is_webhook() {
        webhooks::queue_deliveries(db, &row, event_type).await?;
    }
    RECORDED.notify_one();
    Ok(row.id)
}

/// Up to `limit` events of the scope after `after`, oldest first.
pub async fn after(
    db: &DatabaseConnection,
    scope: &Scope,
    after: i64,
    limit: u64,
) -> StoreResult<Vec<event::Model>> {
    Ok(event::Entity::find()
        .filter(scope.filter())
        .filter(event::Column::Id.gt(after))
        .order_by_asc(event::Column::Id)
        .limit(limit)
        .all(db)
        .await?)
}

/// The id of the scope's newest event, 0 when it has none.
pub async fn newest(db: &DatabaseConnection, scope: &Scope) -> StoreResult<i64> {
    let id: Option<i64> = event::Entity::find()
        .select_only()
        .column(event::Column::Id)
        .filter(scope.filter())
        .order_by_desc(event::Column::Id)
        .limit(1)
        .into_tuple()
        .one(db)
        .await?;
    Ok(id.unwrap_or(0))
}

/// Events removed per call of [`prune`].
const PRUNE_BATCH: u64 = 5_000;

/// Removes up to a batch of events older than `retention`, keeping those a delivery
/// still waits to send; their delivery logs go with them. Answers how many went.
pub async fn prune(db: &DatabaseConnection, retention: std::time::Duration) -> StoreResult<u64> {
    let cutoff =
        Utc::now() - chrono::Duration::from_std(retention).unwrap_or(chrono::Duration::days(30));
    let waiting = Query::select()
        .column(webhook_delivery::Column::EventId)
        .from(webhook_delivery::Entity)
        .and_where(webhook_delivery::Column::Status.eq(PENDING))
        .to_owned();
    let old = Query::select()
        .column(event::Column::Id)
        .from(event::Entity)
        .and_where(event::Column::CreatedAt.lt(cutoff))
        .and_where(event::Column::Id.not_in_subquery(waiting))
        .limit(PRUNE_BATCH)
        .to_owned();
    let gone = event::Entity::delete_many()
        .filter(event::Column::Id.in_subquery(old))
        .exec(db)
        .await?;
    Ok(gone.rows_affected)
}
