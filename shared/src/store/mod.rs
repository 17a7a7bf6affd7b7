//! The operations that read and change stories, scenes and jobs.
//!
//! Each change runs in one database transaction: the status update, its transition
//! row, and the jobs and outbox rows it asks for commit together or not at all.
//! Visibility is decided here too: a viewer sees their own objects, an admin sees
//! all, and anything else is [`StoreError::NotFound`], never a hint that it exists.

mod assembly;
pub mod dashboard;
pub mod deliveries;
mod enqueue;
pub mod events;
pub mod idempotency;
pub mod jobs;
pub mod providers;
pub mod quotas;
pub mod reconcile;
pub mod rollup;
pub mod runs;
pub mod scenes;
pub mod statistics;
pub mod steps;
pub mod stories;
pub mod transitions;
pub mod webhook_sends;
pub mod webhooks;
pub mod worker_writes;

pub use enqueue::{NewJob, WorkOptions, enqueue_flow, enqueue_job};

use sea_orm::{
    DatabaseConnection, DatabaseTransaction, DbErr, EntityTrait, PaginatorTrait, Select,
    SqliteTransactionMode, TransactionOptions, TransactionTrait,
};

use crate::domain::ErrorCode;
use crate::domain::{StoryStatus, TransitionError};

/// Who is asking: the bearer token's subject, and whether it is an admin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Viewer {
    pub user_id: String,
    pub is_admin: bool,
}

impl Viewer {
    pub fn can_see(&self, owner_id: &str) -> bool {
        self.is_admin || self.user_id == owner_id
    }
}

/// Why an operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error(transparent)]
    Transition(#[from] TransitionError),
    /// The request is well-formed but conflicts with the current state.
    #[error("{message}")]
    Conflict { code: ErrorCode, message: String },
    /// One part of the request conflicts with the current state, or with another
    /// part of the same request (two scenes asking for one position).
    #[error("{field}: {message}")]
    FieldConflict {
        code: ErrorCode,
        field: String,
        message: String,
    },
    /// A field's value is not acceptable.
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    /// The work would take its owner past their monthly budget.
    #[error("{message}")]
    OverBudget {
        message: String,
        budget: rust_decimal::Decimal,
        spent: rust_decimal::Decimal,
        committed: rust_decimal::Decimal,
        asked: rust_decimal::Decimal,
    },
    /// The work would take its owner past a quota; it may fit after this long.
    #[error("{message}")]
    OverQuota {
        message: String,
        retry_after_secs: u64,
    },
    #[error(transparent)]
    Db(#[from] DbErr),
}

impl StoreError {
    pub fn conflict(code: ErrorCode, message: impl Into<String>) -> Self {
        StoreError::Conflict {
            code,
            message: message.into(),
        }
    }

    pub fn field_conflict(
        code: ErrorCode,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        StoreError::FieldConflict {
            code,
            field: field.into(),
            message: message.into(),
        }
    }

    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        StoreError::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }

    /// The story is not in a status that allows the operation.
    pub fn wrong_status(status: StoryStatus, allowed: &[StoryStatus], what: &str) -> Self {
        let allowed: Vec<&str> = allowed.iter().map(|s| s.as_str()).collect();
        StoreError::conflict(
            ErrorCode::InvalidStoryStatus,
            format!(
                "{what} needs the story to be {}; it is {status}",
                allowed.join(" or ")
            ),
        )
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// A page request: 1-based page number and page size, each within its limits
/// (`1..=MAX_PAGE`, `1..=MAX_SIZE`), so the offset of the page's first row always
/// fits the database's signed 64-bit `OFFSET`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    pub page: u64,
    pub page_size: u64,
}

impl PageRequest {
    pub const DEFAULT_SIZE: u64 = 20;
    pub const MAX_SIZE: u64 = 100;
    /// The highest page number served: its offset is at most 10^11 rows.
    pub const MAX_PAGE: u64 = 1_000_000_000;
}

const _: () = assert!((PageRequest::MAX_PAGE - 1) * PageRequest::MAX_SIZE <= i64::MAX as u64);

/// One page of results and the total count.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub count: u64,
}

/// One page of a query's rows, with the count of them all.
pub(crate) async fn fetch_page<E: EntityTrait>(
    db: &DatabaseConnection,
    query: Select<E>,
    page: PageRequest,
) -> StoreResult<Page<E::Model>>
where
    E::Model: Sync,
{
    let paginator = query.paginate(db, page.page_size);
    let count = paginator.num_items().await?;
    let items = paginator.fetch_page(page.page - 1).await?;
    Ok(Page { items, count })
}

/// Starts a write transaction that may record events about `owner`'s stories: the
/// owner's event lock ([`events::lock_owner`]) is its first lock.
pub async fn begin_for(db: &DatabaseConnection, owner: &str) -> Result<DatabaseTransaction, DbErr> {
    let txn = begin_write(db).await?;
    events::lock_owner(&txn, owner).await?;
    Ok(txn)
}

/// Starts a write transaction. On SQLite it takes the write lock at once
/// (`BEGIN IMMEDIATE`), so two writers queue on the busy timeout instead of one of
/// them failing when it upgrades from reading.
pub async fn begin_write(db: &DatabaseConnection) -> Result<DatabaseTransaction, DbErr> {
    db.begin_with_options(TransactionOptions {
        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
        ..Default::default()
    })
    .await
}
