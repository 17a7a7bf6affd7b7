//! The outbox relay: moves committed jobs into Redis until Redis has them.
//!
//! Requests write their Job rows and an outbox row in one transaction; nothing talks
//! to Redis before the commit. The relay reads the outbox in creation order, pushes
//! each job (or, for previews and renders, the whole flow) with its stable BullMQ id,
//! and deletes the outbox row once Redis confirmed. A crash or a Redis outage between
//! push and delete leads to a second push of the same id, which BullMQ ignores.
//!
//! The relay wakes when told that a request committed work ([`RelayHandle::wake`]),
//! and sweeps once a second anyway, so rows left by another process are not stranded.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures::future::join_all;
use sea_orm::sea_query::{LockBehavior, LockType};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, DbErr, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, TransactionTrait,
};
use tokio::sync::{Notify, watch};
use uuid::Uuid;

use crate::config::{QueueConfig, RedisConfig};
use crate::db::entities::{job, outbox};
use crate::domain::{JobKind, JobStatus};
use crate::queue::{QueueClient, envelope};

/// Rows handled per round.
const BATCH: u64 = 256;
/// Sweep interval when nobody wakes the relay.
const SWEEP: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Tells the relay there is work; cheap to clone and call.
#[derive(Clone, Default)]
pub struct RelayHandle {
    notify: Arc<Notify>,
}

impl RelayHandle {
    pub fn wake(&self) {
        self.notify.notify_one();
    }
}

/// What a relay round failed on.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error("database: {0}")]
    Db(#[from] DbErr),
    #[error("redis: {0}")]
    Redis(#[from] bullmq::Error),
}

/// The relay task.
pub struct Relay {
    db: DatabaseConnection,
    redis: RedisConfig,
    queue: QueueConfig,
    handle: RelayHandle,
}

impl Relay {
    pub fn new(db: DatabaseConnection, redis: RedisConfig, queue: QueueConfig) -> Self {
        Self {
            db,
            redis,
            queue,
            handle: RelayHandle::default(),
        }
    }

    pub fn handle(&self) -> RelayHandle {
        self.handle.clone()
    }

    /// Runs until `shutdown` turns true. Redis being down is not an error here: the
    /// relay keeps retrying with backoff, and the rows wait in the database.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let mut client: Option<QueueClient> = None;
        let mut backoff = Duration::from_millis(100);
        let mut reported = false;
        loop {
            if *shutdown.borrow() {
                return;
            }
            let round = async {
                let c = match &client {
                    Some(c) => c.clone(),
                    None => {
                        let c = QueueClient::connect(&self.redis, &self.queue).await?;
                        client = Some(c.clone());
                        c
                    }
                };
                relay_batch(&self.db, &c).await
            };
            let wait = match round.await {
                Ok(n) => {
                    if reported {
                        tracing::info!("outbox relay reaches Redis again");
                        reported = false;
                    }
                    backoff = Duration::from_millis(100);
                    if n as u64 == BATCH {
                        continue;
                    }
                    SWEEP
                }
                Err(err) => {
                    if !reported {
                        tracing::warn!(error = %err, "outbox relay cannot deliver jobs yet; retrying");
                        reported = true;
                    }
                    let wait = backoff;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    wait
                }
            };
            tokio::select! {
                _ = self.handle.notify.notified() => {}
                _ = tokio::time::sleep(wait) => {}
                _ = shutdown.changed() => {}
            }
        }
    }
}

/// Pushes up to one batch of outbox rows; returns how many rows it handled.
pub async fn relay_batch(
    db: &DatabaseConnection,
    client: &QueueClient,
) -> Result<usize, RelayError> {
    if db.get_database_backend() != DbBackend::Postgres {
        return relay_rows(db, client).await;
    }
    // On Postgres the rows stay locked while they are pushed, so relays in other
    // processes take other rows instead of pushing the same ones again.
    let txn = db.begin().await?;
    let handled = relay_rows(&txn, client).await;
    txn.commit().await?;
    handled
}

async fn relay_rows<C: ConnectionTrait>(db: &C, client: &QueueClient) -> Result<usize, RelayError> {
    let ids: Vec<Uuid> = outbox::Entity::find()
        .select_only()
        .column(outbox::Column::JobId)
        .order_by_asc(outbox::Column::CreatedAt)
        .limit(BATCH)
        .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
        .into_tuple()
        .all(db)
        .await?;
    if ids.is_empty() {
        return Ok(0);
    }
    let jobs = job::Entity::find()
        .filter(job::Column::Id.is_in(ids.clone()))
        .all(db)
        .await?;
    let parents: Vec<Uuid> = jobs
        .iter()
        .filter(|j| matches!(j.kind, JobKind::GeneratePreview | JobKind::RenderFinal))
        .map(|j| j.id)
        .collect();
    let mut children: HashMap<Uuid, Vec<job::Model>> = HashMap::new();
    if !parents.is_empty() {
        // Only unfinished scene jobs: a flow queued again (after Redis lost it)
        // waits for the scenes still to make, not for those already made.
        for child in job::Entity::find()
            .filter(job::Column::ParentId.is_in(parents))
            .filter(
                job::Column::Status.is_in(JobStatus::ALL.iter().filter(|s| s.is_active()).copied()),
            )
            .order_by_asc(job::Column::CreatedAt)
            .all(db)
            .await?
        {
            if let Some(parent) = child.parent_id {
                children.entry(parent).or_default().push(child);
            }
        }
    }

    // Rows whose job is gone or no longer active are dropped without a push.
    let mut done: Vec<Uuid> = ids
        .iter()
        .filter(|id| !jobs.iter().any(|j| j.id == **id && j.status.is_active()))
        .copied()
        .collect();
    let pushes = jobs.iter().filter(|j| j.status.is_active()).map(|j| {
        let kids = children.remove(&j.id).unwrap_or_default();
        async move {
            let env = envelope(j);
            let result = if kids.is_empty() {
                client.add(&env).await
            } else {
                let kids: Vec<_> = kids.iter().map(envelope).collect();
                client.add_flow(&env, &kids).await
            };
            (j.id, result)
        }
    });
    let mut first_error = None;
    for (id, result) in join_all(pushes).await {
        match result {
            Ok(()) => done.push(id),
            Err(err) => {
                first_error.get_or_insert(err);
            }
        }
    }
    let handled = done.len();
    if !done.is_empty() {
        outbox::Entity::delete_many()
            .filter(outbox::Column::JobId.is_in(done))
            .exec(db)
            .await?;
    }
    match first_error {
        Some(err) => Err(err.into()),
        None => Ok(handled),
    }
}
