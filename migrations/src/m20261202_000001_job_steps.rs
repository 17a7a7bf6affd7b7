//! `job_steps`: the checkpoints of a job's paid steps (a keyframe, each remote task,
//! a stored clip), so that a job put back, retried or re-delivered resumes after its
//! last completed step instead of buying it again.

use sea_orm_migration::{prelude::*, schema::*};

use crate::m20261126_000001_schema::now;
use crate::money;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum JobSteps {
    Table,
    Id,
    JobId,
    Name,
    Status,
    Provider,
    RemoteId,
    StorageKey,
    Cost,
    Data,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Jobs {
    Table,
    Id,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(JobSteps::Table)
                .col(pk_uuid(JobSteps::Id))
                .col(uuid(JobSteps::JobId))
                .col(string_len(JobSteps::Name, 64))
                .col(string_len(JobSteps::Status, 16))
                .col(string_len_null(JobSteps::Provider, 32))
                .col(string_len_null(JobSteps::RemoteId, 256))
                .col(string_len_null(JobSteps::StorageKey, 512))
                .col(money(m, JobSteps::Cost).not_null())
                .col(json_null(JobSteps::Data))
                .col(timestamp_with_time_zone(JobSteps::CreatedAt).default(now()))
                .col(timestamp_with_time_zone(JobSteps::UpdatedAt).default(now()))
                .foreign_key(
                    ForeignKey::create()
                        .name("job_steps_job_fk")
                        .from(JobSteps::Table, JobSteps::JobId)
                        .to(Jobs::Table, Jobs::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("job_steps_job_name_key")
                .table(JobSteps::Table)
                .col(JobSteps::JobId)
                .col(JobSteps::Name)
                .unique()
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(JobSteps::Table).to_owned())
            .await
    }
}
