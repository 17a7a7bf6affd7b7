//! `user_quotas`: an admin's overrides of one user's limits (null: the default).

use sea_orm::entity::prelude::*;

use crate::db::Money;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "user_quotas")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: String,
    pub monthly_budget: Option<Money>,
    pub max_rendering: Option<i32>,
    pub daily_video_seconds: Option<i32>,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
