//! Persistence: sea-orm entities and the database connection.
//!
//! Postgres in production, SQLite as the embedded default; the schema lives in the
//! `ai-video-migrations` crate and the entities here mirror it.

pub mod entities;
mod values;

pub use values::Money;

use std::time::Duration;

use ai_video_migrations::{Migrator, MigratorTrait};
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{ConnectOptions, Database, DatabaseConnection, DbErr};

use crate::config::DatabaseConfig;

/// Opens the database. SQLite gets WAL and a busy timeout so that the API, the outbox
/// relay and a worker can share one file, and its directory is created if missing.
pub async fn connect(config: &DatabaseConfig) -> Result<DatabaseConnection, DbErr> {
    let url = config.url.expose();
    if config.is_sqlite() {
        ensure_sqlite_dir(url);
    }
    let mut opts = ConnectOptions::new(url.to_owned());
    opts.max_connections(config.max_connections)
        .min_connections(1)
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(Duration::from_secs(10))
        .sqlx_logging(false);
    // Per connection, so every connection of the pool has them.
    opts.map_sqlx_sqlite_opts(|o| {
        o.journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10))
    });
    Database::connect(opts).await
}

/// Applies every pending migration.
pub async fn migrate(db: &DatabaseConnection) -> Result<(), DbErr> {
    Migrator::up(db, None).await
}

fn ensure_sqlite_dir(url: &str) {
    let path = url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:")
        .split('?')
        .next()
        .unwrap_or_default();
    if path.is_empty() || path == ":memory:" {
        return;
    }
    if let Some(dir) = std::path::Path::new(path).parent()
        && !dir.as_os_str().is_empty()
    {
        // A failure shows up right after, as the connection error naming the file.
        let _ = std::fs::create_dir_all(dir);
    }
}

/// Whether a database error is a unique-constraint violation on `constraint`.
pub fn is_unique_violation(err: &DbErr, constraint: &str) -> bool {
    let text = err.to_string();
    (text.contains("duplicate key") || text.contains("UNIQUE constraint failed"))
        && (text.contains(constraint) || constraint_columns_match(&text, constraint))
}

/// SQLite names the columns (`scenes.story_id, scenes.position`) instead of the index.
fn constraint_columns_match(text: &str, constraint: &str) -> bool {
    match constraint {
        "scenes_story_position_key" => text.contains("scenes.story_id, scenes.position"),
        "jobs_queue_id_key" => text.contains("jobs.queue_id"),
        _ => false,
    }
}
