//! `scenes`: ordered parts of a story; `(story_id, position)` is unique and dense.

use sea_orm::entity::prelude::*;

use crate::db::Money;
use crate::domain::{CameraMotion, Provider, ScenePrompt, SceneStatus};

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "scenes")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub story_id: Uuid,
    /// 1-based.
    pub position: i32,
    pub duration_seconds: i32,
    pub prompt_text: String,
    pub negative_prompt: String,
    pub prompt_style: String,
    pub camera_motion: CameraMotion,
    pub seed: i64,
    /// What the narrator says over the scene; empty for silence.
    pub narration: String,
    pub status: SceneStatus,
    pub image_key: Option<String>,
    pub clip_key: Option<String>,
    pub provider: Option<Provider>,
    pub generation_time_ms: Option<i64>,
    pub cost: Money,
    pub error: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

impl Model {
    pub fn prompt(&self) -> ScenePrompt {
        ScenePrompt {
            text: self.prompt_text.clone(),
            negative_prompt: self.negative_prompt.clone(),
            style: self.prompt_style.clone(),
            camera_motion: self.camera_motion,
            seed: u32::try_from(self.seed).unwrap_or_default(),
        }
    }
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
