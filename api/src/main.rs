//! `ai-video-api`: serves the REST API; `ai-video-api migrate` applies the schema.

use std::process::ExitCode;

use ai_video_api::Api;
use ai_video_api::config::ApiConfig;
use ai_video_shared::config::{DatabaseConfig, Env, ProcessEnv};
use ai_video_shared::db;

const USAGE: &str = "usage: ai-video-api [serve | migrate | token USER [--admin] [--ttl SECONDS]]

  serve     serve the REST API on BIND_ADDR (the default)
  migrate   apply pending database migrations to DATABASE_URL and exit
  token     print an access token for USER signed with JWT_SECRET
            (for trying the API and for scripts; default lifetime one hour)

Configuration comes from the environment; see README.md.";

#[tokio::main]
async fn main() -> ExitCode {
    ai_video_shared::telemetry::init_logging();
    let command = std::env::args().nth(1);
    let result = match command.as_deref() {
        None | Some("serve") => serve().await,
        Some("migrate") => migrate().await,
        Some("token") => token(std::env::args().skip(2).collect()),
        Some("-h" | "--help" | "help") => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Some(other) => {
            eprintln!("ai-video-api: unknown command {other:?}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("ai-video-api: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve() -> anyhow::Result<()> {
    let config = ApiConfig::from_env(&ProcessEnv)?;
    let addr = config.bind_addr;
    let api = Api::new(config).await?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {addr} (BIND_ADDR): {e}"))?;
    tracing::info!(%addr, "ai-video-api listening");
    api.serve(listener, shutdown_signal()).await?;
    tracing::info!("ai-video-api stopped");
    Ok(())
}

async fn migrate() -> anyhow::Result<()> {
    let config = DatabaseConfig::from_env(&ProcessEnv)?;
    let conn = db::connect(&config).await?;
    db::migrate(&conn).await?;
    println!("migrations applied");
    Ok(())
}

fn token(args: Vec<String>) -> anyhow::Result<()> {
    let mut user = None;
    let mut admin = false;
    let mut ttl: i64 = 3600;
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--admin" => admin = true,
            "--ttl" => {
                ttl = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .ok_or_else(|| anyhow::anyhow!("--ttl needs a number of seconds"))?;
            }
            other if user.is_none() && !other.starts_with('-') => user = Some(other.to_string()),
            other => anyhow::bail!("unexpected argument {other:?}\n\n{USAGE}"),
        }
    }
    let user = user.ok_or_else(|| anyhow::anyhow!("token needs a user id\n\n{USAGE}"))?;
    let secret = ProcessEnv
        .var("JWT_SECRET")
        .ok_or_else(|| anyhow::anyhow!("token signs with JWT_SECRET, which is not set"))?;
    let checked = ai_video_api::config::JwtClaims {
        audience: ProcessEnv.var("JWT_AUDIENCE"),
        issuer: ProcessEnv.var("JWT_ISSUER"),
    };
    let token = ai_video_api::auth::mint(&secret, &user, admin, ttl, &checked)?;
    println!("{token}");
    Ok(())
}

/// Resolves on SIGTERM or Ctrl-C.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
    tracing::info!("shutdown requested; draining requests");
}
