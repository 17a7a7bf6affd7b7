//! The schema goes up, down and up again on both databases, and the seed's provider
//! configs are there afterwards.

use ai_video_migrations::{Migrator, MigratorTrait};
use ai_video_shared::config::{DatabaseConfig, Secret};
use ai_video_shared::db;
use ai_video_tests::{TempDir, empty_postgres_database};
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};

async fn tables(db: &DatabaseConnection) -> Vec<String> {
    let sql = match db.get_database_backend() {
        sea_orm::DbBackend::Postgres => {
            "SELECT tablename AS name FROM pg_tables WHERE schemaname = 'public' ORDER BY 1"
        }
        _ => {
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY 1"
        }
    };
    db.query_all_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .unwrap()
        .iter()
        .map(|r| r.try_get::<String>("", "name").unwrap())
        .filter(|n| n != "seaql_migrations")
        .collect()
}

async fn up_down_up(url: String) {
    // One connection: every step sees the schema the step before it left.
    let conn = db::connect(&DatabaseConfig {
        url: Secret::new(url),
        max_connections: 1,
    })
    .await
    .unwrap();
    let expected = [
        "ai_provider_configs",
        "events",
        "idempotency_keys",
        "job_outbox",
        "job_stat_marks",
        "job_stat_rollups",
        "job_steps",
        "jobs",
        "scenes",
        "stories",
        "story_state_transitions",
        "user_quotas",
        "webhook_attempts",
        "webhook_deliveries",
        "webhook_endpoints",
    ];
    Migrator::up(&conn, None).await.unwrap();
    assert_eq!(tables(&conn).await, expected);
    Migrator::down(&conn, None).await.unwrap();
    assert!(tables(&conn).await.is_empty(), "down removes everything");
    Migrator::up(&conn, None).await.unwrap();
    assert_eq!(tables(&conn).await, expected);
    let rows = conn
        .query_all_raw(Statement::from_string(
            conn.get_database_backend(),
            "SELECT provider, rate_limit_per_minute, rate_limit_per_hour, cost_per_image, cost_per_second_video, settings FROM ai_provider_configs ORDER BY provider",
        ))
        .await
        .unwrap();
    let providers: Vec<String> = rows
        .iter()
        .map(|r| r.try_get::<String>("", "provider").unwrap())
        .collect();
    assert_eq!(
        providers,
        [
            "elevenlabs",
            "local",
            "openai",
            "replicate",
            "runway_ml",
            "stability_ai"
        ]
    );
    let stability = &rows[5];
    assert_eq!(
        stability
            .try_get::<i32>("", "rate_limit_per_minute")
            .unwrap(),
        60
    );
    assert_eq!(
        stability.try_get::<i32>("", "rate_limit_per_hour").unwrap(),
        1000
    );
    let runway = &rows[4];
    assert_eq!(
        runway.try_get::<i32>("", "rate_limit_per_minute").unwrap(),
        30
    );
    // Migrating again is a no-op.
    Migrator::up(&conn, None).await.unwrap();
    assert!(
        Migrator::get_pending_migrations(&conn)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrations_up_down_up_on_postgres() {
    up_down_up(empty_postgres_database().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrations_up_down_up_on_sqlite() {
    let dir = TempDir::new();
    up_down_up(format!("sqlite://{}/m.db?mode=rwc", dir.path.display())).await;
}
