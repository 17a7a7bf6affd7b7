//! The providers that plan and speak (`openai`, `elevenlabs`), the story bible an
//! LLM planner writes (`stories.bible`) and the story's music bed (`stories.music`).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Stories {
    Table,
    Bible,
    Music,
}

/// provider, per minute, per hour, settings. Prices per million tokens and
/// characters as published in 2026 (gpt-4o-mini, tts-1, eleven_multilingual_v2).
const ROWS: &[(&str, i32, i32, &str)] = &[
    (
        "openai",
        500,
        10000,
        r#"{"chat_model": "gpt-4o-mini", "speech_model": "tts-1", "input_token_price": "0.15", "output_token_price": "0.60", "character_price": "15"}"#,
    ),
    (
        "elevenlabs",
        60,
        2000,
        r#"{"speech_model": "eleven_multilingual_v2", "character_price": "100"}"#,
    ),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let db = m.get_connection();
        for (provider, per_min, per_hour, settings) in ROWS {
            db.execute_unprepared(&format!(
                "INSERT INTO ai_provider_configs \
                 (provider, is_active, rate_limit_per_minute, rate_limit_per_hour, \
                  cost_per_image, cost_per_second_video, settings) \
                 VALUES ('{provider}', TRUE, {per_min}, {per_hour}, '0.0000', '0.0000', '{settings}')"
            ))
            .await?;
        }
        for column in [Stories::Bible, Stories::Music] {
            m.alter_table(
                Table::alter()
                    .table(Stories::Table)
                    .add_column(json_null(column))
                    .to_owned(),
            )
            .await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for column in [Stories::Bible, Stories::Music] {
            m.alter_table(
                Table::alter()
                    .table(Stories::Table)
                    .drop_column(column)
                    .to_owned(),
            )
            .await?;
        }
        m.get_connection()
            .execute_unprepared(
                "DELETE FROM ai_provider_configs WHERE provider IN ('openai', 'elevenlabs')",
            )
            .await?;
        Ok(())
    }
}
