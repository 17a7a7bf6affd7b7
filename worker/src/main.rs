//! `ai-video-worker`: runs jobs from the queue until SIGTERM or Ctrl-C.

use std::process::ExitCode;

use ai_video_shared::config::ProcessEnv;
use ai_video_worker::config::WorkerConfig;

#[tokio::main]
async fn main() -> ExitCode {
    ai_video_shared::telemetry::init_logging();
    if let Some(arg) = std::env::args().nth(1) {
        if arg == "-h" || arg == "--help" {
            println!(
                "usage: ai-video-worker\n\nRuns queued jobs; configuration comes from the environment (see docs/configuration.md)."
            );
            return ExitCode::SUCCESS;
        }
        eprintln!("ai-video-worker: unexpected argument {arg:?}; try --help");
        return ExitCode::from(2);
    }
    let config = match WorkerConfig::from_env(&ProcessEnv) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("ai-video-worker: {e}");
            return ExitCode::from(2);
        }
    };
    match ai_video_worker::run(config, shutdown_signal()).await {
        Ok(()) => {
            tracing::info!("ai-video-worker stopped");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("ai-video-worker: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}
