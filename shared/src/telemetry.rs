//! Logs and the metrics recorder, set up the same way in both services.
//!
//! Logs: `tracing`, filtered by `RUST_LOG` (default `info`). JSON lines when stdout is
//! not a terminal (a container) and readable text on a terminal; `LOG_FORMAT=json` or
//! `text` decides explicitly. Span fields — the request id, story id and job id — are
//! on every line logged inside a request or a job. `LOG_FILE` also appends the same
//! lines (JSON) to a file, for hosts that want the seed's log file. Nothing logs a
//! token, key or secret: configuration holds them in `Secret`, whose `Debug` prints
//! nothing.
//!
//! Metrics: one Prometheus recorder per process, installed on first use; each service
//! declares its metrics in its own `metrics` module and renders them at `/metrics`.

use std::io::IsTerminal;
use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::writer::MakeWriterExt;

/// Keeps the log file's writer thread alive for the life of the process.
static FILE_GUARD: OnceLock<tracing_appender::non_blocking::WorkerGuard> = OnceLock::new();

/// Installs the global logger; call once, first thing in `main`.
pub fn init_logging() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let json = match std::env::var("LOG_FORMAT").ok().as_deref() {
        Some("json") => true,
        Some("text") => false,
        _ => !std::io::stdout().is_terminal(),
    };
    let file = std::env::var("LOG_FILE")
        .ok()
        .filter(|p| !p.trim().is_empty())
        .and_then(|path| {
            let path = std::path::Path::new(&path);
            let appender = tracing_appender::rolling::never(
                path.parent()
                    .filter(|p| !p.as_os_str().is_empty())
                    .unwrap_or(std::path::Path::new(".")),
                path.file_name()?,
            );
            let (writer, guard) = tracing_appender::non_blocking(appender);
            let _ = FILE_GUARD.set(guard);
            Some(writer)
        });
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    match (json || file.is_some(), file) {
        (_, Some(file)) => builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .with_writer(std::io::stdout.and(file))
            .init(),
        (true, None) => builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .init(),
        (false, None) => builder.init(),
    }
}

/// Histogram buckets for seconds-valued metrics: 5 ms to 20 min.
const SECONDS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0,
    1200.0,
];
/// Buckets for money per job, in dollars.
const DOLLARS: &[f64] = &[0.0, 0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// The process's Prometheus recorder, installed on first call.
pub fn prometheus() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), SECONDS)
            .and_then(|b| b.set_buckets_for_metric(Matcher::Suffix("_dollars".into()), DOLLARS))
            .expect("bucket lists are not empty")
            .build_recorder();
        let handle = recorder.handle();
        // Another recorder may exist only if a library installed one; keep ours then.
        let _ = metrics::set_global_recorder(recorder);
        handle
    })
}
