//! `user_quotas`: an admin's overrides of one user's budget and quotas; a missing
//! row or a null column means the deployment's default.

use sea_orm_migration::{prelude::*, schema::*};

use crate::money;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum UserQuotas {
    Table,
    UserId,
    MonthlyBudget,
    MaxRendering,
    DailyVideoSeconds,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(UserQuotas::Table)
                .col(string_len(UserQuotas::UserId, 255).primary_key())
                .col(money(m, UserQuotas::MonthlyBudget).null())
                .col(integer_null(UserQuotas::MaxRendering))
                .col(integer_null(UserQuotas::DailyVideoSeconds))
                .col(timestamp_with_time_zone(UserQuotas::UpdatedAt))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(UserQuotas::Table).to_owned())
            .await
    }
}
