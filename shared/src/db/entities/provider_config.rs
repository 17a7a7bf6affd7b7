//! `ai_provider_configs`: per provider, its switch, rate limits, unit costs and settings.
//! API keys are never stored here: they come from the environment or a secret.

use sea_orm::entity::prelude::*;

use crate::db::Money;
use crate::domain::{Provider, ProviderRates};

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "ai_provider_configs")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub provider: Provider,
    pub is_active: bool,
    pub rate_limit_per_minute: i32,
    pub rate_limit_per_hour: i32,
    pub cost_per_image: Money,
    pub cost_per_second_video: Money,
    pub settings: Json,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

impl Model {
    pub fn rates(&self) -> ProviderRates {
        ProviderRates {
            cost_per_image: self.cost_per_image.0,
            cost_per_second_video: self.cost_per_second_video.0,
        }
    }
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
