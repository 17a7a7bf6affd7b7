//! The seed's provider configurations, with model names the providers still serve.
//!
//! Stability keeps the seed's SDXL engine (its v1 API still names it) and limits;
//! Runway's seed model is retired, so `gen4_turbo` (image-to-video, 2–10 s) replaces
//! it; Replicate names one image and one video model; `local` is free and unlimited.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// provider, per minute, per hour, per image, per video second, settings.
const ROWS: &[(&str, i32, i32, &str, &str, &str)] = &[
    (
        "stability_ai",
        60,
        1000,
        "0.0200",
        "0.0500",
        r#"{"default_model": "stable-diffusion-xl-1024-v1-0", "steps": 30, "cfg_scale": 7}"#,
    ),
    (
        "runway_ml",
        30,
        500,
        "0.0300",
        "0.0800",
        r#"{"default_model": "gen4_turbo", "image_model": "gen4_image", "max_duration": 4}"#,
    ),
    (
        "replicate",
        60,
        1000,
        "0.0030",
        "0.0900",
        r#"{"image_model": "black-forest-labs/flux-schnell", "video_model": "wan-video/wan-2.2-i2v-fast"}"#,
    ),
    (
        "local",
        6000,
        360000,
        "0.0000",
        "0.0000",
        r#"{"preview_long_side": 640, "final_long_side": 1280, "fps": 24}"#,
    ),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let db = m.get_connection();
        for (provider, per_min, per_hour, per_image, per_second, settings) in ROWS {
            let settings = settings.replace('\'', "''");
            db.execute_unprepared(&format!(
                "INSERT INTO ai_provider_configs \
                 (provider, is_active, rate_limit_per_minute, rate_limit_per_hour, \
                  cost_per_image, cost_per_second_video, settings) \
                 VALUES ('{provider}', TRUE, {per_min}, {per_hour}, \
                  '{per_image}', '{per_second}', '{settings}')"
            ))
            .await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.get_connection()
            .execute_unprepared("DELETE FROM ai_provider_configs")
            .await?;
        Ok(())
    }
}
