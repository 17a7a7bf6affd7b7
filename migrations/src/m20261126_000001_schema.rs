//! Stories, scenes, jobs, the transition log, provider configs and the job outbox.

use sea_orm_migration::{prelude::*, schema::*};

use crate::money;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Stories {
    Table,
    Id,
    OwnerId,
    Title,
    Synopsis,
    Style,
    DurationSeconds,
    AspectRatio,
    Status,
    ImageProvider,
    VideoProvider,
    EstimatedCost,
    CostEstimate,
    ActualCost,
    PreviewKey,
    FinalKey,
    LastError,
    Version,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Scenes {
    Table,
    Id,
    StoryId,
    Position,
    DurationSeconds,
    PromptText,
    NegativePrompt,
    PromptStyle,
    CameraMotion,
    Seed,
    Status,
    ImageKey,
    ClipKey,
    Provider,
    GenerationTimeMs,
    Cost,
    Error,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Jobs {
    Table,
    Id,
    StoryId,
    SceneId,
    ParentId,
    RetryOf,
    OwnerId,
    Kind,
    Status,
    Priority,
    Attempt,
    MaxAttempts,
    BackoffMs,
    Parameters,
    LastError,
    Result,
    Provider,
    Cost,
    QueueId,
    QueuedAt,
    StartedAt,
    FinishedAt,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum StoryStateTransitions {
    Table,
    Id,
    StoryId,
    FromStatus,
    ToStatus,
    Actor,
    Reason,
    JobId,
    CreatedAt,
}

#[derive(DeriveIden)]
enum AiProviderConfigs {
    Table,
    Provider,
    IsActive,
    RateLimitPerMinute,
    RateLimitPerHour,
    CostPerImage,
    CostPerSecondVideo,
    Settings,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum JobOutbox {
    Table,
    JobId,
    CreatedAt,
}

pub(crate) fn now() -> Expr {
    Expr::current_timestamp()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Stories::Table)
                .col(pk_uuid(Stories::Id))
                .col(string_len(Stories::OwnerId, 150))
                .col(string_len(Stories::Title, 200))
                .col(text(Stories::Synopsis))
                .col(string_len(Stories::Style, 64))
                .col(integer(Stories::DurationSeconds))
                .col(string_len(Stories::AspectRatio, 8))
                .col(string_len(Stories::Status, 16))
                .col(string_len(Stories::ImageProvider, 32))
                .col(string_len(Stories::VideoProvider, 32))
                .col(money(m, Stories::EstimatedCost).null())
                .col(json_null(Stories::CostEstimate))
                .col(money(m, Stories::ActualCost).not_null())
                .col(string_len_null(Stories::PreviewKey, 512))
                .col(string_len_null(Stories::FinalKey, 512))
                .col(text_null(Stories::LastError))
                .col(integer(Stories::Version).default(1))
                .col(timestamp_with_time_zone(Stories::CreatedAt).default(now()))
                .col(timestamp_with_time_zone(Stories::UpdatedAt).default(now()))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("stories_owner_status_idx")
                .table(Stories::Table)
                .col(Stories::OwnerId)
                .col(Stories::Status)
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("stories_status_idx")
                .table(Stories::Table)
                .col(Stories::Status)
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Scenes::Table)
                .col(pk_uuid(Scenes::Id))
                .col(uuid(Scenes::StoryId))
                .col(integer(Scenes::Position))
                .col(integer(Scenes::DurationSeconds))
                .col(text(Scenes::PromptText))
                .col(text(Scenes::NegativePrompt))
                .col(string_len(Scenes::PromptStyle, 64))
                .col(string_len(Scenes::CameraMotion, 16))
                .col(big_integer(Scenes::Seed))
                .col(string_len(Scenes::Status, 16))
                .col(string_len_null(Scenes::ImageKey, 512))
                .col(string_len_null(Scenes::ClipKey, 512))
                .col(string_len_null(Scenes::Provider, 32))
                .col(big_integer_null(Scenes::GenerationTimeMs))
                .col(money(m, Scenes::Cost).not_null())
                .col(text_null(Scenes::Error))
                .col(timestamp_with_time_zone(Scenes::CreatedAt).default(now()))
                .col(timestamp_with_time_zone(Scenes::UpdatedAt).default(now()))
                .foreign_key(
                    ForeignKey::create()
                        .name("scenes_story_fk")
                        .from(Scenes::Table, Scenes::StoryId)
                        .to(Stories::Table, Stories::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("scenes_story_position_key")
                .table(Scenes::Table)
                .col(Scenes::StoryId)
                .col(Scenes::Position)
                .unique()
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Jobs::Table)
                .col(pk_uuid(Jobs::Id))
                .col(uuid(Jobs::StoryId))
                .col(uuid_null(Jobs::SceneId))
                .col(uuid_null(Jobs::ParentId))
                .col(uuid_null(Jobs::RetryOf))
                .col(string_len(Jobs::OwnerId, 150))
                .col(string_len(Jobs::Kind, 32))
                .col(string_len(Jobs::Status, 16))
                .col(integer(Jobs::Priority))
                .col(integer(Jobs::Attempt).default(0))
                .col(integer(Jobs::MaxAttempts))
                .col(big_integer(Jobs::BackoffMs))
                .col(json(Jobs::Parameters))
                .col(text_null(Jobs::LastError))
                .col(json_null(Jobs::Result))
                .col(string_len_null(Jobs::Provider, 32))
                .col(money(m, Jobs::Cost).null())
                .col(string_len_uniq(Jobs::QueueId, 128))
                .col(timestamp_with_time_zone(Jobs::QueuedAt).default(now()))
                .col(timestamp_with_time_zone_null(Jobs::StartedAt))
                .col(timestamp_with_time_zone_null(Jobs::FinishedAt))
                .col(timestamp_with_time_zone(Jobs::CreatedAt).default(now()))
                .col(timestamp_with_time_zone(Jobs::UpdatedAt).default(now()))
                .foreign_key(
                    ForeignKey::create()
                        .name("jobs_story_fk")
                        .from(Jobs::Table, Jobs::StoryId)
                        .to(Stories::Table, Stories::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .foreign_key(
                    ForeignKey::create()
                        .name("jobs_scene_fk")
                        .from(Jobs::Table, Jobs::SceneId)
                        .to(Scenes::Table, Scenes::Id)
                        .on_delete(ForeignKeyAction::SetNull),
                )
                .foreign_key(
                    ForeignKey::create()
                        .name("jobs_parent_fk")
                        .from(Jobs::Table, Jobs::ParentId)
                        .to(Jobs::Table, Jobs::Id)
                        .on_delete(ForeignKeyAction::SetNull),
                )
                .to_owned(),
        )
        .await?;
        for (name, cols) in [
            ("jobs_story_idx", vec![Jobs::StoryId, Jobs::CreatedAt]),
            ("jobs_owner_idx", vec![Jobs::OwnerId, Jobs::CreatedAt]),
            ("jobs_status_idx", vec![Jobs::Status, Jobs::Kind]),
            ("jobs_kind_idx", vec![Jobs::Kind, Jobs::Status]),
            ("jobs_parent_idx", vec![Jobs::ParentId]),
            ("jobs_scene_idx", vec![Jobs::SceneId]),
        ] {
            let mut index = Index::create();
            index.name(name).table(Jobs::Table);
            for col in cols {
                index.col(col);
            }
            m.create_index(index.to_owned()).await?;
        }

        m.create_table(
            Table::create()
                .table(StoryStateTransitions::Table)
                .col(pk_uuid(StoryStateTransitions::Id))
                .col(uuid(StoryStateTransitions::StoryId))
                .col(string_len(StoryStateTransitions::FromStatus, 16))
                .col(string_len(StoryStateTransitions::ToStatus, 16))
                .col(string_len(StoryStateTransitions::Actor, 150))
                .col(text(StoryStateTransitions::Reason))
                .col(uuid_null(StoryStateTransitions::JobId))
                .col(timestamp_with_time_zone(StoryStateTransitions::CreatedAt).default(now()))
                .foreign_key(
                    ForeignKey::create()
                        .name("transitions_story_fk")
                        .from(StoryStateTransitions::Table, StoryStateTransitions::StoryId)
                        .to(Stories::Table, Stories::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("transitions_story_idx")
                .table(StoryStateTransitions::Table)
                .col(StoryStateTransitions::StoryId)
                .col(StoryStateTransitions::CreatedAt)
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(AiProviderConfigs::Table)
                .col(string_len(AiProviderConfigs::Provider, 32).primary_key())
                .col(boolean(AiProviderConfigs::IsActive).default(true))
                .col(integer(AiProviderConfigs::RateLimitPerMinute))
                .col(integer(AiProviderConfigs::RateLimitPerHour))
                .col(money(m, AiProviderConfigs::CostPerImage).not_null())
                .col(money(m, AiProviderConfigs::CostPerSecondVideo).not_null())
                .col(json(AiProviderConfigs::Settings))
                .col(timestamp_with_time_zone(AiProviderConfigs::CreatedAt).default(now()))
                .col(timestamp_with_time_zone(AiProviderConfigs::UpdatedAt).default(now()))
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(JobOutbox::Table)
                .col(pk_uuid(JobOutbox::JobId))
                .col(timestamp_with_time_zone(JobOutbox::CreatedAt).default(now()))
                .foreign_key(
                    ForeignKey::create()
                        .name("outbox_job_fk")
                        .from(JobOutbox::Table, JobOutbox::JobId)
                        .to(Jobs::Table, Jobs::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("outbox_created_idx")
                .table(JobOutbox::Table)
                .col(JobOutbox::CreatedAt)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            JobOutbox::Table.into_iden(),
            AiProviderConfigs::Table.into_iden(),
            StoryStateTransitions::Table.into_iden(),
            Jobs::Table.into_iden(),
            Scenes::Table.into_iden(),
            Stories::Table.into_iden(),
        ] {
            m.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}
