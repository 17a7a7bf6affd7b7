//! `create`, `plan`, `preview`, `render`, `watch`, `status` and `ls`.

use std::io::Read;

use serde_json::{Map, Value, json};

use super::Ctx;
use crate::args::{CreateArgs, LsArgs, WorkArgs};
use crate::error::{CliError, Result};
use crate::follow::{self, Goal};
use crate::output::{self, field};
use crate::progress;

/// A story without `--duration` lasts this long.
const DEFAULT_DURATION: i64 = 30;

/// `--options-json`: an object, inline or from `@FILE`.
fn options(raw: &str) -> Result<Value> {
    let text = match raw.strip_prefix('@') {
        Some(path) => std::fs::read_to_string(path)
            .map_err(|e| CliError::Usage(format!("cannot read --options-json {path}: {e}")))?,
        None => raw.to_string(),
    };
    let value: Value = serde_json::from_str(&text)
        .map_err(|e| CliError::Usage(format!("--options-json is not JSON: {e}")))?;
    if !value.is_object() {
        return Err(CliError::Usage(
            "--options-json must be a JSON object".into(),
        ));
    }
    Ok(value)
}

/// Lays `over` onto `base`: objects member by member, anything else replaced.
fn merge(base: &mut Value, over: Value) {
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                merge(b.entry(k).or_insert(Value::Null), v);
            }
        }
        (b, o) => *b = o,
    }
}

fn synopsis(args: &CreateArgs) -> Result<Option<String>> {
    let Some(path) = &args.synopsis_file else {
        return Ok(args.synopsis.clone());
    };
    let mut text = String::new();
    let read = if path.as_os_str() == "-" {
        std::io::stdin().read_to_string(&mut text).map(|_| ())
    } else {
        std::fs::read_to_string(path).map(|t| text = t)
    };
    read.map_err(|e| CliError::Usage(format!("cannot read {}: {e}", path.display())))?;
    Ok(Some(text.trim_end().to_string()))
}

/// The body of `POST stories/`: `--options-json`, then the flags over it.
pub fn story_body(args: &CreateArgs) -> Result<Value> {
    let mut body = match &args.options_json {
        Some(raw) => options(raw)?,
        None => json!({}),
    };
    let mut flags = Map::new();
    let mut put = |key: &str, value: Option<Value>| {
        if let Some(v) = value {
            flags.insert(key.into(), v);
        }
    };
    put("title", args.title.clone().map(Value::from));
    put("synopsis", synopsis(args)?.map(Value::from));
    put("duration_seconds", args.duration.map(Value::from));
    put("aspect_ratio", args.aspect_ratio.clone().map(Value::from));
    put("style", args.style.clone().map(Value::from));
    put("language", args.language.clone().map(Value::from));
    put(
        "image_provider",
        args.image_provider.clone().map(Value::from),
    );
    put(
        "video_provider",
        args.video_provider.clone().map(Value::from),
    );

    let mut film = Map::new();
    if let Some(p) = &args.planner {
        film.insert("planner".into(), p.clone().into());
    }
    if args.no_narration {
        film.insert("narrate".into(), false.into());
    }
    let mut voice = Map::new();
    if let Some(p) = &args.voice_provider {
        voice.insert("provider".into(), p.clone().into());
    }
    if let Some(n) = &args.voice {
        voice.insert("name".into(), n.clone().into());
    }
    let mut captions = Map::new();
    if args.no_captions {
        captions.insert("burn".into(), false.into());
    }
    if let Some(p) = &args.caption_position {
        captions.insert("position".into(), p.clone().into());
    }
    if let Some(s) = &args.caption_size {
        captions.insert("size".into(), s.clone().into());
    }
    let mut transition = Map::new();
    if let Some(k) = &args.transition {
        transition.insert("kind".into(), k.clone().into());
    }
    if let Some(s) = args.transition_seconds {
        transition.insert("seconds".into(), s.into());
    }
    for (key, part) in [
        ("voice", voice),
        ("captions", captions),
        ("transition", transition),
    ] {
        if !part.is_empty() {
            film.insert(key.into(), Value::Object(part));
        }
    }
    if !film.is_empty() {
        flags.insert("film".into(), Value::Object(film));
    }
    merge(&mut body, Value::Object(flags));
    if body.get("title").is_none_or(Value::is_null) {
        return Err(CliError::Usage(
            "a story needs a title: --title TITLE (or \"title\" in --options-json)".into(),
        ));
    }
    if body.get("duration_seconds").is_none() {
        body["duration_seconds"] = DEFAULT_DURATION.into();
    }
    Ok(body)
}

pub async fn create(ctx: &Ctx, args: &CreateArgs) -> Result<()> {
    let body = story_body(args)?;
    let story = ctx.client.post("stories/", Some(&body)).await?;
    if ctx.json {
        output::json(&story);
    } else {
        println!("{}", field(&story["id"]));
    }
    Ok(())
}

/// The work `plan`, `preview` and `render` ask for.
#[derive(Debug, Clone, Copy)]
pub enum Step {
    Plan,
    Preview,
    Render,
}

pub async fn work(ctx: &Ctx, args: &WorkArgs, step: Step) -> Result<()> {
    let id = args.id.to_string();
    let mut body = Map::new();
    if let Some(p) = args.priority {
        body.insert("priority".into(), p.into());
    }
    if let Some(r) = &args.reason {
        body.insert("reason".into(), r.clone().into());
    }
    let (path, goal) = match step {
        Step::Plan => {
            body.insert("to".into(), "planning".into());
            (format!("stories/{id}/transition/"), Goal::Planned)
        }
        Step::Preview => (
            format!("stories/{id}/generate_preview/"),
            Goal::PreviewReady,
        ),
        Step::Render => (format!("stories/{id}/render_final/"), Goal::Completed),
    };
    let answer = ctx.client.post(&path, Some(&Value::Object(body))).await?;
    if !args.wait {
        if ctx.json {
            output::json(&answer);
        } else {
            println!(
                "story {id}: {} (job {})",
                field(&answer["story"]["status"]),
                field(&answer["job"]["id"])
            );
        }
        return Ok(());
    }
    if !ctx.json {
        println!(
            "story {id}: {}, waiting (Ctrl-C stops waiting, not the work)",
            field(&answer["story"]["status"])
        );
    }
    wait(ctx, &id, goal).await
}

/// Follows the story to `goal` and prints how it ended.
async fn wait(ctx: &Ctx, id: &str, goal: Goal) -> Result<()> {
    let display = progress::for_output(ctx.json, ctx.terminal);
    let story = follow::follow(&ctx.client, id, goal, display, !ctx.poll).await?;
    if ctx.json {
        output::json(&story);
        return Ok(());
    }
    match goal {
        Goal::Planned => {
            let scenes = ctx
                .client
                .get_query(
                    "scenes/",
                    &[("story", id.to_string()), ("page_size", "1".into())],
                )
                .await?;
            println!(
                "planned: {} scenes, estimated cost {}",
                field(&scenes["count"]),
                field(&story["estimated_cost"])
            );
        }
        Goal::PreviewReady => println!("preview ready: {}", media_link(ctx, &story["preview_url"])),
        Goal::Completed => {
            println!(
                "completed: {} (cost {})",
                media_link(ctx, &story["final_url"]),
                field(&story["actual_cost"])
            );
            println!("download it with: ai-video download {id} -o film.mp4");
        }
    }
    Ok(())
}

fn media_link(ctx: &Ctx, link: &Value) -> String {
    link.as_str()
        .and_then(|l| ctx.client.media_url(l).ok())
        .map_or_else(|| "-".into(), |u| u.to_string())
}

pub async fn watch(ctx: &Ctx, id: &str) -> Result<()> {
    let story = ctx.client.get(&format!("stories/{id}/")).await?;
    let status = field(&story["status"]);
    match Goal::of_status(&status) {
        Some(goal) => wait(ctx, id, goal).await,
        None if status == "failed" => Err(CliError::StoryFailed {
            id: id.to_string(),
            error: story["last_error"].as_str().map(String::from),
        }),
        None => {
            if ctx.json {
                output::json(&story);
            } else {
                println!("story {id}: {status}, no work under way");
            }
            Ok(())
        }
    }
}

/// `status`: the story; a failed story exits 4 after it is shown.
pub async fn status(ctx: &Ctx, id: &str) -> Result<()> {
    let story = ctx.client.get(&format!("stories/{id}/")).await?;
    if ctx.json {
        output::json(&story);
    } else {
        println!("{}", output::story(&ctx.client, &story));
    }
    if story["status"] == "failed" {
        return Err(CliError::StoryFailed {
            id: id.to_string(),
            error: story["last_error"].as_str().map(String::from),
        });
    }
    Ok(())
}

pub async fn list(ctx: &Ctx, args: &LsArgs) -> Result<()> {
    let mut query = Vec::new();
    if let Some(s) = &args.status {
        query.push(("status", s.clone()));
    }
    let page = if args.all {
        let results = ctx.client.all_pages("stories/", &query).await?;
        json!({"count": results.len(), "next": null, "previous": null, "results": results})
    } else {
        query.push(("page", args.page.to_string()));
        if let Some(size) = args.page_size {
            query.push(("page_size", size.to_string()));
        }
        ctx.client.get_query("stories/", &query).await?
    };
    if ctx.json {
        output::json(&page);
        return Ok(());
    }
    let results = page["results"].as_array().cloned().unwrap_or_default();
    let rows: Vec<Vec<String>> = results
        .iter()
        .map(|s| {
            vec![
                field(&s["id"]),
                field(&s["status"]),
                format!("{} s", field(&s["duration_seconds"])),
                field(&s["created_at"]).chars().take(10).collect(),
                output::clip(&field(&s["title"]), 48),
            ]
        })
        .collect();
    println!(
        "{}",
        output::table(&["ID", "STATUS", "LENGTH", "CREATED", "TITLE"], &rows)
    );
    let count = page["count"].as_u64().unwrap_or(0);
    if !page["next"].is_null() || args.page > 1 {
        println!(
            "page {} ({} of {count} stories; --page N for more, --all for every one)",
            args.page,
            results.len()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::args::{Cli, Command};

    fn body(argv: &[&str]) -> Result<Value> {
        let cli = Cli::parse_from([&["ai-video", "create"], argv].concat());
        let Command::Create(args) = cli.command else {
            panic!("create")
        };
        story_body(&args)
    }

    #[test]
    fn flags_make_the_story_body() {
        let b = body(&[
            "--title",
            "T",
            "--synopsis",
            "S.",
            "--duration",
            "21",
            "--aspect-ratio",
            "9:16",
            "--no-narration",
            "--voice",
            "en-us",
            "--caption-size",
            "large",
            "--transition",
            "crossfade",
            "--transition-seconds",
            "0.5",
        ])
        .unwrap();
        assert_eq!(
            b,
            json!({"title": "T", "synopsis": "S.", "duration_seconds": 21, "aspect_ratio": "9:16",
                   "film": {"narrate": false, "voice": {"name": "en-us"},
                            "captions": {"size": "large"},
                            "transition": {"kind": "crossfade", "seconds": 0.5}}})
        );
    }

    #[test]
    fn options_json_is_merged_under_the_flags() {
        let b = body(&[
            "--title",
            "Flag",
            "--caption-position",
            "top",
            "--options-json",
            r#"{"title": "Json", "style": "anime", "film": {"captions": {"burn": false}}}"#,
        ])
        .unwrap();
        assert_eq!(
            b,
            json!({"title": "Flag", "style": "anime", "duration_seconds": 30,
                   "film": {"captions": {"burn": false, "position": "top"}}})
        );
    }

    #[test]
    fn a_story_without_a_title_or_with_bad_options_is_a_usage_error() {
        assert!(matches!(
            body(&["--duration", "5"]),
            Err(CliError::Usage(_))
        ));
        assert!(matches!(
            body(&["--title", "T", "--options-json", "[1]"]),
            Err(CliError::Usage(_))
        ));
        assert!(matches!(
            body(&["--title", "T", "--options-json", "{"]),
            Err(CliError::Usage(_))
        ));
        assert!(body(&["--options-json", r#"{"title": "T"}"#]).is_ok());
    }
}
