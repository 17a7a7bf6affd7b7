//! The `ai-video` command-line client as a user runs it: the built binary with
//! `AI_VIDEO_URL` and `AI_VIDEO_TOKEN` pointing at a test app, either on pipes or
//! in a pseudo-terminal (util-linux `script`), where it draws progress bars.
//! Each client gets an empty home, so no configuration file of the machine leaks in.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;

use crate::{TempDir, TestApp};

/// How long one command may run.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(180);

/// The client, configured for one app and one user.
pub struct Cli {
    bin: PathBuf,
    url: String,
    token: String,
    home: TempDir,
}

/// What a command left behind.
#[derive(Debug)]
pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    #[track_caller]
    pub fn assert_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code, code,
            "exit code\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }

    /// Stdout as JSON, asserting that it is JSON and nothing else.
    #[track_caller]
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", self.stdout))
    }
}

/// A shell word: the text in single quotes.
fn quote(word: &str) -> String {
    format!("'{}'", word.replace('\'', r"'\''"))
}

impl TestApp {
    /// The client of this app, as the user of `token`.
    pub fn cli(&self, token: &str) -> Cli {
        Cli {
            bin: crate::worker::binary("ai-video"),
            url: self.url(""),
            token: token.to_string(),
            home: TempDir::new(),
        }
    }
}

impl Cli {
    /// The same client against another API base (a closed port, say).
    pub fn with_url(mut self, url: &str) -> Self {
        self.url = url.to_string();
        self
    }

    /// The client's home directory (its configuration lives under it).
    pub fn home(&self) -> &std::path::Path {
        &self.home.path
    }

    fn command(&self, program: &std::path::Path) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(program);
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", &self.home.path)
            .env("TERM", "xterm")
            .env("AI_VIDEO_URL", &self.url)
            .env("AI_VIDEO_TOKEN", &self.token)
            .current_dir(&self.home.path)
            .stdin(Stdio::null())
            .kill_on_drop(true);
        cmd
    }

    async fn finish(mut cmd: tokio::process::Command, what: &str) -> Output {
        let out = tokio::time::timeout(COMMAND_TIMEOUT, cmd.output())
            .await
            .unwrap_or_else(|_| panic!("`{what}` ran longer than {COMMAND_TIMEOUT:?}"))
            .expect("the client starts");
        Output {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Runs `ai-video ARGS` with stdout and stderr on pipes.
    pub async fn run(&self, args: &[&str]) -> Output {
        let mut cmd = self.command(&self.bin);
        cmd.args(args);
        Self::finish(cmd, &args.join(" ")).await
    }

    /// Runs `ai-video ARGS --json` and answers its stdout, asserting exit code 0.
    pub async fn json(&self, args: &[&str]) -> Value {
        let out = self.run(&[args, &["--json"]].concat()).await;
        out.assert_code(0);
        out.json()
    }

    /// Runs `ai-video ARGS` in a pseudo-terminal (`script -qec`): stdout and stderr
    /// both arrive, as a terminal shows them, in `stdout`.
    pub async fn run_in_terminal(&self, args: &[&str]) -> Output {
        let line = std::iter::once(self.bin.display().to_string())
            .chain(args.iter().map(|a| a.to_string()))
            .map(|w| quote(&w))
            .collect::<Vec<_>>()
            .join(" ");
        let mut cmd = self.command(std::path::Path::new("script"));
        cmd.args(["-qec", &line, "/dev/null"]);
        Self::finish(cmd, &args.join(" ")).await
    }
}
