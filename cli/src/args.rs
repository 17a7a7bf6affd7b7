//! The command line: global flags, the commands and their options.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use uuid::Uuid;

const ABOUT: &str = "Turn a story into a video with the ai-video API: create it, plan it, \
    preview and render it, follow its progress, download the film.";

const AFTER_HELP: &str = "\
Configuration:
  AI_VIDEO_URL    the API base (default http://127.0.0.1:8000/api/ai-video)
  AI_VIDEO_TOKEN  a JWT, sent as `Authorization: Bearer`
  Both override the file written by `ai-video login`
  ($XDG_CONFIG_HOME/ai-video/config.json, else ~/.config/ai-video/config.json);
  --url and --token override both.

Exit codes:
  0  success
  1  anything else (a file that cannot be written, a wait whose job was cancelled)
  2  usage or client error: bad flags, a 4xx answer (not found, validation error)
  3  server error or unreachable API: a 5xx answer, connection refused, timeout
  4  the story failed (seen by --wait, or by `status`)";

const GLOBAL: &str = "Global options";

#[derive(Debug, Parser)]
#[command(name = "ai-video", version, about = ABOUT, after_help = AFTER_HELP)]
pub struct Cli {
    /// The API base URL (overrides AI_VIDEO_URL and the config file).
    #[arg(long, global = true, value_name = "URL", help_heading = GLOBAL)]
    pub url: Option<String>,
    /// The bearer token (overrides AI_VIDEO_TOKEN and the config file).
    #[arg(long, global = true, value_name = "JWT", help_heading = GLOBAL)]
    pub token: Option<String>,
    /// Print the API's JSON on stdout instead of human output.
    #[arg(long, global = true, help_heading = GLOBAL)]
    pub json: bool,
    /// While waiting, poll every second instead of following the event stream
    /// (for proxies that hold streamed answers back).
    #[arg(long, global = true, help_heading = GLOBAL)]
    pub poll: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Save the API URL and token (from --url and --token) in the config file.
    Login(LoginArgs),
    /// Create a story in draft; prints its id.
    Create(Box<CreateArgs>),
    /// Plan a story: its scenes and cost estimate.
    Plan(WorkArgs),
    /// Make the low-resolution preview of a planned story.
    Preview(WorkArgs),
    /// Render the final video of a previewed story.
    Render(WorkArgs),
    /// Follow a story's current work (planning, preview or render) until it ends.
    Watch(IdArg),
    /// Show one story.
    Status(IdArg),
    /// List your stories, newest first.
    Ls(LsArgs),
    /// List jobs, newest first.
    Jobs(JobsArgs),
    /// Run a failed or cancelled job again.
    Retry(JobArg),
    /// Cancel a queued or running job (with the rest of its preview or render).
    Cancel(JobArg),
    /// Download a story's final video (or its preview).
    Download(DownloadArgs),
    /// Give a draft or planned story a music bed, or remove it.
    Music(MusicArgs),
    /// Manage webhook endpoints that receive your stories' events.
    #[command(subcommand)]
    Webhooks(WebhookCommand),
}

#[derive(Debug, Args)]
pub struct LoginArgs {
    /// Save without checking the token against the API first.
    #[arg(long)]
    pub no_check: bool,
}

#[derive(Debug, Args)]
pub struct IdArg {
    /// The story's id.
    pub id: Uuid,
}

#[derive(Debug, Args)]
pub struct JobArg {
    /// The job's id.
    pub job_id: Uuid,
}

#[derive(Debug, Args)]
pub struct WorkArgs {
    /// The story's id.
    pub id: Uuid,
    /// Wait until the work is done, showing its progress.
    #[arg(long)]
    pub wait: bool,
    /// Priority of the queued work, 1 (highest) to 10.
    #[arg(long, value_parser = clap::value_parser!(u8).range(1..=10))]
    pub priority: Option<u8>,
    /// Recorded in the story's transition log.
    #[arg(long)]
    pub reason: Option<String>,
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// The story's title, 1 to 200 characters (required).
    #[arg(long)]
    pub title: Option<String>,
    /// What happens; planning makes a scene of each sentence or two.
    #[arg(long, conflicts_with = "synopsis_file")]
    pub synopsis: Option<String>,
    /// Read the synopsis from a file (`-` for stdin).
    #[arg(long, value_name = "PATH")]
    pub synopsis_file: Option<PathBuf>,
    /// Length of the video, 1 to 600 seconds [default: 30].
    #[arg(long, value_name = "SECS")]
    pub duration: Option<i64>,
    /// [default: 16:9]
    #[arg(long, value_parser = ["16:9", "9:16", "1:1", "4:3", "3:4", "21:9"])]
    pub aspect_ratio: Option<String>,
    /// Visual style, e.g. cinematic (the API's default), anime, watercolor.
    #[arg(long)]
    pub style: Option<String>,
    /// The narrator's language, e.g. en (default), fr, ko.
    #[arg(long)]
    pub language: Option<String>,
    /// Who makes the keyframes: local, stability_ai, runway_ml, replicate.
    #[arg(long, value_name = "PROVIDER")]
    pub image_provider: Option<String>,
    /// Who makes the clips: local, runway_ml, replicate.
    #[arg(long, value_name = "PROVIDER")]
    pub video_provider: Option<String>,
    /// Who writes the scenes: local (by rule) or openai (an LLM).
    #[arg(long, value_parser = ["local", "openai"])]
    pub planner: Option<String>,
    /// Leave the narration silent.
    #[arg(long)]
    pub no_narration: bool,
    /// Who speaks the narration: local, openai or elevenlabs.
    #[arg(long, value_parser = ["local", "openai", "elevenlabs"])]
    pub voice_provider: Option<String>,
    /// One of the voice provider's voices (the API lists them if unknown).
    #[arg(long, value_name = "NAME")]
    pub voice: Option<String>,
    /// Do not burn captions into the pictures (WebVTT and SubRip are made anyway).
    #[arg(long)]
    pub no_captions: bool,
    /// Where burned captions sit [default: bottom].
    #[arg(long, value_parser = ["bottom", "top"])]
    pub caption_position: Option<String>,
    /// How large burned captions are [default: medium].
    #[arg(long, value_parser = ["small", "medium", "large"])]
    pub caption_size: Option<String>,
    /// How scenes give way to each other.
    #[arg(long, value_parser = ["cut", "crossfade", "fade_black"])]
    pub transition: Option<String>,
    /// Length of a crossfade or fade, 0.1 to 2 seconds.
    #[arg(long, value_name = "SECS")]
    pub transition_seconds: Option<f64>,
    /// More of the story body as a JSON object (or @FILE), merged under the flags:
    /// a flag wins over the same member here.
    #[arg(long, value_name = "JSON")]
    pub options_json: Option<String>,
}

#[derive(Debug, Args)]
pub struct LsArgs {
    /// Only stories in this status (draft, planning, planned, previewing,
    /// rendering, completed, failed, archived).
    #[arg(long)]
    pub status: Option<String>,
    /// The page to show (20 stories a page unless --page-size).
    #[arg(long, default_value_t = 1, conflicts_with = "all")]
    pub page: u64,
    /// 1 to 100.
    #[arg(long, value_parser = clap::value_parser!(u8).range(1..=100))]
    pub page_size: Option<u8>,
    /// Every page.
    #[arg(long)]
    pub all: bool,
}

#[derive(Debug, Args)]
pub struct JobsArgs {
    /// Only this story's jobs.
    #[arg(long, value_name = "ID")]
    pub story: Option<Uuid>,
    /// Only failed jobs (same as --status failed).
    #[arg(long, conflicts_with = "status")]
    pub failed: bool,
    /// queued, running, retrying, succeeded, failed or cancelled.
    #[arg(long)]
    pub status: Option<String>,
    /// plan_story, generate_scene, generate_preview or render_final.
    #[arg(long)]
    pub kind: Option<String>,
    #[arg(long, default_value_t = 1)]
    pub page: u64,
    /// 1 to 100.
    #[arg(long, value_parser = clap::value_parser!(u8).range(1..=100))]
    pub page_size: Option<u8>,
}

#[derive(Debug, Args)]
pub struct DownloadArgs {
    /// The story's id.
    pub id: Uuid,
    /// Where to write the video [default: <id>.mp4].
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// The preview instead of the final video.
    #[arg(long)]
    pub preview: bool,
}

#[derive(Debug, Args)]
pub struct MusicArgs {
    /// The story's id.
    pub id: Uuid,
    /// An audio file to upload, or an https URL the worker fetches.
    #[arg(required_unless_present = "remove")]
    pub source: Option<String>,
    /// Remove the music bed.
    #[arg(long, conflicts_with = "source")]
    pub remove: bool,
}

#[derive(Debug, Subcommand)]
pub enum WebhookCommand {
    /// Add an endpoint; prints its signing secret, shown this once.
    Add {
        /// Where events are POSTed (an https URL).
        #[arg(value_name = "URL")]
        endpoint: String,
        /// An event type to deliver (repeat for more); every type when left out.
        #[arg(long = "event", value_name = "TYPE")]
        events: Vec<String>,
        #[arg(long)]
        description: Option<String>,
        /// Add it switched off.
        #[arg(long)]
        disabled: bool,
    },
    /// List your endpoints.
    Ls,
    /// Remove an endpoint.
    Rm {
        /// The endpoint's id.
        id: Uuid,
    },
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn global_flags_go_anywhere() {
        let cli = Cli::parse_from([
            "ai-video",
            "status",
            "6f1c2f2e-5b8e-4c38-9b8e-2f7c1e0f4a11",
            "--json",
            "--url",
            "http://x",
        ]);
        assert!(cli.json);
        assert_eq!(cli.url.as_deref(), Some("http://x"));
    }

    #[test]
    fn a_webhook_url_is_not_the_api_url() {
        let cli = Cli::parse_from([
            "ai-video",
            "webhooks",
            "add",
            "https://hooks.example/in",
            "--event",
            "story.completed",
        ]);
        assert_eq!(cli.url, None);
        let Command::Webhooks(WebhookCommand::Add {
            endpoint, events, ..
        }) = cli.command
        else {
            panic!("webhooks add")
        };
        assert_eq!(endpoint, "https://hooks.example/in");
        assert_eq!(events, ["story.completed"]);
    }
}
