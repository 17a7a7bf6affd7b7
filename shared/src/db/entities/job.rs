//! `jobs`: one unit of queued work, with its attempts and result.

use sea_orm::entity::prelude::*;

use crate::db::Money;
use crate::domain::{JobKind, JobStatus, Provider};

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "jobs")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub story_id: Uuid,
    pub scene_id: Option<Uuid>,
    /// The flow parent: the assembly job that waits for this scene job.
    pub parent_id: Option<Uuid>,
    /// The job this one re-runs, for `POST jobs/{id}/retry/`.
    pub retry_of: Option<Uuid>,
    /// The story owner, copied so that job lists filter without a join.
    pub owner_id: String,
    pub kind: JobKind,
    pub status: JobStatus,
    pub priority: i32,
    /// Runs started so far.
    pub attempt: i32,
    pub max_attempts: i32,
    pub backoff_ms: i64,
    pub parameters: Json,
    pub last_error: Option<String>,
    /// The worker response `{success, result: {preview_url, metadata, generation_time}, error}`.
    pub result: Option<Json>,
    pub provider: Option<Provider>,
    pub cost: Option<Money>,
    /// The BullMQ job id, `story_<story-id>_<job-id>`.
    #[sea_orm(unique)]
    pub queue_id: String,
    pub queued_at: DateTimeUtc,
    pub started_at: Option<DateTimeUtc>,
    pub finished_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    /// How far a running job is, 0 to 1, as its provider reports.
    pub progress: Option<f64>,
    pub updated_at: DateTimeUtc,
    /// The run that owns the job while it is `running`.
    pub run_id: Option<Uuid>,
    /// When that run last said it was alive.
    pub heartbeat_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::story::Entity",
        from = "Column::StoryId",
        to = "super::story::Column::Id",
        on_delete = "Cascade"
    )]
    Story,
}

impl Related<super::story::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Story.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
