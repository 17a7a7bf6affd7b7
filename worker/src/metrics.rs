//! The worker's metrics, declared here and nowhere else, served at
//! `METRICS_ADDR/metrics`.
//!
//! Labels are bounded: job kind, provider, status class, priority, queue state —
//! never an id. Together they give the seed's four key figures: average generation
//! time (`ai_video_job_duration_seconds`), success rate (succeeded vs failed), API
//! cost (`ai_video_job_cost_dollars` sum) and queue wait (`ai_video_job_queue_wait_seconds`).
//! Queue depth is read from Redis when scraped, so it costs nothing between scrapes.

use std::time::Duration;

use ai_video_shared::domain::{JobKind, Provider};
use metrics::{
    Unit, counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram,
};

pub const JOBS_STARTED: &str = "ai_video_jobs_started_total";
pub const JOBS_SUCCEEDED: &str = "ai_video_jobs_succeeded_total";
pub const JOBS_FAILED: &str = "ai_video_jobs_failed_total";
pub const JOBS_RETRIED: &str = "ai_video_jobs_retried_total";
pub const JOBS_DELAYED: &str = "ai_video_jobs_delayed_total";
pub const JOBS_IN_FLIGHT: &str = "ai_video_jobs_in_flight";
pub const JOB_DURATION: &str = "ai_video_job_duration_seconds";
pub const JOB_QUEUE_WAIT: &str = "ai_video_job_queue_wait_seconds";
pub const JOB_COST: &str = "ai_video_job_cost_dollars";
pub const QUEUE_JOBS: &str = "ai_video_queue_jobs";
pub const QUEUE_WAITING: &str = "ai_video_queue_waiting_jobs";
pub const PROVIDER_REQUESTS: &str = "ai_video_provider_requests_total";
pub const PROVIDER_DURATION: &str = "ai_video_provider_request_duration_seconds";
pub const PROVIDER_RATE_LIMITED: &str = "ai_video_provider_rate_limited_total";
pub const PROVIDER_LIMIT_WAIT: &str = "ai_video_provider_rate_limit_wait_seconds";
pub const CONCURRENCY: &str = "ai_video_worker_concurrency";
pub const PROVIDER_SPEND: &str = "ai_video_provider_spend_dollars_total";
pub const REDIS_EVICTING: &str = "ai_video_redis_evicting";
pub const JOBS_STUCK: &str = "ai_video_jobs_stuck";
pub const WEBHOOK_ATTEMPTS: &str = "ai_video_webhook_attempts_total";

/// Unfinished jobs that nothing touched for `STUCK_AFTER`, fleet-wide (from the
/// database, when scraped).
pub fn jobs_stuck(n: u64) {
    gauge!(JOBS_STUCK).set(n as f64);
}

/// Whether Redis's `maxmemory-policy` can evict queued jobs (1) or not (0), as the
/// last readiness check found it.
pub fn redis_evicting(evicting: bool) {
    gauge!(REDIS_EVICTING).set(if evicting { 1.0 } else { 0.0 });
}

/// Dollars this process recorded as spent, per provider. Kept here rather than in
/// the exporter, whose counters count whole units; rendered as a float counter.
static SPEND: std::sync::Mutex<Vec<(Provider, rust_decimal::Decimal)>> =
    std::sync::Mutex::new(Vec::new());

/// A provider accepted something that costs `dollars` (recorded on the job).
pub fn provider_spend(provider: Provider, dollars: rust_decimal::Decimal) {
    if let Ok(mut spend) = SPEND.lock() {
        match spend.iter_mut().find(|(p, _)| *p == provider) {
            Some((_, total)) => *total += dollars,
            None => spend.push((provider, dollars)),
        }
    }
}

/// The spend counter in the exposition format, every provider listed.
fn render_spend() -> String {
    let spend = SPEND.lock().map(|s| s.clone()).unwrap_or_default();
    let mut out = format!(
        "# HELP {PROVIDER_SPEND} Dollars spent at each provider: every output it accepted, counted once.\n# TYPE {PROVIDER_SPEND} counter\n"
    );
    for provider in Provider::ALL {
        let total = spend
            .iter()
            .find(|(p, _)| p == provider)
            .map(|(_, d)| *d)
            .unwrap_or_default();
        out.push_str(&format!(
            "{PROVIDER_SPEND}{{provider=\"{provider}\"}} {}\n",
            total.normalize()
        ));
    }
    out
}

/// Installs the recorder and describes every metric; idempotent.
pub fn init(concurrency: usize) {
    ai_video_shared::telemetry::prometheus();
    describe_counter!(
        JOBS_STARTED,
        Unit::Count,
        "Job runs started, by kind and provider."
    );
    describe_counter!(JOBS_SUCCEEDED, Unit::Count, "Jobs that succeeded.");
    describe_counter!(
        JOBS_FAILED,
        Unit::Count,
        "Jobs that failed for good (no attempt left, or a permanent error)."
    );
    describe_counter!(
        JOBS_RETRIED,
        Unit::Count,
        "Failed runs that will be retried after their backoff."
    );
    describe_counter!(
        JOBS_DELAYED,
        Unit::Count,
        "Runs put back by a rate limit, without using an attempt."
    );
    describe_gauge!(JOBS_IN_FLIGHT, Unit::Count, "Jobs running in this process.");
    describe_gauge!(
        REDIS_EVICTING,
        "1 when Redis's maxmemory-policy can evict queued jobs (set noeviction), else 0."
    );
    gauge!(REDIS_EVICTING).set(0.0);
    describe_gauge!(
        JOBS_STUCK,
        Unit::Count,
        "Unfinished jobs untouched for 30 minutes (read from the database when scraped)."
    );
    gauge!(JOBS_STUCK).set(0.0);
    describe_histogram!(
        JOB_DURATION,
        Unit::Seconds,
        "Generation time of a run, start to finish."
    );
    describe_histogram!(
        JOB_QUEUE_WAIT,
        Unit::Seconds,
        "Time between a job's enqueue and the start of its run."
    );
    describe_histogram!(
        JOB_COST,
        "Money a succeeded job cost, in dollars; the sum is the spend."
    );
    describe_gauge!(
        QUEUE_JOBS,
        Unit::Count,
        "Jobs in the queue by state, read from Redis when scraped."
    );
    describe_gauge!(
        QUEUE_WAITING,
        Unit::Count,
        "Waiting jobs by priority (1 is the highest)."
    );
    describe_counter!(
        PROVIDER_REQUESTS,
        Unit::Count,
        "Requests to providers, by provider and status class."
    );
    describe_histogram!(
        PROVIDER_DURATION,
        Unit::Seconds,
        "Time to an answer from a provider."
    );
    describe_counter!(
        PROVIDER_RATE_LIMITED,
        Unit::Count,
        "Requests held back: by the provider (429) or by our own fleet-wide limit."
    );
    describe_histogram!(
        PROVIDER_LIMIT_WAIT,
        Unit::Seconds,
        "How long a rate-limited job is put back for."
    );
    describe_gauge!(
        CONCURRENCY,
        Unit::Count,
        "Jobs this process may run at once (WORKER_CONCURRENCY)."
    );
    describe_counter!(
        WEBHOOK_ATTEMPTS,
        Unit::Count,
        "Webhook delivery attempts, by outcome (delivered, retry, failed, gone)."
    );
    gauge!(CONCURRENCY).set(concurrency as f64);
    gauge!(JOBS_IN_FLIGHT).set(0.0);
}

fn provider_label(provider: Option<Provider>) -> &'static str {
    provider.map(Provider::as_str).unwrap_or("none")
}

/// A run started after `waited` in the queue.
pub fn job_started(kind: JobKind, waited: Duration) {
    counter!(JOBS_STARTED, "kind" => kind.as_str(), "provider" => "any").increment(1);
    histogram!(JOB_QUEUE_WAIT, "kind" => kind.as_str()).record(waited.as_secs_f64());
    gauge!(JOBS_IN_FLIGHT).increment(1.0);
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    Succeeded,
    Failed,
    Retried,
    Delayed,
    Cancelled,
    Skipped,
}

/// A run ended.
pub fn job_ended(
    kind: JobKind,
    provider: Option<Provider>,
    ending: Ending,
    took: Duration,
    cost: f64,
) {
    gauge!(JOBS_IN_FLIGHT).decrement(1.0);
    let labels = [
        ("kind", kind.as_str()),
        ("provider", provider_label(provider)),
    ];
    let name = match ending {
        Ending::Succeeded => {
            histogram!(JOB_DURATION, &labels).record(took.as_secs_f64());
            histogram!(JOB_COST, &labels).record(cost);
            JOBS_SUCCEEDED
        }
        Ending::Failed => JOBS_FAILED,
        Ending::Retried => JOBS_RETRIED,
        Ending::Delayed => JOBS_DELAYED,
        Ending::Cancelled | Ending::Skipped => return,
    };
    counter!(name, &labels).increment(1);
}

/// A provider answered (or could not be reached: `status` is `None`).
pub fn provider_request(provider: Provider, status: Option<u16>, took: Duration) {
    let class = match status {
        Some(429) => "429".to_string(),
        Some(s) => format!("{}xx", s / 100),
        None => "error".to_string(),
    };
    counter!(PROVIDER_REQUESTS, "provider" => provider.as_str(), "status" => class).increment(1);
    histogram!(PROVIDER_DURATION, "provider" => provider.as_str()).record(took.as_secs_f64());
}

/// A request was held back for `wait`, by the provider's 429 or our own limit.
pub fn rate_limited(provider: Provider, by_provider: bool, wait: Duration) {
    let source = if by_provider { "provider" } else { "fleet" };
    counter!(PROVIDER_RATE_LIMITED, "provider" => provider.as_str(), "source" => source)
        .increment(1);
    histogram!(PROVIDER_LIMIT_WAIT, "provider" => provider.as_str()).record(wait.as_secs_f64());
}

/// Reads the queue's depth from Redis into the gauges (called on each scrape).
pub async fn record_queue_depth(queue: &bullmq::Queue) {
    match queue.get_job_counts().await {
        Ok(counts) => {
            for (state, n) in [
                ("waiting", counts.waiting),
                ("prioritized", counts.prioritized),
                ("delayed", counts.delayed),
                ("active", counts.active),
                ("waiting-children", counts.waiting_children),
                ("completed", counts.completed),
                ("failed", counts.failed),
            ] {
                gauge!(QUEUE_JOBS, "state" => state).set(n as f64);
            }
        }
        Err(e) => tracing::debug!(error = %e, "cannot read queue counts"),
    }
    let priorities: Vec<u64> = (1..=10).collect();
    match queue.get_counts_per_priority(&priorities).await {
        Ok(counts) => {
            for (priority, n) in counts {
                gauge!(QUEUE_WAITING, "priority" => priority.to_string()).set(n as f64);
            }
        }
        Err(e) => tracing::debug!(error = %e, "cannot read counts per priority"),
    }
}

/// `GET /metrics`.
pub fn render() -> String {
    let mut text = ai_video_shared::telemetry::prometheus().render();
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str(&render_spend());
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spend_is_a_float_counter_per_provider() {
        provider_spend(Provider::RunwayMl, rust_decimal::Decimal::new(35, 2));
        provider_spend(Provider::RunwayMl, rust_decimal::Decimal::new(6, 4));
        let text = render_spend();
        assert!(text.contains("# TYPE ai_video_provider_spend_dollars_total counter"));
        assert!(
            text.contains("ai_video_provider_spend_dollars_total{provider=\"runway_ml\"} 0.3506"),
            "{text}"
        );
        assert!(text.contains("ai_video_provider_spend_dollars_total{provider=\"local\"} 0"));
    }
}
