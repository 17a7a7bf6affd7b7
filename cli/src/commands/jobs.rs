//! `jobs`, `retry` and `cancel`.

use serde_json::Value;

use super::Ctx;
use crate::args::JobsArgs;
use crate::error::Result;
use crate::output::{self, field};

fn progress(job: &Value) -> String {
    match (job["status"].as_str(), job["progress"].as_f64()) {
        (Some("succeeded"), _) => "100%".into(),
        (_, Some(p)) => format!("{:.0}%", p * 100.0),
        _ => "-".into(),
    }
}

pub async fn list(ctx: &Ctx, args: &JobsArgs) -> Result<()> {
    let mut query = vec![("page", args.page.to_string())];
    if let Some(story) = args.story {
        query.push(("story", story.to_string()));
    }
    if args.failed {
        query.push(("status", "failed".into()));
    } else if let Some(s) = &args.status {
        query.push(("status", s.clone()));
    }
    if let Some(k) = &args.kind {
        query.push(("kind", k.clone()));
    }
    if let Some(size) = args.page_size {
        query.push(("page_size", size.to_string()));
    }
    let page = ctx.client.get_query("jobs/", &query).await?;
    if ctx.json {
        output::json(&page);
        return Ok(());
    }
    let results = page["results"].as_array().cloned().unwrap_or_default();
    let rows: Vec<Vec<String>> = results
        .iter()
        .map(|j| {
            vec![
                field(&j["id"]),
                field(&j["kind"]),
                field(&j["status"]),
                progress(j),
                field(&j["story"]),
                output::clip(&field(&j["last_error"]), 60),
            ]
        })
        .collect();
    println!(
        "{}",
        output::table(&["ID", "KIND", "STATUS", "DONE", "STORY", "ERROR"], &rows)
    );
    if !page["next"].is_null() || args.page > 1 {
        println!(
            "page {} ({} of {} jobs; --page N for more)",
            args.page,
            results.len(),
            field(&page["count"])
        );
    }
    Ok(())
}

pub async fn retry(ctx: &Ctx, id: &str) -> Result<()> {
    let job = ctx.client.post(&format!("jobs/{id}/retry/"), None).await?;
    if ctx.json {
        output::json(&job);
    } else {
        println!(
            "job {} {} (retry of {id}, story {})",
            field(&job["id"]),
            field(&job["status"]),
            field(&job["story"])
        );
    }
    Ok(())
}

pub async fn cancel(ctx: &Ctx, id: &str) -> Result<()> {
    let job = ctx.client.post(&format!("jobs/{id}/cancel/"), None).await?;
    if ctx.json {
        output::json(&job);
    } else {
        println!("job {id} {}", field(&job["status"]));
    }
    Ok(())
}
