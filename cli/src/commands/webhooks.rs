//! `webhooks add | ls | rm`: the endpoints that receive the user's events.

use serde_json::{Value, json};

use super::Ctx;
use crate::args::WebhookCommand;
use crate::error::Result;
use crate::output::{self, field};

pub async fn run(ctx: &Ctx, command: WebhookCommand) -> Result<()> {
    match command {
        WebhookCommand::Add {
            endpoint,
            events,
            description,
            disabled,
        } => {
            let body = json!({
                "url": endpoint,
                "events": events,
                "description": description.unwrap_or_default(),
                "enabled": !disabled,
            });
            let endpoint = ctx.client.post("webhooks/", Some(&body)).await?;
            if ctx.json {
                output::json(&endpoint);
            } else {
                println!(
                    "webhook {} added for {}",
                    field(&endpoint["id"]),
                    field(&endpoint["url"])
                );
                println!(
                    "secret: {} (shown this once: keep it to verify the signatures)",
                    field(&endpoint["secret"])
                );
            }
        }
        WebhookCommand::Ls => {
            let endpoints = ctx.client.all_pages("webhooks/", &[]).await?;
            if ctx.json {
                output::json(&json!({
                    "count": endpoints.len(), "next": null, "previous": null, "results": endpoints,
                }));
                return Ok(());
            }
            let rows: Vec<Vec<String>> = endpoints.iter().map(row).collect();
            println!(
                "{}",
                output::table(&["ID", "ENABLED", "EVENTS", "URL", "DESCRIPTION"], &rows)
            );
        }
        WebhookCommand::Rm { id } => {
            ctx.client.delete(&format!("webhooks/{id}/")).await?;
            if ctx.json {
                output::json(&json!({"id": id, "deleted": true}));
            } else {
                println!("webhook {id} removed");
            }
        }
    }
    Ok(())
}

fn row(endpoint: &Value) -> Vec<String> {
    let events: Vec<String> = endpoint["events"]
        .as_array()
        .map(|a| a.iter().map(field).collect())
        .unwrap_or_default();
    vec![
        field(&endpoint["id"]),
        if endpoint["enabled"] == false {
            "no".into()
        } else {
            "yes".into()
        },
        if events.is_empty() {
            "all".into()
        } else {
            events.join(",")
        },
        field(&endpoint["url"]),
        output::clip(&field(&endpoint["description"]), 40),
    ]
}
