//! One module per table.

pub mod event;
pub mod idempotency_key;
pub mod job;
pub mod outbox;
pub mod provider_config;
pub mod scene;
pub mod step;
pub mod story;
pub mod transition;
pub mod user_quota;
pub mod webhook_attempt;
pub mod webhook_delivery;
pub mod webhook_endpoint;
