//! Settled job figures: `job_stat_rollups` holds the sums of every finished job whose
//! `finished_at` lies before the one `job_stat_marks` row's `settled_before`, by
//! owner, kind, provider and status, so `jobs/statistics/` reads a few rows for them
//! and the live `jobs` table only for the jobs after the mark (found through
//! `jobs_finished_idx` and `jobs_status_idx`).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum JobStatRollups {
    Table,
    OwnerId,
    Kind,
    /// `''` for jobs that called no provider.
    Provider,
    Status,
    Jobs,
    /// Cost in ten-thousandths of a dollar.
    CostUnits,
    WaitMs,
    Waited,
    RunMs,
    Ran,
}

#[derive(DeriveIden)]
enum JobStatMarks {
    Table,
    Id,
    SettledBefore,
}

#[derive(DeriveIden)]
enum Jobs {
    Table,
    FinishedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(JobStatRollups::Table)
                .col(string_len(JobStatRollups::OwnerId, 255))
                .col(string_len(JobStatRollups::Kind, 32))
                .col(string_len(JobStatRollups::Provider, 32))
                .col(string_len(JobStatRollups::Status, 32))
                .col(big_integer(JobStatRollups::Jobs))
                .col(big_integer(JobStatRollups::CostUnits))
                .col(big_integer(JobStatRollups::WaitMs))
                .col(big_integer(JobStatRollups::Waited))
                .col(big_integer(JobStatRollups::RunMs))
                .col(big_integer(JobStatRollups::Ran))
                .primary_key(
                    Index::create()
                        .col(JobStatRollups::OwnerId)
                        .col(JobStatRollups::Kind)
                        .col(JobStatRollups::Provider)
                        .col(JobStatRollups::Status),
                )
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(JobStatMarks::Table)
                .col(integer(JobStatMarks::Id).primary_key())
                .col(timestamp_with_time_zone(JobStatMarks::SettledBefore))
                .to_owned(),
        )
        .await?;
        m.exec_stmt(
            Query::insert()
                .into_table(JobStatMarks::Table)
                .columns([JobStatMarks::Id, JobStatMarks::SettledBefore])
                .values_panic([
                    1.into(),
                    sea_orm::prelude::ChronoDateTimeUtc::UNIX_EPOCH.into(),
                ])
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("jobs_finished_idx")
                .table(Jobs::Table)
                .col(Jobs::FinishedAt)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(
            Index::drop()
                .name("jobs_finished_idx")
                .table(Jobs::Table)
                .to_owned(),
        )
        .await?;
        m.drop_table(Table::drop().table(JobStatMarks::Table).to_owned())
            .await?;
        m.drop_table(Table::drop().table(JobStatRollups::Table).to_owned())
            .await
    }
}
