//! Newest-first lists over every owner (the admin panel's story and job lists, the
//! dashboard's last day of jobs) read `created_at` through an index instead of
//! sorting the whole table.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Jobs {
    Table,
    CreatedAt,
    Id,
}

#[derive(DeriveIden)]
enum Stories {
    Table,
    CreatedAt,
    Id,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_index(
            Index::create()
                .name("jobs_created_idx")
                .table(Jobs::Table)
                .col(Jobs::CreatedAt)
                .col(Jobs::Id)
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("stories_created_idx")
                .table(Stories::Table)
                .col(Stories::CreatedAt)
                .col(Stories::Id)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(
            Index::drop()
                .name("stories_created_idx")
                .table(Stories::Table)
                .to_owned(),
        )
        .await?;
        m.drop_index(
            Index::drop()
                .name("jobs_created_idx")
                .table(Jobs::Table)
                .to_owned(),
        )
        .await
    }
}
