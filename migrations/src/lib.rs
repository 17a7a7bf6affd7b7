//! The ai-video schema, for Postgres and SQLite alike.
//!
//! Applied by `ai-video-api migrate` (a Helm pre-install/pre-upgrade hook in
//! production) and on start-up of the embedded SQLite default. Every migration has a
//! `down`, and the test suite runs them up, down and up again.

pub use sea_orm_migration::prelude::*;

mod m20261126_000001_schema;
mod m20261126_000002_provider_configs;
mod m20261126_000003_job_progress;
mod m20261202_000001_job_steps;
mod m20261202_000002_local_settings;
mod m20261203_000001_job_runs;
mod m20261203_000002_idempotency_keys;
mod m20261203_000003_user_quotas;
mod m20261203_000004_job_statistics;
mod m20261203_000005_narration;
mod m20261203_000006_film_options;
mod m20261203_000007_planning_and_music;
mod m20261203_000008_events_and_webhooks;
mod m20261204_000001_list_indexes;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261126_000001_schema::Migration),
            Box::new(m20261126_000002_provider_configs::Migration),
            Box::new(m20261126_000003_job_progress::Migration),
            Box::new(m20261202_000001_job_steps::Migration),
            Box::new(m20261202_000002_local_settings::Migration),
            Box::new(m20261203_000001_job_runs::Migration),
            Box::new(m20261203_000002_idempotency_keys::Migration),
            Box::new(m20261203_000003_user_quotas::Migration),
            Box::new(m20261203_000004_job_statistics::Migration),
            Box::new(m20261203_000005_narration::Migration),
            Box::new(m20261203_000006_film_options::Migration),
            Box::new(m20261203_000007_planning_and_music::Migration),
            Box::new(m20261203_000008_events_and_webhooks::Migration),
            Box::new(m20261204_000001_list_indexes::Migration),
        ]
    }
}

/// A money column: exact `NUMERIC(14,4)` on Postgres; on SQLite, which has no exact
/// decimal type, the decimal's text, so that no value ever passes through a float.
pub(crate) fn money(manager: &SchemaManager, name: impl IntoIden) -> ColumnDef {
    let mut col = ColumnDef::new(name);
    match manager.get_database_backend() {
        sea_orm::DatabaseBackend::Sqlite => col.text(),
        _ => col.decimal_len(14, 4),
    };
    col
}
