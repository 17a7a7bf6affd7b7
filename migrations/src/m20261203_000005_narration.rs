//! `scenes.narration` (what the narrator says over a scene, empty for silence) and
//! `stories.language` (the language it is said in, `en` for the stories before).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Scenes {
    Table,
    Narration,
}

#[derive(DeriveIden)]
enum Stories {
    Table,
    Language,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Scenes::Table)
                .add_column(text(Scenes::Narration).default(""))
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(Stories::Table)
                .add_column(string_len(Stories::Language, 16).default("en"))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Stories::Table)
                .drop_column(Stories::Language)
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(Scenes::Table)
                .drop_column(Scenes::Narration)
                .to_owned(),
        )
        .await
    }
}
