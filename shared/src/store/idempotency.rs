//! `Idempotency-Key` bookkeeping: a user's key is claimed by the first request that
//! carries it, and its answer kept for [`KEEP`], so that a retried POST replays the
//! first answer instead of creating or queueing twice.

use chrono::{Duration, Utc};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ColumnTrait, Condition, DatabaseConnection, DbErr, EntityTrait, QueryFilter, Set};

use super::StoreResult;
use crate::db::entities::idempotency_key::{self, Entity as Keys};

/// How long an answer is replayed.
pub const KEEP: Duration = Duration::hours(24);
/// A claim whose request never finished (its API process died) is given up after this.
pub const ABANDONED: Duration = Duration::minutes(5);

const IN_PROGRESS: &str = "in_progress";
const DONE: &str = "done";

/// The first answer to a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub status: u16,
    pub body: String,
    pub content_type: Option<String>,
    pub location: Option<String>,
}

/// What a request carrying a key may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The key is new (or expired): this request runs, and its answer is stored.
    Run,
    /// The first request with this key is still running.
    InProgress,
    /// The key was used for a different request.
    Mismatch,
    /// The key's first answer, to replay.
    Replay(Stored),
}

/// Claims `key` for `user` for a request whose fingerprint is `fingerprint`.
pub async fn claim(
    db: &DatabaseConnection,
    user: &str,
    key: &str,
    fingerprint: &str,
) -> StoreResult<Claim> {
    let now = Utc::now();
    // Expired answers, and claims whose request died, free their key.
    Keys::delete_many()
        .filter(idempotency_key::Column::UserId.eq(user))
        .filter(idempotency_key::Column::Key.eq(key))
        .filter(
            Condition::any()
                .add(idempotency_key::Column::ExpiresAt.lt(now))
                .add(
                    Condition::all()
                        .add(idempotency_key::Column::Status.eq(IN_PROGRESS))
                        .add(idempotency_key::Column::CreatedAt.lt(now - ABANDONED)),
                ),
        )
        .exec(db)
        .await?;
    let row = idempotency_key::ActiveModel {
        user_id: Set(user.to_owned()),
        key: Set(key.to_owned()),
        fingerprint: Set(fingerprint.to_owned()),
        status: Set(IN_PROGRESS.to_owned()),
        response_status: Set(None),
        response_body: Set(None),
        content_type: Set(None),
        location: Set(None),
        created_at: Set(now),
        expires_at: Set(now + KEEP),
    };
    let inserted = Keys::insert(row)
        .on_conflict(
            OnConflict::columns([
                idempotency_key::Column::UserId,
                idempotency_key::Column::Key,
            ])
            .do_nothing()
            .to_owned(),
        )
        .exec_without_returning(db)
        .await;
    match inserted {
        Ok(1) => return Ok(Claim::Run),
        Ok(_) | Err(DbErr::RecordNotInserted) => {}
        Err(e) => return Err(e.into()),
    }
    let Some(existing) = Keys::find_by_id((user.to_owned(), key.to_owned()))
        .one(db)
        .await?
    else {
        // Freed between the insert and the read: the caller may try again.
        return Ok(Claim::InProgress);
    };
    Ok(if existing.fingerprint != fingerprint {
        Claim::Mismatch
    } else if existing.status != DONE {
        Claim::InProgress
    } else {
        Claim::Replay(Stored {
            status: existing.response_status.unwrap_or(200) as u16,
            body: existing.response_body.unwrap_or_default(),
            content_type: existing.content_type,
            location: existing.location,
        })
    })
}

/// Stores the answer of the request that claimed the key.
pub async fn complete(
    db: &DatabaseConnection,
    user: &str,
    key: &str,
    answer: &Stored,
) -> StoreResult<()> {
    Keys::update_many()
        .col_expr(idempotency_key::Column::Status, Expr::value(DONE))
        .col_expr(
            idempotency_key::Column::ResponseStatus,
            Expr::value(i32::from(answer.status)),
        )
        .col_expr(
            idempotency_key::Column::ResponseBody,
            Expr::value(answer.body.clone()),
        )
        .col_expr(
            idempotency_key::Column::ContentType,
            Expr::value(answer.content_type.clone()),
        )
        .col_expr(
            idempotency_key::Column::Location,
            Expr::value(answer.location.clone()),
        )
        .filter(idempotency_key::Column::UserId.eq(user))
        .filter(idempotency_key::Column::Key.eq(key))
        .exec(db)
        .await?;
    Ok(())
}

/// Frees the key: its request ended in a way worth retrying (a server error, a
/// conflict, a throttle), so the same key may be sent again.
pub async fn release(db: &DatabaseConnection, user: &str, key: &str) -> StoreResult<()> {
    Keys::delete_many()
        .filter(idempotency_key::Column::UserId.eq(user))
        .filter(idempotency_key::Column::Key.eq(key))
        .filter(idempotency_key::Column::Status.eq(IN_PROGRESS))
        .exec(db)
        .await?;
    Ok(())
}

/// Deletes answers past their day; run with the worker's reconciler.
pub async fn purge_expired(db: &DatabaseConnection) -> StoreResult<u64> {
    let deleted = Keys::delete_many()
        .filter(idempotency_key::Column::ExpiresAt.lt(Utc::now()))
        .exec(db)
        .await?;
    Ok(deleted.rows_affected)
}
