//! `login`: saves the API URL and token in the config file, after checking that
//! the API takes the token (`GET quotas/me/`).

use std::path::PathBuf;

use serde_json::json;

use crate::args::LoginArgs;
use crate::client::Client;
use crate::config::{self, Config, FileConfig};
use crate::error::{CliError, Result};
use crate::output;

pub async fn run(
    config: &Config,
    path: Option<PathBuf>,
    args: &LoginArgs,
    json: bool,
) -> Result<()> {
    let Some(token) = config.token.clone() else {
        return Err(CliError::Usage(
            "login needs a token: ai-video login --url URL --token TOKEN".into(),
        ));
    };
    let path = path.ok_or_else(|| {
        CliError::Usage("neither XDG_CONFIG_HOME nor HOME is set: nowhere to save".into())
    })?;
    if !args.no_check {
        Client::new(config)?.get("quotas/me/").await?;
    }
    config::write_file(
        &path,
        &FileConfig {
            url: Some(config.url.clone()),
            token: Some(token),
        },
    )?;
    if json {
        output::json(&json!({"path": path, "url": config.url}));
    } else {
        println!("saved {} for {}", path.display(), config.url);
    }
    Ok(())
}
