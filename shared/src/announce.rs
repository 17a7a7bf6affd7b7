//! The announcer: tells every API replica that events were committed, so that their
//! SSE streams read them. Each process that records events runs one. It takes the
//! events not yet announced, publishes a notice per event on
//! `<prefix>:<queue>:events`, and marks them announced, in one transaction on
//! Postgres (the rows stay locked, so announcers in other processes take others).
//!
//! A notice only says "read the log": streams read the events themselves, in id order,
//! from the database. Redis being down delays notices, never loses events; after an
//! outage the backlog is announced.

use std::time::Duration;

use chrono::Utc;
use sea_orm::sea_query::{Expr, LockBehavior, LockType};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, DbErr, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, TransactionTrait,
};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use uuid::Uuid;

use crate::config::{QueueConfig, RedisConfig};
use crate::db::entities::event;
use crate::store::events::RECORDED;

/// Events announced per round.
const BATCH: u64 = 256;
/// How often the log is swept when nothing was recorded here.
const SWEEP: Duration = Duration::from_millis(500);
/// After a local event is recorded, its transaction may still be committing: the
/// announcer looks again after these pauses before it waits for the next sweep.
const SETTLE: [u64; 6] = [1, 3, 10, 30, 100, 300];

/// The channel notices go out on.
pub fn channel(queue: &QueueConfig) -> String {
    format!("{}:{}:events", queue.prefix, queue.name)
}

/// What a notice says.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Notice {
    pub id: i64,
    pub owner: String,
    pub story: Option<Uuid>,
}

#[derive(Debug, thiserror::Error)]
enum AnnounceError {
    #[error("database: {0}")]
    Db(#[from] DbErr),
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
}

/// The announcer task of one process.
pub struct Announcer {
    db: DatabaseConnection,
    redis: RedisConfig,
    channel: String,
}

impl Announcer {
    pub fn new(db: DatabaseConnection, redis: RedisConfig, queue: &QueueConfig) -> Self {
        Self {
            db,
            redis,
            channel: channel(queue),
        }
    }

    /// Runs until `shutdown` turns true.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let mut conn: Option<redis::aio::MultiplexedConnection> = None;
        let mut reported = false;
        let mut settle = SETTLE.len();
        loop {
            if *shutdown.borrow() {
                return;
            }
            match self.round(&mut conn).await {
                Ok(n) => {
                    if reported {
                        tracing::info!("event announcer reaches Redis again");
                        reported = false;
                    }
                    if n > 0 {
                        settle = 0;
                        continue;
                    }
                }
                Err(err) => {
                    conn = None;
                    if !reported {
                        tracing::warn!(error = %err, "cannot announce events yet; retrying");
                        reported = true;
                    }
                    settle = SETTLE.len();
                }
            }
            let wait = match SETTLE.get(settle) {
                Some(ms) => {
                    settle += 1;
                    Duration::from_millis(*ms)
                }
                None => SWEEP,
            };
            tokio::select! {
                () = RECORDED.notified() => settle = 0,
                () = tokio::time::sleep(wait) => {}
                _ = shutdown.changed() => {}
            }
        }
    }

    async fn round(
        &self,
        conn: &mut Option<redis::aio::MultiplexedConnection>,
    ) -> Result<usize, AnnounceError> {
        let c = match conn {
            Some(c) => c.clone(),
            None => {
                let client = redis::Client::open(self.redis.url.expose())?;
                let c = client.get_multiplexed_async_connection().await?;
                *conn = Some(c.clone());
                c
            }
        };
        // One cheap read when there is nothing to announce, which is most of the time.
        let waiting: Option<i64> = event::Entity::find()
            .select_only()
            .column(event::Column::Id)
            .filter(event::Column::PublishedAt.is_null())
            .limit(1)
            .into_tuple()
            .one(&self.db)
            .await?;
        if waiting.is_none() {
            return Ok(0);
        }
        if self.db.get_database_backend() == DbBackend::Postgres {
            let txn = self.db.begin().await?;
            let n = announce(&txn, c, &self.channel).await;
            txn.commit().await?;
            n
        } else {
            announce(&self.db, c, &self.channel).await
        }
    }
}

async fn announce<C: ConnectionTrait>(
    db: &C,
    mut conn: redis::aio::MultiplexedConnection,
    channel: &str,
) -> Result<usize, AnnounceError> {
    let rows: Vec<(i64, String, Option<Uuid>)> = event::Entity::find()
        .select_only()
        .column(event::Column::Id)
        .column(event::Column::OwnerId)
        .column(event::Column::StoryId)
        .filter(event::Column::PublishedAt.is_null())
        .order_by_asc(event::Column::Id)
        .limit(BATCH)
        .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
        .into_tuple()
        .all(db)
        .await?;
    if rows.is_empty() {
        return Ok(0);
    }
    let mut pipe = redis::pipe();
    for (id, owner, story) in &rows {
        let notice = Notice {
            id: *id,
            owner: owner.clone(),
            story: *story,
        };
        pipe.publish(
            channel,
            serde_json::to_string(&notice).expect("a notice serializes"),
        )
        .ignore();
    }
    pipe.query_async::<()>(&mut conn).await?;
    event::Entity::update_many()
        .col_expr(event::Column::PublishedAt, Expr::value(Utc::now()))
        .filter(event::Column::Id.is_in(rows.iter().map(|r| r.0)))
        .exec(db)
        .await?;
    Ok(rows.len())
}
