//! Serves the fake Stability, Runway and Replicate APIs until SIGTERM or Ctrl-C, so
//! the demo can run against them: prints the base URLs as `export` lines.
//!
//!   fake-providers   # keys from STABILITY_AI_KEY, RUNWAY_ML_KEY, REPLICATE_API_TOKEN

use ai_video_tests::fakes::{FakeOptions, FakeReplicate, FakeRunway, FakeStability, OutputKind};

#[tokio::main]
async fn main() {
    let key = |var: &str, default: &str| std::env::var(var).unwrap_or_else(|_| default.to_string());
    let stability =
        FakeStability::start(FakeOptions::with_key(&key("STABILITY_AI_KEY", "sk-demo")));
    let runway = FakeRunway::start(FakeOptions::with_key(&key("RUNWAY_ML_KEY", "key_demo")));
    let replicate = FakeReplicate::start(FakeOptions::with_key(&key(
        "REPLICATE_API_TOKEN",
        "r8_demo",
    )));
    replicate.set_output_kind("black-forest-labs/flux-schnell", OutputKind::Image);
    println!("export STABILITY_API_BASE={}", stability.base_url());
    println!("export RUNWAY_API_BASE={}", runway.base_url());
    println!("export REPLICATE_API_BASE={}", replicate.base_url());
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term => {}
    }
}
