//! `webhook_endpoints`: a user's receivers, with the secrets that sign to them.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "webhook_endpoints")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub owner_id: String,
    pub url: String,
    /// The event types delivered (a JSON array); empty means every type.
    pub events: Json,
    pub description: String,
    pub enabled: bool,
    /// `whsec_…`: signs every delivery.
    pub secret: String,
    /// The secret a rotation replaced; it signs too until `previous_secret_expires_at`.
    pub previous_secret: Option<String>,
    pub previous_secret_expires_at: Option<DateTimeUtc>,
    /// Why the endpoint was disabled by the system (410 Gone, failing for days).
    pub disabled_reason: Option<String>,
    /// When its current run of failed deliveries began.
    pub failing_since: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
