//! `job_outbox`: jobs committed but not yet confirmed in Redis.
//!
//! A row is written in the same transaction as its job; the relay deletes it once
//! Redis has the job. Cancelling a job before that deletes the row, so the job never
//! reaches the queue.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "job_outbox")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub job_id: Uuid,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
