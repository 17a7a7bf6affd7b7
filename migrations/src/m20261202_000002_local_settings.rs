//! The `local` provider's seed settings named render sizes that the worker takes
//! from its own configuration; settings are typed now, so those keys go.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const KEYS: [&str; 3] = ["preview_long_side", "final_long_side", "fps"];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let sql = match m.get_database_backend() {
            sea_orm::DatabaseBackend::Sqlite => format!(
                "UPDATE ai_provider_configs SET settings = json_remove(settings, {}) \
                 WHERE provider = 'local'",
                KEYS.map(|k| format!("'$.{k}'")).join(", ")
            ),
            _ => format!(
                "UPDATE ai_provider_configs SET settings = (settings::jsonb {})::json \
                 WHERE provider = 'local'",
                KEYS.map(|k| format!("- '{k}'")).join(" ")
            ),
        };
        m.get_connection().execute_unprepared(&sql).await?;
        Ok(())
    }

    async fn down(&self, _: &SchemaManager) -> Result<(), DbErr> {
        // The removed keys were never read; nothing to restore.
        Ok(())
    }
}
