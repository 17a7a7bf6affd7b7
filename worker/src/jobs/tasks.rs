//! The job side of the providers' [`TaskLog`]: remote tasks are written to the job's
//! steps (`ai_video_shared::store::steps`) with their price as soon as they are
//! created, and an earlier run's tasks are offered for adoption.

use std::sync::Mutex;

use ai_video_shared::db::Money;
use ai_video_shared::db::entities::step;
use ai_video_shared::domain::Provider;
use ai_video_shared::store::steps;
use rust_decimal::Decimal;

use super::JobCtx;
use crate::providers::{ProviderError, TaskLog};

/// The tasks of one provider's steps in one run.
pub struct JobTasks<'a> {
    ctx: &'a JobCtx,
    provider: Provider,
    /// The steps recorded before this run started.
    earlier: &'a [step::Model],
    /// What the tasks this call created or adopted cost, already on the job.
    spent: Mutex<Decimal>,
}

impl<'a> JobTasks<'a> {
    pub fn new(ctx: &'a JobCtx, provider: Provider, earlier: &'a [step::Model]) -> Self {
        Self {
            ctx,
            provider,
            earlier,
            spent: Mutex::new(Decimal::ZERO),
        }
    }

    pub fn provider(&self) -> Provider {
        self.provider
    }

    /// The part of an output's price its tasks already put on the job.
    pub fn spent(&self) -> Decimal {
        self.spent.lock().map(|s| *s).unwrap_or_default()
    }

    fn own(&self, step: &str) -> Option<&step::Model> {
        self.earlier
            .iter()
            .find(|s| s.name == step && s.job_id == self.ctx.row.id)
            .filter(|s| s.provider == Some(self.provider) && s.status == steps::SUBMITTED)
    }

    fn add(&self, cost: Decimal) {
        if let Ok(mut spent) = self.spent.lock() {
            *spent += cost;
        }
    }
}

#[async_trait::async_trait]
impl TaskLog for JobTasks<'_> {
    fn recorded(&self, step: &str) -> Option<String> {
        self.own(step).and_then(|s| s.remote_id.clone())
    }

    fn adopting(&self, step: &str) {
        if let Some(earlier) = self.own(step) {
            self.add(earlier.cost.0);
        }
    }

    fn holder(&self, step: &str) -> String {
        format!("{}:{step}", self.ctx.row.id)
    }

    fn waiter(&self) -> Option<String> {
        Some(self.ctx.delivery.job.id().to_string())
    }

    async fn record(&self, step: &str, task: &str, cost: Decimal) -> Result<(), ProviderError> {
        let submitted = steps::Submitted {
            name: step,
            provider: self.provider,
            remote_id: task,
            cost: Money::new(cost),
        };
        steps::submitted(&self.ctx.state.db, &self.ctx.row, submitted)
            .await
            .map_err(|e| {
                ProviderError::retryable(format!("cannot record the {step} task {task}: {e}"))
            })?;
        self.add(cost);
        crate::metrics::provider_spend(self.provider, cost);
        self.ctx
            .log(&format!(
                "{} task {task} created for {step} (cost {cost})",
                self.provider
            ))
            .await;
        Ok(())
    }
}
