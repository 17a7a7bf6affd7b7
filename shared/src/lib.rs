//! The ai-video domain, shared by the API and the worker.
//!
//! - [`domain`]: plain types and rules (story state machine, scene planning, costs),
//!   free of HTTP and of the database.
//! - [`envelope`]: the queued message every worker understands.
//! - [`db`]: sea-orm entities and connection set-up for Postgres and SQLite.
//! - [`store`]: the operations that change state, each in one database transaction
//!   together with the outbox rows that ask for work.
//! - [`outbox`]: the relay that moves committed work requests into the Redis queue.
//! - [`outbound`]: the guard on every fetch to a URL the system was given.
//! - [`announce`]: announces committed events on Redis, for every API replica's SSE streams.
//! - [`config`]: settings both services read from the environment.
//! - [`webhooks`]: Standard Webhooks signatures and secrets.
//! - [`telemetry`]: logging and the metrics recorder.
//! - [`storage`]: where generated media lives, a local directory or an S3 bucket.

pub mod announce;
pub mod config;
pub mod db;
pub mod domain;
pub mod envelope;
pub mod input;
pub mod outbound;
pub mod outbox;
pub mod queue;
pub mod storage;
pub mod store;
pub mod telemetry;
pub mod webhooks;
