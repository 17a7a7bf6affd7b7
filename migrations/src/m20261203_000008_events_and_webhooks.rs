//! The event log and webhooks: `events` (every event a client can hear, with a
//! monotonic id that SSE streams resume from), `webhook_endpoints` (a user's
//! receivers and their signing secrets), `webhook_deliveries` (one per event and
//! endpoint, written in the event's transaction) and `webhook_attempts` (each try).

use sea_orm_migration::{prelude::*, schema::*};

use crate::m20261126_000001_schema::now;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Events {
    Table,
    Id,
    OwnerId,
    StoryId,
    EventType,
    Data,
    CreatedAt,
    PublishedAt,
}

#[derive(DeriveIden)]
enum WebhookEndpoints {
    Table,
    Id,
    OwnerId,
    Url,
    Events,
    Description,
    Enabled,
    Secret,
    PreviousSecret,
    PreviousSecretExpiresAt,
    DisabledReason,
    FailingSince,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum WebhookDeliveries {
    Table,
    Id,
    EndpointId,
    EventId,
    Status,
    Attempts,
    NextAttemptAt,
    LeaseUntil,
    LastStatusCode,
    LastDurationMs,
    LastError,
    DeliveredAt,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum WebhookAttempts {
    Table,
    Id,
    DeliveryId,
    Attempt,
    StatusCode,
    DurationMs,
    Error,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Events::Table)
                .col(big_pk_auto(Events::Id))
                .col(string_len(Events::OwnerId, 150))
                .col(uuid_null(Events::StoryId))
                .col(string_len(Events::EventType, 48))
                .col(json(Events::Data))
                .col(timestamp_with_time_zone(Events::CreatedAt).default(now()))
                .col(timestamp_with_time_zone_null(Events::PublishedAt))
                .to_owned(),
        )
        .await?;
        for (name, cols) in [
            ("events_owner_idx", vec![Events::OwnerId, Events::Id]),
            ("events_story_idx", vec![Events::StoryId, Events::Id]),
            (
                "events_unpublished_idx",
                vec![Events::PublishedAt, Events::Id],
            ),
        ] {
            let mut index = Index::create();
            index.name(name).table(Events::Table);
            for col in cols {
                index.col(col);
            }
            m.create_index(index.to_owned()).await?;
        }

        m.create_table(
            Table::create()
                .table(WebhookEndpoints::Table)
                .col(pk_uuid(WebhookEndpoints::Id))
                .col(string_len(WebhookEndpoints::OwnerId, 150))
                .col(string_len(WebhookEndpoints::Url, 2048))
                .col(json(WebhookEndpoints::Events))
                .col(text(WebhookEndpoints::Description).default(""))
                .col(boolean(WebhookEndpoints::Enabled).default(true))
                .col(string_len(WebhookEndpoints::Secret, 128))
                .col(string_len_null(WebhookEndpoints::PreviousSecret, 128))
                .col(timestamp_with_time_zone_null(
                    WebhookEndpoints::PreviousSecretExpiresAt,
                ))
                .col(text_null(WebhookEndpoints::DisabledReason))
                .col(timestamp_with_time_zone_null(
                    WebhookEndpoints::FailingSince,
                ))
                .col(timestamp_with_time_zone(WebhookEndpoints::CreatedAt).default(now()))
                .col(timestamp_with_time_zone(WebhookEndpoints::UpdatedAt).default(now()))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("webhook_endpoints_owner_idx")
                .table(WebhookEndpoints::Table)
                .col(WebhookEndpoints::OwnerId)
                .col(WebhookEndpoints::CreatedAt)
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(WebhookDeliveries::Table)
                .col(pk_uuid(WebhookDeliveries::Id))
                .col(uuid(WebhookDeliveries::EndpointId))
                .col(big_integer(WebhookDeliveries::EventId))
                .col(string_len(WebhookDeliveries::Status, 16))
                .col(integer(WebhookDeliveries::Attempts).default(0))
                .col(timestamp_with_time_zone_null(
                    WebhookDeliveries::NextAttemptAt,
                ))
                .col(timestamp_with_time_zone_null(WebhookDeliveries::LeaseUntil))
                .col(integer_null(WebhookDeliveries::LastStatusCode))
                .col(big_integer_null(WebhookDeliveries::LastDurationMs))
                .col(text_null(WebhookDeliveries::LastError))
                .col(timestamp_with_time_zone_null(
                    WebhookDeliveries::DeliveredAt,
                ))
                .col(timestamp_with_time_zone(WebhookDeliveries::CreatedAt).default(now()))
                .col(timestamp_with_time_zone(WebhookDeliveries::UpdatedAt).default(now()))
                .foreign_key(
                    ForeignKey::create()
                        .name("webhook_deliveries_endpoint_fk")
                        .from(WebhookDeliveries::Table, WebhookDeliveries::EndpointId)
                        .to(WebhookEndpoints::Table, WebhookEndpoints::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .foreign_key(
                    ForeignKey::create()
                        .name("webhook_deliveries_event_fk")
                        .from(WebhookDeliveries::Table, WebhookDeliveries::EventId)
                        .to(Events::Table, Events::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        for (name, cols) in [
            (
                "webhook_deliveries_due_idx",
                vec![WebhookDeliveries::Status, WebhookDeliveries::NextAttemptAt],
            ),
            (
                "webhook_deliveries_endpoint_idx",
                vec![WebhookDeliveries::EndpointId, WebhookDeliveries::CreatedAt],
            ),
        ] {
            let mut index = Index::create();
            index.name(name).table(WebhookDeliveries::Table);
            for col in cols {
                index.col(col);
            }
            m.create_index(index.to_owned()).await?;
        }

        m.create_table(
            Table::create()
                .table(WebhookAttempts::Table)
                .col(pk_uuid(WebhookAttempts::Id))
                .col(uuid(WebhookAttempts::DeliveryId))
                .col(integer(WebhookAttempts::Attempt))
                .col(integer_null(WebhookAttempts::StatusCode))
                .col(big_integer(WebhookAttempts::DurationMs))
                .col(text_null(WebhookAttempts::Error))
                .col(timestamp_with_time_zone(WebhookAttempts::CreatedAt).default(now()))
                .foreign_key(
                    ForeignKey::create()
                        .name("webhook_attempts_delivery_fk")
                        .from(WebhookAttempts::Table, WebhookAttempts::DeliveryId)
                        .to(WebhookDeliveries::Table, WebhookDeliveries::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("webhook_attempts_delivery_idx")
                .table(WebhookAttempts::Table)
                .col(WebhookAttempts::DeliveryId)
                .col(WebhookAttempts::Attempt)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            WebhookAttempts::Table.into_iden(),
            WebhookDeliveries::Table.into_iden(),
            WebhookEndpoints::Table.into_iden(),
            Events::Table.into_iden(),
        ] {
            m.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}
