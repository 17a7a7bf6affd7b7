//! `ai-video`: the command-line client of the ai-video API. It creates stories,
//! asks for their planning, preview and render, follows the work with progress
//! bars (the story's event stream, or polling), and downloads the film. Exit
//! codes are listed in `error.rs` and in `ai-video --help`.

mod args;
mod client;
mod commands;
mod config;
mod error;
mod follow;
mod output;
mod progress;

use std::process::ExitCode;

use clap::Parser;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = match args::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // `--help` and `--version` are errors to clap, printed on stdout.
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    match commands::run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{}", e.report());
            e.exit_code()
        }
    }
}
