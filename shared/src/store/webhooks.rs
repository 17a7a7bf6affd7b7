//! A user's webhook endpoints and their deliveries: registering, changing, rotating
//! the secret, listing the attempts of each delivery and sending one again by hand.
//! Deliveries are queued by [`super::events::record`], in the event's transaction.

use chrono::{Duration, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    QueryOrder, Set,
};
use serde_json::Value;
use uuid::Uuid;

use super::{Page, PageRequest, StoreError, StoreResult, Viewer, fetch_page};
use crate::db::entities::{event, webhook_attempt, webhook_delivery, webhook_endpoint};
use crate::domain::{EventType, filter_accepts};
use crate::webhooks::new_secret;

/// Delivery statuses.
pub const PENDING: &str = "pending";
pub const DELIVERED: &str = "delivered";
pub const FAILED: &str = "failed";

/// A new endpoint, checked.
#[derive(Debug, Clone)]
pub struct NewEndpoint {
    pub url: url::Url,
    pub events: Vec<EventType>,
    pub description: String,
    pub enabled: bool,
}

/// Changes to an endpoint, checked.
#[derive(Debug, Clone, Default)]
pub struct EndpointPatch {
    pub url: Option<url::Url>,
    pub events: Option<Vec<EventType>>,
    pub description: Option<String>,
    pub enabled: Option<bool>,
}

/// The event types an endpoint's filter names.
pub fn filter_of(endpoint: &webhook_endpoint::Model) -> Vec<EventType> {
    endpoint
        .events
        .as_array()
        .map(|types| {
            types
                .iter()
                .filter_map(|t| t.as_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

fn filter_json(events: &[EventType]) -> Value {
    Value::Array(events.iter().map(|t| t.as_str().into()).collect())
}

/// Queues the event for every enabled endpoint of its owner that subscribed to it.
pub(super) async fn queue_deliveries<C: ConnectionTrait>(
    db: &C,
    event: &event::Model,
    event_type: EventType,
) -> StoreResult<()> {
    let endpoints = webhook_endpoint::Entity::find()
        .filter(webhook_endpoint::Column::OwnerId.eq(event.owner_id.clone()))
        .filter(webhook_endpoint::Column::Enabled.eq(true))
        .all(db)
        .await?;
    let rows: Vec<webhook_delivery::ActiveModel> = endpoints
        .iter()
        .filter(|e| filter_accepts(&filter_of(e), event_type))
        .map(|e| webhook_delivery::ActiveModel {
            id: Set(Uuid::now_v7()),
            endpoint_id: Set(e.id),
            event_id: Set(event.id),
            status: Set(PENDING.into()),
            attempts: Set(0),
            next_attempt_at: Set(Some(event.created_at)),
            lease_until: Set(None),
            last_status_code: Set(None),
            last_duration_ms: Set(None),
            last_error: Set(None),
            delivered_at: Set(None),
            created_at: Set(event.created_at),
            updated_at: Set(event.created_at),
        })
        .collect();
    if !rows.is_empty() {
        webhook_delivery::Entity::insert_many(rows)
            .exec_without_returning(db)
            .await?;
    }
    Ok(())
}

/// Registers an endpoint with a new secret.
pub async fn create(
    db: &DatabaseConnection,
    viewer: &Viewer,
    new: NewEndpoint,
) -> StoreResult<webhook_endpoint::Model> {
    let now = Utc::now();
    Ok(webhook_endpoint::ActiveModel {
        id: Set(Uuid::now_v7()),
        owner_id: Set(viewer.user_id.clone()),
        url: Set(new.url.to_string()),
        events: Set(filter_json(&new.events)),
        description: Set(new.description),
        enabled: Set(new.enabled),
        secret: Set(new_secret()),
        previous_secret: Set(None),
        previous_secret_expires_at: Set(None),
        disabled_reason: Set(None),
        failing_since: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(db)
    .await?)
}

/// The viewer's endpoints, newest first (an admin's own, like anyone's).
pub async fn list(
    db: &DatabaseConnection,
    viewer: &Viewer,
    page: PageRequest,
) -> StoreResult<Page<webhook_endpoint::Model>> {
    let query = webhook_endpoint::Entity::find()
        .filter(webhook_endpoint::Column::OwnerId.eq(viewer.user_id.clone()))
        .order_by_desc(webhook_endpoint::Column::CreatedAt)
        .order_by_desc(webhook_endpoint::Column::Id);
    fetch_page(db, query, page).await
}

/// One endpoint the viewer can see.
pub async fn get<C: ConnectionTrait>(
    db: &C,
    viewer: &Viewer,
    id: Uuid,
) -> StoreResult<webhook_endpoint::Model> {
    match webhook_endpoint::Entity::find_by_id(id).one(db).await? {
        Some(e) if viewer.can_see(&e.owner_id) => Ok(e),
        _ => Err(StoreError::NotFound("webhook endpoint")),
    }
}

/// Changes an endpoint. Enabling it clears why the system disabled it.
pub async fn update(
    db: &DatabaseConnection,
    viewer: &Viewer,
    id: Uuid,
    patch: EndpointPatch,
) -> StoreResult<webhook_endpoint::Model> {
    let current = get(db, viewer, id).await?;
    let mut row: webhook_endpoint::ActiveModel = current.into();
    if let Some(url) = patch.url {
        row.url = Set(url.to_string());
    }
    if let Some(events) = patch.events {
        row.events = Set(filter_json(&events));
    }
    if let Some(description) = patch.description {
        row.description = Set(description);
    }
    if let Some(enabled) = patch.enabled {
        row.enabled = Set(enabled);
        if enabled {
            row.disabled_reason = Set(None);
            row.failing_since = Set(None);
        }
    }
    row.updated_at = Set(Utc::now());
    Ok(row.update(db).await?)
}

/// Deletes an endpoint and its deliveries.
pub async fn delete(db: &DatabaseConnection, viewer: &Viewer, id: Uuid) -> StoreResult<()> {
    let endpoint = get(db, viewer, id).await?;
    webhook_endpoint::Entity::delete_by_id(endpoint.id)
        .exec(db)
        .await?;
    Ok(())
}

/// A new secret; the old one keeps signing for `grace`.
pub async fn rotate(
    db: &DatabaseConnection,
    viewer: &Viewer,
    id: Uuid,
    grace: Duration,
) -> StoreResult<webhook_endpoint::Model> {
    let current = get(db, viewer, id).await?;
    let now = Utc::now();
    let old = current.secret.clone();
    let mut row: webhook_endpoint::ActiveModel = current.into();
    row.secret = Set(new_secret());
    if grace > Duration::zero() {
        row.previous_secret = Set(Some(old));
        row.previous_secret_expires_at = Set(Some(now + grace));
    } else {
        row.previous_secret = Set(None);
        row.previous_secret_expires_at = Set(None);
    }
    row.updated_at = Set(now);
    Ok(row.update(db).await?)
}

/// A delivery with its event and attempts.
#[derive(Debug, Clone)]
pub struct DeliveryView {
    pub delivery: webhook_delivery::Model,
    pub event: event::Model,
    pub attempts: Vec<webhook_attempt::Model>,
}

/// An endpoint's deliveries, newest first, each with its attempts.
pub async fn deliveries(
    db: &DatabaseConnection,
    viewer: &Viewer,
    endpoint: Uuid,
    page: PageRequest,
) -> StoreResult<Page<DeliveryView>> {
    let endpoint = get(db, viewer, endpoint).await?;
    let query = webhook_delivery::Entity::find()
        .filter(webhook_delivery::Column::EndpointId.eq(endpoint.id))
        .order_by_desc(webhook_delivery::Column::CreatedAt)
        .order_by_desc(webhook_delivery::Column::Id);
    let page = fetch_page(db, query, page).await?;
    let ids: Vec<Uuid> = page.items.iter().map(|d| d.id).collect();
    let event_ids: Vec<i64> = page.items.iter().map(|d| d.event_id).collect();
    let events = event::Entity::find()
        .filter(event::Column::Id.is_in(event_ids))
        .all(db)
        .await?;
    let attempts = webhook_attempt::Entity::find()
        .filter(webhook_attempt::Column::DeliveryId.is_in(ids))
        .order_by_asc(webhook_attempt::Column::Attempt)
        .all(db)
        .await?;
    let items = page
        .items
        .into_iter()
        .filter_map(|delivery| {
            let event = events.iter().find(|e| e.id == delivery.event_id)?.clone();
            let attempts = attempts
                .iter()
                .filter(|a| a.delivery_id == delivery.id)
                .cloned()
                .collect();
            Some(DeliveryView {
                delivery,
                event,
                attempts,
            })
        })
        .collect();
    Ok(Page {
        items,
        count: page.count,
    })
}

/// Sends a delivery again: it is due now, whatever its status.
pub async fn resend(
    db: &DatabaseConnection,
    viewer: &Viewer,
    endpoint: Uuid,
    delivery: Uuid,
) -> StoreResult<webhook_delivery::Model> {
    let endpoint = get(db, viewer, endpoint).await?;
    let now = Utc::now();
    let updated = webhook_delivery::Entity::update_many()
        .col_expr(webhook_delivery::Column::Status, Expr::value(PENDING))
        .col_expr(webhook_delivery::Column::NextAttemptAt, Expr::value(now))
        .col_expr(webhook_delivery::Column::UpdatedAt, Expr::value(now))
        .filter(webhook_delivery::Column::Id.eq(delivery))
        .filter(webhook_delivery::Column::EndpointId.eq(endpoint.id))
        .exec_with_returning(db)
        .await?;
    updated
        .into_iter()
        .next()
        .ok_or(StoreError::NotFound("delivery"))
}
