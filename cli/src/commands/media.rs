//! `download` (a story's video, streamed to a file) and `music` (its music bed).

use std::path::{Path, PathBuf};

use anyhow::Context;
use futures::StreamExt;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;

use super::Ctx;
use crate::args::{DownloadArgs, MusicArgs};
use crate::error::{CliError, Result};
use crate::output::{self, field};

/// A bar of bytes on a terminal, nothing elsewhere.
fn byte_bar(ctx: &Ctx, total: Option<u64>) -> ProgressBar {
    if ctx.json || !ctx.terminal {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(total, ProgressDrawTarget::stdout());
    let template = if total.is_some() {
        "{bytes:>10} / {total_bytes} [{bar:32}] {bytes_per_sec}"
    } else {
        "{spinner} {bytes} {bytes_per_sec}"
    };
    bar.set_style(
        ProgressStyle::with_template(template)
            .expect("the download template is valid")
            .progress_chars("=> "),
    );
    bar
}

/// The file beside `path` that the download goes to until it is complete.
fn partial(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".part");
    path.with_file_name(name)
}

pub async fn download(ctx: &Ctx, args: &DownloadArgs) -> Result<()> {
    let id = args.id.to_string();
    let story = ctx.client.get(&format!("stories/{id}/")).await?;
    let (which, link) = if args.preview {
        ("preview", story["preview_url"].as_str())
    } else {
        match story["final_url"].as_str() {
            Some(url) => ("final", Some(url)),
            None => ("preview", story["preview_url"].as_str()),
        }
    };
    let Some(link) = link else {
        return Err(CliError::Usage(format!(
            "story {id} has no video yet (it is {}); `ai-video render {id} --wait` makes one",
            field(&story["status"])
        )));
    };
    let url = ctx.client.media_url(link)?;
    let output = args
        .output
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("{id}.mp4")));
    let answer = ctx.client.fetch_media(url).await?;
    let bar = byte_bar(ctx, answer.content_length());
    let part = partial(&output);
    let mut file = tokio::fs::File::create(&part)
        .await
        .with_context(|| format!("cannot write {}", part.display()))?;
    let mut chunks = answer.bytes_stream();
    let mut written = 0u64;
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk.map_err(|e| CliError::Unreachable {
            url: "the video".into(),
            reason: format!("the download broke off: {e}"),
        })?;
        file.write_all(&chunk)
            .await
            .with_context(|| format!("cannot write {}", part.display()))?;
        written += chunk.len() as u64;
        bar.set_position(written);
    }
    file.flush()
        .await
        .and(file.sync_all().await)
        .with_context(|| format!("cannot write {}", part.display()))?;
    drop(file);
    tokio::fs::rename(&part, &output)
        .await
        .with_context(|| format!("cannot move the video to {}", output.display()))?;
    bar.finish_and_clear();
    if ctx.json {
        output::json(&json!({"story": id, "video": which, "path": output, "bytes": written}));
    } else {
        println!(
            "wrote {} ({which} video, {written} bytes)",
            output.display()
        );
    }
    Ok(())
}

/// The content type an audio file is sent as, by its extension.
fn audio_type(path: &Path) -> &'static str {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    match ext.as_str() {
        "mp3" => "audio/mpeg",
        "ogg" | "oga" | "opus" => "audio/ogg",
        "wav" => "audio/wav",
        "flac" => "audio/flac",
        "m4a" | "aac" | "mp4" => "audio/mp4",
        "webm" => "audio/webm",
        _ => "application/octet-stream",
    }
}

pub async fn music(ctx: &Ctx, args: &MusicArgs) -> Result<()> {
    let path = format!("stories/{}/music/", args.id);
    let story = match args.source.as_deref() {
        None => ctx.client.delete(&path).await?,
        Some(url) if url.starts_with("https://") || url.starts_with("http://") => {
            ctx.client.post(&path, Some(&json!({"url": url}))).await?
        }
        Some(file) => {
            let file = Path::new(file);
            let bytes = tokio::fs::read(file)
                .await
                .map_err(|e| CliError::Usage(format!("cannot read {}: {e}", file.display())))?;
            ctx.client
                .post_bytes(&path, audio_type(file), bytes)
                .await?
        }
    };
    if ctx.json {
        output::json(&story);
    } else {
        println!(
            "story {}: music {}",
            args.id,
            describe_music(&story["music"])
        );
    }
    Ok(())
}

fn describe_music(music: &Value) -> String {
    match music["source"].as_str() {
        Some("upload") => format!(
            "uploaded ({}, {} s, {} bytes)",
            field(&music["codec"]),
            field(&music["seconds"]),
            field(&music["bytes"])
        ),
        Some("url") => format!("from {}", field(&music["url"])),
        _ => "none".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audio_files_are_sent_with_their_type() {
        assert_eq!(audio_type(Path::new("bed.OGG")), "audio/ogg");
        assert_eq!(audio_type(Path::new("bed.mp3")), "audio/mpeg");
        assert_eq!(audio_type(Path::new("bed")), "application/octet-stream");
    }

    #[test]
    fn a_download_goes_to_a_part_file_first() {
        assert_eq!(
            partial(Path::new("out/film.mp4")),
            PathBuf::from("out/film.mp4.part")
        );
    }
}
