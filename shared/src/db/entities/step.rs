//! `job_steps`: checkpoints of a job's paid steps, unique per job and step name.

use sea_orm::entity::prelude::*;

use crate::db::Money;
use crate::domain::Provider;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "job_steps")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub job_id: Uuid,
    /// `keyframe`, `task.clip.0`, `clip`, …
    pub name: String,
    /// `submitted` (a remote task exists and may still run) or `done`.
    pub status: String,
    pub provider: Option<Provider>,
    /// The provider's task or prediction id.
    pub remote_id: Option<String>,
    /// Where the step's product is stored.
    pub storage_key: Option<String>,
    /// What the step cost; added to the job's and the story's cost when it is done.
    pub cost: Money,
    /// What the provider said about it (model, units), kept for the job's result.
    pub data: Option<Json>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
