//! `stories.film`: how a story's video is finished (narration on or off, burned
//! captions and their place and size), as JSON; null means the defaults.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Stories {
    Table,
    Film,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Stories::Table)
                .add_column(json_null(Stories::Film))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Stories::Table)
                .drop_column(Stories::Film)
                .to_owned(),
        )
        .await
    }
}
