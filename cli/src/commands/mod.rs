//! The commands: each reads its arguments, calls the API and prints the answer,
//! as JSON with `--json` or for a person otherwise.

mod jobs;
mod login;
mod media;
mod stories;
mod webhooks;

use std::io::IsTerminal;

use crate::args::{Cli, Command};
use crate::client::Client;
use crate::config;
use crate::error::Result;

/// What every command runs with.
pub struct Ctx {
    pub client: Client,
    /// `--json`: the API's JSON on stdout, nothing else.
    pub json: bool,
    /// Whether stdout is a terminal (progress bars).
    pub terminal: bool,
    /// `--poll`: waits read snapshots only, never the event stream.
    pub poll: bool,
}

pub async fn run(cli: Cli) -> Result<()> {
    let path = config::file_path(config::process_env);
    if let Command::Login(args) = &cli.command {
        // A broken file is what `login` replaces, so it does not stop it.
        let file = path
            .as_deref()
            .map(|p| config::read_file(p).unwrap_or_default())
            .unwrap_or_default();
        let config = config::resolve(file, config::process_env, cli.url, cli.token);
        return login::run(&config, path, args, cli.json).await;
    }
    let file = match &path {
        Some(p) => config::read_file(p)?,
        None => config::FileConfig::default(),
    };
    let config = config::resolve(file, config::process_env, cli.url, cli.token);
    let ctx = Ctx {
        client: Client::new(&config)?,
        json: cli.json,
        terminal: std::io::stdout().is_terminal(),
        poll: cli.poll,
    };
    match cli.command {
        Command::Login(_) => unreachable!("handled above"),
        Command::Create(args) => stories::create(&ctx, &args).await,
        Command::Plan(args) => stories::work(&ctx, &args, stories::Step::Plan).await,
        Command::Preview(args) => stories::work(&ctx, &args, stories::Step::Preview).await,
        Command::Render(args) => stories::work(&ctx, &args, stories::Step::Render).await,
        Command::Watch(args) => stories::watch(&ctx, &args.id.to_string()).await,
        Command::Status(args) => stories::status(&ctx, &args.id.to_string()).await,
        Command::Ls(args) => stories::list(&ctx, &args).await,
        Command::Jobs(args) => jobs::list(&ctx, &args).await,
        Command::Retry(args) => jobs::retry(&ctx, &args.job_id.to_string()).await,
        Command::Cancel(args) => jobs::cancel(&ctx, &args.job_id.to_string()).await,
        Command::Download(args) => media::download(&ctx, &args).await,
        Command::Music(args) => media::music(&ctx, &args).await,
        Command::Webhooks(command) => webhooks::run(&ctx, command).await,
    }
}
