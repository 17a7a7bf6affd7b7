//! `events`: the event log clients hear, over SSE and webhooks. Ids only grow, and
//! one owner's events commit in id order, so `id > n` resumes a stream without a gap.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "events")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The owner of the story the event is about.
    pub owner_id: String,
    pub story_id: Option<Uuid>,
    /// `story.status_changed`, `scene.progress`, …
    pub event_type: String,
    /// The event's `data` member.
    pub data: Json,
    pub created_at: DateTimeUtc,
    /// When the event was announced on Redis to the API replicas.
    pub published_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
