//! `stories`: the aggregate root.

use sea_orm::entity::prelude::*;

use crate::db::Money;
use crate::domain::{AspectRatio, Language, Provider, StoryFacts, StoryStatus};

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "stories")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub owner_id: String,
    pub title: String,
    pub synopsis: String,
    pub style: String,
    pub duration_seconds: i32,
    pub aspect_ratio: AspectRatio,
    pub status: StoryStatus,
    pub image_provider: Provider,
    pub video_provider: Provider,
    /// The language the story is narrated in.
    pub language: Language,
    /// [`crate::domain::FilmOptions`]; null for the defaults.
    pub film: Option<Json>,
    /// [`crate::domain::StoryBible`] the LLM planner wrote; null otherwise.
    pub bible: Option<Json>,
    /// [`crate::domain::MusicBed`]; null when the story has no music.
    pub music: Option<Json>,
    pub estimated_cost: Option<Money>,
    /// The breakdown of `estimated_cost`, a serialized `CostEstimate`.
    pub cost_estimate: Option<Json>,
    pub actual_cost: Money,
    pub preview_key: Option<String>,
    pub final_key: Option<String>,
    pub last_error: Option<String>,
    /// Bumped by every update; a write that expected another version is refused.
    pub version: i32,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

impl Model {
    /// What the state machine's guarded edges look at: planning leaves an estimate
    /// (cleared when planning starts again), and the preview its key (cleared when
    /// the story returns to draft).
    pub fn facts(&self) -> StoryFacts {
        StoryFacts {
            planned: self.estimated_cost.is_some(),
            preview_ready: self.preview_key.is_some(),
        }
    }
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_many = "super::scene::Entity")]
    Scenes,
    #[sea_orm(has_many = "super::job::Entity")]
    Jobs,
    #[sea_orm(has_many = "super::transition::Entity")]
    Transitions,
}

impl Related<super::scene::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Scenes.def()
    }
}

impl Related<super::job::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Jobs.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
