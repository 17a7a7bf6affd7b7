//! The worker's side of webhook deliveries: claiming the due ones under a lease (so
//! that two workers never send the same delivery at once), and recording each
//! attempt with what it means for the delivery and its endpoint.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, LockBehavior, LockType, Query};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, DatabaseConnection, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Set,
};
use uuid::Uuid;

use super::webhooks::{DELIVERED, FAILED, PENDING};
use super::{StoreResult, begin_write};
use crate::db::entities::{event, webhook_attempt, webhook_delivery, webhook_endpoint};
use crate::domain::webhook::Verdict;

/// A delivery to send now.
#[derive(Debug, Clone)]
pub struct Due {
    pub delivery: webhook_delivery::Model,
    pub endpoint: webhook_endpoint::Model,
    pub event: event::Model,
}

/// Claims up to `limit` due deliveries of enabled endpoints for `lease`.
pub async fn claim(db: &DatabaseConnection, limit: u64, lease: Duration) -> StoreResult<Vec<Due>> {
    let now = Utc::now();
    // One cheap read when nothing is due, which is most of the time.
    let due: Option<Uuid> = webhook_delivery::Entity::find()
        .select_only()
        .column(webhook_delivery::Column::Id)
        .filter(webhook_delivery::Column::Status.eq(PENDING))
        .filter(webhook_delivery::Column::NextAttemptAt.lte(now))
        .limit(1)
        .into_tuple()
        .one(db)
        .await?;
    if due.is_none() {
        return Ok(Vec::new());
    }
    let txn = begin_write(db).await?;
    let enabled = Query::select()
        .column(webhook_endpoint::Column::Id)
        .from(webhook_endpoint::Entity)
        .and_where(webhook_endpoint::Column::Enabled.eq(true))
        .to_owned();
    let ids: Vec<Uuid> = webhook_delivery::Entity::find()
        .select_only()
        .column(webhook_delivery::Column::Id)
        .filter(webhook_delivery::Column::Status.eq(PENDING))
        .filter(webhook_delivery::Column::NextAttemptAt.lte(now))
        .filter(
            Condition::any()
                .add(webhook_delivery::Column::LeaseUntil.is_null())
                .add(webhook_delivery::Column::LeaseUntil.lt(now)),
        )
        .filter(webhook_delivery::Column::EndpointId.in_subquery(enabled))
        .order_by_asc(webhook_delivery::Column::NextAttemptAt)
        .limit(limit)
        .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
        .into_tuple()
        .all(&txn)
        .await?;
    if ids.is_empty() {
        txn.commit().await?;
        return Ok(Vec::new());
    }
    let until = now + chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::minutes(1));
    let deliveries = webhook_delivery::Entity::update_many()
        .col_expr(webhook_delivery::Column::LeaseUntil, Expr::value(until))
        .filter(webhook_delivery::Column::Id.is_in(ids))
        .exec_with_returning(&txn)
        .await?;
    txn.commit().await?;
    let endpoints = webhook_endpoint::Entity::find()
        .filter(webhook_endpoint::Column::Id.is_in(deliveries.iter().map(|d| d.endpoint_id)))
        .all(db)
        .await?;
    let events = event::Entity::find()
        .filter(event::Column::Id.is_in(deliveries.iter().map(|d| d.event_id)))
        .all(db)
        .await?;
    Ok(deliveries
        .into_iter()
        .filter_map(|delivery| {
            Some(Due {
                endpoint: endpoints
                    .iter()
                    .find(|e| e.id == delivery.endpoint_id)?
                    .clone(),
                event: events.iter().find(|e| e.id == delivery.event_id)?.clone(),
                delivery,
            })
        })
        .collect())
}

/// How one attempt went.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub status_code: Option<u16>,
    pub duration_ms: i64,
    pub error: Option<String>,
    pub verdict: Verdict,
    /// An endpoint whose deliveries all failed for this long is disabled when one
    /// more gives up.
    pub disable_after: Duration,
}

/// Records an attempt and what follows from it.
pub async fn finish(db: &DatabaseConnection, due: &Due, attempt: Attempt) -> StoreResult<()> {
    let now = Utc::now();
    let number = due.delivery.attempts + 1;
    let txn = begin_write(db).await?;
    webhook_attempt::ActiveModel {
        id: Set(Uuid::now_v7()),
        delivery_id: Set(due.delivery.id),
        attempt: Set(number),
        status_code: Set(attempt.status_code.map(i32::from)),
        duration_ms: Set(attempt.duration_ms),
        error: Set(attempt.error.clone()),
        created_at: Set(now),
    }
    .insert(&txn)
    .await?;
    let (status, next, delivered_at) = match &attempt.verdict {
        Verdict::Delivered => (DELIVERED, None, Some(now)),
        Verdict::Retry(wait) => (
            PENDING,
            Some(now + chrono::Duration::from_std(*wait).unwrap_or(chrono::Duration::hours(1))),
            None,
        ),
        Verdict::GiveUp | Verdict::Gone => (FAILED, None, None),
    };
    webhook_delivery::Entity::update_many()
        .col_expr(webhook_delivery::Column::Status, Expr::value(status))
        .col_expr(webhook_delivery::Column::Attempts, Expr::value(number))
        .col_expr(webhook_delivery::Column::NextAttemptAt, Expr::value(next))
        .col_expr(
            webhook_delivery::Column::LeaseUntil,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .col_expr(
            webhook_delivery::Column::LastStatusCode,
            Expr::value(attempt.status_code.map(i32::from)),
        )
        .col_expr(
            webhook_delivery::Column::LastDurationMs,
            Expr::value(attempt.duration_ms),
        )
        .col_expr(
            webhook_delivery::Column::LastError,
            Expr::value(attempt.error.clone()),
        )
        .col_expr(
            webhook_delivery::Column::DeliveredAt,
            Expr::value(delivered_at),
        )
        .col_expr(webhook_delivery::Column::UpdatedAt, Expr::value(now))
        .filter(webhook_delivery::Column::Id.eq(due.delivery.id))
        .exec(&txn)
        .await?;

    let endpoint = webhook_endpoint::Entity::find_by_id(due.endpoint.id)
        .one(&txn)
        .await?;
    if let Some(endpoint) = endpoint {
        let failing_since = endpoint.failing_since;
        let mut row: webhook_endpoint::ActiveModel = endpoint.into();
        match &attempt.verdict {
            Verdict::Delivered => row.failing_since = Set(None),
            Verdict::Gone => {
                row.enabled = Set(false);
                row.disabled_reason = Set(Some(format!(
                    "The endpoint answered 410 Gone on {}; deliveries stopped. Enable it again once it accepts them.",
                    now.format("%Y-%m-%d %H:%M UTC")
                )));
            }
            Verdict::Retry(_) | Verdict::GiveUp => {
                let since = failing_since.unwrap_or(now);
                row.failing_since = Set(Some(since));
                let long = chrono::Duration::from_std(attempt.disable_after)
                    .unwrap_or(chrono::Duration::days(5));
                if attempt.verdict == Verdict::GiveUp && now - since >= long {
                    row.enabled = Set(false);
                    row.disabled_reason = Set(Some(format!(
                        "Every delivery failed since {} (the last: {}); deliveries stopped. Enable it again once it accepts them.",
                        since.format("%Y-%m-%d %H:%M UTC"),
                        attempt.error.as_deref().unwrap_or("no answer"),
                    )));
                }
            }
        }
        row.updated_at = Set(now);
        row.update(&txn).await?;
    }
    txn.commit().await?;
    Ok(())
}
