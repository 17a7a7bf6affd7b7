//! Provider configurations: switches, limits, unit costs and settings. Only admins
//! reach these (the API checks); keys never live here.

use chrono::Utc;
use rust_decimal::Decimal;
use sea_orm::{ActiveModelTrait, DatabaseConnection, EntityTrait, QueryOrder, Set};

use super::{Page, PageRequest, StoreError, StoreResult, fetch_page};
use crate::db::Money;
use crate::db::entities::provider_config;
use crate::domain::Provider;

/// One page of the configurations, by provider name.
pub async fn list(
    db: &DatabaseConnection,
    page: PageRequest,
) -> StoreResult<Page<provider_config::Model>> {
    let query = provider_config::Entity::find().order_by_asc(provider_config::Column::Provider);
    fetch_page(db, query, page).await
}

pub async fn get(
    db: &DatabaseConnection,
    provider: Provider,
) -> StoreResult<provider_config::Model> {
    provider_config::Entity::find_by_id(provider)
        .one(db)
        .await?
        .ok_or(StoreError::NotFound("provider"))
}

/// Fields to change; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct ProviderPatch {
    pub is_active: Option<bool>,
    pub rate_limit_per_minute: Option<u32>,
    pub rate_limit_per_hour: Option<u32>,
    pub cost_per_image: Option<Decimal>,
    pub cost_per_second_video: Option<Decimal>,
    /// Replaces the settings object as a whole.
    pub settings: Option<serde_json::Value>,
}

pub async fn update(
    db: &DatabaseConnection,
    provider: Provider,
    patch: ProviderPatch,
) -> StoreResult<provider_config::Model> {
    let current = get(db, provider).await?;
    let mut model: provider_config::ActiveModel = current.into();
    if let Some(v) = patch.is_active {
        model.is_active = Set(v);
    }
    if let Some(v) = patch.rate_limit_per_minute {
        model.rate_limit_per_minute = Set(v as i32);
    }
    if let Some(v) = patch.rate_limit_per_hour {
        model.rate_limit_per_hour = Set(v as i32);
    }
    if let Some(v) = patch.cost_per_image {
        model.cost_per_image = Set(Money::new(v));
    }
    if let Some(v) = patch.cost_per_second_video {
        model.cost_per_second_video = Set(Money::new(v));
    }
    if let Some(v) = patch.settings {
        model.settings = Set(v);
    }
    model.updated_at = Set(Utc::now());
    Ok(model.update(db).await?)
}
