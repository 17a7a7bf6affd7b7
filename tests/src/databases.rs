//! The test databases: a Postgres database per test, cloned from a migrated
//! template and dropped with its app, and the end-of-test check for unfinished work.

use std::time::Duration;

use sea_orm::{ConnectionTrait, Database};
use uuid::Uuid;

use crate::env_var;

const TEMPLATE: &str = "ai_video_template";

/// A new Postgres database cloned from a migrated template; returns its URL.
pub(crate) async fn fresh_postgres_database(admin_url: &str) -> String {
    let admin = Database::connect(admin_url)
        .await
        .expect("connect to TEST_DATABASE_URL");
    // One process at a time creates the template and clones it: CREATE DATABASE
    // refuses a template that another session is using.
    admin
        .execute_unprepared("SELECT pg_advisory_lock(727274)")
        .await
        .expect("lock");
    let exists = admin
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            format!("SELECT 1 AS one FROM pg_database WHERE datname = '{TEMPLATE}'"),
        ))
        .await
        .expect("query")
        .is_some();
    if !exists {
        admin
            .execute_unprepared(&format!("CREATE DATABASE {TEMPLATE}"))
            .await
            .expect("create template");
        let template = Database::connect(with_db(admin_url, TEMPLATE).as_str())
            .await
            .expect("connect template");
        ai_video_shared::db::migrate(&template)
            .await
            .expect("migrate template");
        template.close().await.expect("close template");
    }
    let name = format!("t_{}", Uuid::new_v4().simple());
    admin
        .execute_unprepared(&format!("CREATE DATABASE {name} TEMPLATE {TEMPLATE}"))
        .await
        .expect("create test database");
    admin
        .execute_unprepared("SELECT pg_advisory_unlock(727274)")
        .await
        .expect("unlock");
    admin.close().await.expect("close admin");
    with_db(admin_url, &name)
}

/// The same server URL with another database name.
pub fn with_db(url: &str, db: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let base = match base.rfind('/') {
        Some(i) if i > "postgres://".len() => &base[..i],
        _ => base,
    };
    match query {
        Some(q) => format!("{base}/{db}?{q}"),
        None => format!("{base}/{db}"),
    }
}

/// A new, empty Postgres database; returns its URL. For migration tests.
pub async fn empty_postgres_database() -> String {
    let admin_url = env_var("TEST_DATABASE_URL");
    let admin = Database::connect(admin_url.as_str())
        .await
        .expect("connect");
    let name = format!("t_{}", Uuid::new_v4().simple());
    admin
        .execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await
        .expect("create");
    admin.close().await.expect("close");
    with_db(&admin_url, &name)
}

/// What a test left unfinished, after giving running work a few seconds to end:
/// outbox rows, and jobs queued, running or retrying.
pub(crate) async fn unfinished_work(url: &str) -> Option<String> {
    let db = Database::connect(url).await.ok()?;
    let count = |sql: &'static str| {
        let db = &db;
        async move {
            db.query_one_raw(sea_orm::Statement::from_string(
                db.get_database_backend(),
                sql,
            ))
            .await
            .ok()
            .flatten()
            .and_then(|row| row.try_get::<i64>("", "n").ok())
            .unwrap_or(0)
        }
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let outbox = count("SELECT COUNT(*) AS n FROM job_outbox").await;
        let active = count(
            "SELECT COUNT(*) AS n FROM jobs WHERE status IN ('queued', 'running', 'retrying')",
        )
        .await;
        if outbox == 0 && active == 0 {
            let _ = db.close().await;
            return None;
        }
        if tokio::time::Instant::now() >= deadline {
            let _ = db.close().await;
            return Some(format!(
                "{outbox} outbox rows and {active} queued, running or retrying jobs (call allow_unfinished() if that is the point of the test)"
            ));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Drops a test's Postgres database, disconnecting whoever still uses it.
pub(crate) async fn drop_postgres_database(url: &str) {
    let Some(name) = url
        .split('?')
        .next()
        .and_then(|base| base.rsplit('/').next())
        .filter(|name| name.starts_with("t_"))
    else {
        return;
    };
    let Ok(admin) = Database::connect(with_db(url, "postgres").as_str()).await else {
        return;
    };
    let _ = admin
        .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .await;
    let _ = admin.close().await;
}
