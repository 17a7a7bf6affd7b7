//! Budgets and quotas, enforced before a preview or render is queued: the estimate
//! of the work asked for, plus what the owner already spent this month and what their
//! unfinished previews and renders are expected to cost, must fit the monthly budget;
//! their previews and renders running at once, and the video seconds they asked for
//! today, must fit their quotas. The check runs in the transaction that queues the
//! work, under a per-user lock on Postgres, so two replicas cannot both pass it.

use std::collections::HashMap;

use chrono::{DateTime, Datelike, TimeZone, Utc};
use rust_decimal::Decimal;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseBackend, DatabaseConnection, EntityTrait,
    QueryFilter, QuerySelect, Set, Statement,
};
use serde::Serialize;

use super::transitions::ACTIVE;
use super::{StoreError, StoreResult};
use crate::db::Money;
use crate::db::entities::{job, scene, story, user_quota};
use crate::domain::{CostEstimate, JobKind, JobParameters, JobStatus, QuotaLimits, RenderQuality};

/// One user's limits and how much of them is used.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Usage {
    pub user: String,
    pub limits: QuotaLimits,
    /// Recorded purchases of jobs created this calendar month (UTC).
    #[schema(value_type = String)]
    pub spent_this_month: Decimal,
    /// Estimates of the previews and renders still queued or running.
    #[schema(value_type = String)]
    pub committed: Decimal,
    /// What is left of the monthly budget.
    #[schema(value_type = String)]
    pub remaining: Decimal,
    /// Previews and renders queued or running now.
    pub rendering: u32,
    /// Video seconds of the previews and renders asked for today (UTC).
    pub video_seconds_today: u32,
}

/// A change to a user's limits: a field left out stays, `null` returns it to the
/// deployment's default.
#[derive(Debug, Clone, Default)]
pub struct QuotaPatch {
    pub monthly_budget: Option<Option<Decimal>>,
    pub max_rendering: Option<Option<u32>>,
    pub daily_video_seconds: Option<Option<u32>>,
}

fn month_start(now: DateTime<Utc>) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(now.year(), now.month(), 1, 0, 0, 0)
        .single()
        .unwrap_or(now)
}

fn day_start(now: DateTime<Utc>) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(now.year(), now.month(), now.day(), 0, 0, 0)
        .single()
        .unwrap_or(now)
}

/// The user's limits: their overrides over `defaults`.
pub async fn limits_for<C: ConnectionTrait>(
    db: &C,
    user: &str,
    defaults: QuotaLimits,
) -> StoreResult<QuotaLimits> {
    let row = user_quota::Entity::find_by_id(user.to_owned())
        .one(db)
        .await?;
    Ok(limits_of(row, defaults))
}

fn limits_of(row: Option<user_quota::Model>, defaults: QuotaLimits) -> QuotaLimits {
    let mut limits = match row {
        None => defaults,
        Some(r) => QuotaLimits {
            monthly_budget: r.monthly_budget.map_or(defaults.monthly_budget, |m| m.0),
            max_rendering: r
                .max_rendering
                .map_or(defaults.max_rendering, |v| v.max(0) as u32),
            daily_video_seconds: r
                .daily_video_seconds
                .map_or(defaults.daily_video_seconds, |v| v.max(0) as u32),
        },
    };
    // Dollars always show four places, as every amount in the API does.
    limits.monthly_budget.rescale(CostEstimate::SCALE);
    limits
}

/// What `user` has used of `limits`.
pub async fn usage<C: ConnectionTrait>(
    db: &C,
    user: &str,
    limits: QuotaLimits,
) -> StoreResult<Usage> {
    let users = [user.to_owned()];
    let mut used = used_by(db, &users).await?;
    Ok(used.remove(user).unwrap_or_default().against(user, limits))
}

/// The limits and usage of each of `users` (their overrides over `defaults`), in
/// their order, read in three queries whatever their number.
pub async fn usages<C: ConnectionTrait>(
    db: &C,
    users: &[String],
    defaults: QuotaLimits,
) -> StoreResult<Vec<Usage>> {
    let mut rows: HashMap<String, user_quota::Model> = user_quota::Entity::find()
        .filter(user_quota::Column::UserId.is_in(users.iter().cloned()))
        .all(db)
        .await?
        .into_iter()
        .map(|r| (r.user_id.clone(), r))
        .collect();
    let mut used = used_by(db, users).await?;
    Ok(users
        .iter()
        .map(|u| {
            let limits = limits_of(rows.remove(u), defaults);
            used.remove(u).unwrap_or_default().against(u, limits)
        })
        .collect())
}

/// What one user used.
#[derive(Debug, Default)]
struct Used {
    spent: Decimal,
    committed: Decimal,
    rendering: u32,
    seconds_today: u32,
}

impl Used {
    fn against(self, user: &str, limits: QuotaLimits) -> Usage {
        let remaining = (limits.monthly_budget - self.spent - self.committed).max(Decimal::ZERO);
        Usage {
            user: user.to_owned(),
            limits,
            spent_this_month: self.spent.round_dp(CostEstimate::SCALE),
            committed: self.committed.round_dp(CostEstimate::SCALE),
            remaining: remaining.round_dp(CostEstimate::SCALE),
            rendering: self.rendering,
            video_seconds_today: self.seconds_today,
        }
    }
}

/// Spent this month (what jobs created this month cost), committed to unfinished
/// previews, renders and scenes (their estimates), previews and renders running,
/// and seconds of video asked for today, of each of `users`.
async fn used_by<C: ConnectionTrait>(
    db: &C,
    users: &[String],
) -> StoreResult<HashMap<String, Used>> {
    let mut used: HashMap<String, Used> = HashMap::new();
    if users.is_empty() {
        return Ok(used);
    }
    let now = Utc::now();
    // Summed in the database, exactly, in ten-thousandths of a dollar.
    let d = super::rollup::Dialect::of(db);
    let spent: Vec<(String, Option<i64>)> = job::Entity::find()
        .select_only()
        .column(job::Column::OwnerId)
        .column_as(Expr::cust(d.sum(d.cost_units())), "units")
        .filter(job::Column::OwnerId.is_in(users.iter().cloned()))
        .filter(job::Column::CreatedAt.gte(month_start(now)))
        .filter(job::Column::Cost.is_not_null())
        .group_by(job::Column::OwnerId)
        .into_tuple()
        .all(db)
        .await?;
    for (owner, units) in spent {
        used.entry(owner).or_default().spent = Decimal::new(units.unwrap_or(0), 4);
    }
    let today = day_start(now);
    let asked: Vec<(String, JobKind, JobStatus, serde_json::Value, DateTime<Utc>)> =
        job::Entity::find()
            .select_only()
            .column(job::Column::OwnerId)
            .column(job::Column::Kind)
            .column(job::Column::Status)
            .column(job::Column::Parameters)
            .column(job::Column::CreatedAt)
            .filter(job::Column::OwnerId.is_in(users.iter().cloned()))
            .filter(job::Column::ParentId.is_null())
            .filter(job::Column::Kind.is_in([
                JobKind::GeneratePreview,
                JobKind::RenderFinal,
                JobKind::GenerateScene,
            ]))
            .filter(
                Condition::any()
                    .add(job::Column::CreatedAt.gte(today))
                    .add(job::Column::Status.is_in(ACTIVE)),
            )
            .into_tuple()
            .all(db)
            .await?;
    for (owner, kind, status, parameters, created_at) in asked {
        let u = used.entry(owner).or_default();
        let params = JobParameters::parse(&parameters).unwrap_or_default();
        if ACTIVE.contains(&status) {
            u.committed += params.estimate.unwrap_or_default();
            if kind != JobKind::GenerateScene {
                u.rendering += 1;
            }
        }
        if created_at >= today && status != JobStatus::Cancelled {
            u.seconds_today += params.video_seconds.unwrap_or(0);
        }
    }
    Ok(used)
}

/// Work asked for: what it is, what it is expected to cost and the seconds of video
/// it makes.
#[derive(Debug, Clone, Copy)]
pub struct Ask {
    pub kind: JobKind,
    pub amount: Decimal,
    pub seconds: u32,
}

fn stored_estimate(story: &story::Model) -> Option<CostEstimate> {
    story
        .cost_estimate
        .clone()
        .and_then(|v| serde_json::from_value::<CostEstimate>(v).ok())
}

/// A preview or render of `story`: its keyframes and its clips at the quality asked
/// for (the estimate stored when the story was planned).
pub fn ask(story: &story::Model, kind: JobKind) -> Ask {
    let amount = match (stored_estimate(story), kind) {
        (Some(e), JobKind::RenderFinal) => e.images + e.video,
        (Some(e), _) => e.images + e.preview,
        (None, _) => Decimal::ZERO,
    };
    Ask {
        kind,
        amount: amount.round_dp(CostEstimate::SCALE),
        seconds: story.duration_seconds.max(0) as u32,
    }
}

/// One scene of `story` made again on its own: its share of the stored estimate (one
/// keyframe, and its seconds of the preview or final video).
pub async fn ask_scene<C: ConnectionTrait>(
    db: &C,
    story: &story::Model,
    scene_seconds: u32,
    quality: RenderQuality,
) -> StoreResult<Ask> {
    let durations: Vec<i32> = scene::Entity::find()
        .select_only()
        .column(scene::Column::DurationSeconds)
        .filter(scene::Column::StoryId.eq(story.id))
        .into_tuple()
        .all(db)
        .await?;
    let count = Decimal::from(durations.len().max(1));
    let total = Decimal::from(durations.iter().map(|d| i64::from(*d)).sum::<i64>().max(1));
    let amount = match stored_estimate(story) {
        Some(e) => {
            let video = match quality {
                RenderQuality::Final => e.video,
                RenderQuality::Preview => e.preview,
            };
            e.images / count + video * Decimal::from(scene_seconds) / total
        }
        None => Decimal::ZERO,
    };
    Ok(Ask {
        kind: JobKind::GenerateScene,
        amount: amount.round_dp(CostEstimate::SCALE),
        seconds: scene_seconds,
    })
}

/// Refuses work on `story` that would take its owner past a limit: the budget and the
/// seconds a day for any work, the previews and renders at once for those.
pub async fn check<C: ConnectionTrait>(
    db: &C,
    story: &story::Model,
    ask: Ask,
    defaults: QuotaLimits,
) -> StoreResult<()> {
    let user = story.owner_id.as_str();
    if db.get_database_backend() == DatabaseBackend::Postgres {
        // One check at a time per user, across every replica; released at commit.
        db.execute_raw(Statement::from_sql_and_values(
            DatabaseBackend::Postgres,
            "SELECT pg_advisory_xact_lock(hashtext($1))",
            [user.into()],
        ))
        .await?;
    }
    let limits = limits_for(db, user, defaults).await?;
    let used = usage(db, user, limits).await?;
    let Ask {
        kind,
        amount: asked,
        seconds,
    } = ask;
    let total = used.spent_this_month + used.committed + asked;
    if total > limits.monthly_budget {
        return Err(StoreError::OverBudget {
            message: format!(
                "this {kind} is estimated at ${asked}; with ${} spent this month and ${} committed to unfinished work, it would pass the monthly budget of ${}",
                used.spent_this_month, used.committed, limits.monthly_budget
            ),
            budget: limits.monthly_budget,
            spent: used.spent_this_month,
            committed: used.committed,
            asked,
        });
    }
    if kind != JobKind::GenerateScene && used.rendering >= limits.max_rendering {
        return Err(StoreError::OverQuota {
            message: format!(
                "{} previews or renders are already queued or running; at most {} at once",
                used.rendering, limits.max_rendering
            ),
            retry_after_secs: 60,
        });
    }
    if used.video_seconds_today + seconds > limits.daily_video_seconds {
        let now = Utc::now();
        let tomorrow = day_start(now) + chrono::Duration::days(1);
        return Err(StoreError::OverQuota {
            message: format!(
                "{seconds} s of video would make {} s today; at most {} s a day",
                used.video_seconds_today + seconds,
                limits.daily_video_seconds
            ),
            retry_after_secs: (tomorrow - now).num_seconds().max(1) as u64,
        });
    }
    Ok(())
}

/// Applies an admin's change to `user`'s limits.
pub async fn patch(db: &DatabaseConnection, user: &str, change: QuotaPatch) -> StoreResult<()> {
    let current = user_quota::Entity::find_by_id(user.to_owned())
        .one(db)
        .await?;
    let keep = current.as_ref();
    let budget = match change.monthly_budget {
        Some(v) => v.map(|d| Money::new(d.round_dp(CostEstimate::SCALE))),
        None => keep.and_then(|r| r.monthly_budget),
    };
    let rendering = match change.max_rendering {
        Some(v) => v.map(|n| n as i32),
        None => keep.and_then(|r| r.max_rendering),
    };
    let seconds = match change.daily_video_seconds {
        Some(v) => v.map(|n| n as i32),
        None => keep.and_then(|r| r.daily_video_seconds),
    };
    let row = user_quota::ActiveModel {
        user_id: Set(user.to_owned()),
        monthly_budget: Set(budget),
        max_rendering: Set(rendering),
        daily_video_seconds: Set(seconds),
        updated_at: Set(Utc::now()),
    };
    user_quota::Entity::insert(row)
        .on_conflict(
            OnConflict::column(user_quota::Column::UserId)
                .update_columns([
                    user_quota::Column::MonthlyBudget,
                    user_quota::Column::MaxRendering,
                    user_quota::Column::DailyVideoSeconds,
                    user_quota::Column::UpdatedAt,
                ])
                .to_owned(),
        )
        .exec(db)
        .await?;
    Ok(())
}

/// One page of the users who own a story or have quotas of their own, by id.
pub async fn users(
    db: &sea_orm::DatabaseConnection,
    page: super::PageRequest,
) -> StoreResult<super::Page<String>> {
    use sea_orm::FromQueryResult;

    #[derive(FromQueryResult)]
    struct User {
        user_id: String,
    }
    #[derive(FromQueryResult)]
    struct Count {
        n: i64,
    }
    const USERS: &str = "SELECT owner_id AS user_id FROM stories \
                         UNION SELECT user_id FROM user_quotas";
    let backend = db.get_database_backend();
    let count = Count::find_by_statement(Statement::from_string(
        backend,
        format!("SELECT COUNT(*) AS n FROM ({USERS}) AS users"),
    ))
    .one(db)
    .await?
    .map_or(0, |c| c.n.max(0) as u64);
    let offset = (page.page - 1) * page.page_size;
    let items = User::find_by_statement(Statement::from_string(
        backend,
        format!(
            "SELECT user_id FROM ({USERS}) AS users ORDER BY user_id LIMIT {} OFFSET {offset}",
            page.page_size
        ),
    ))
    .all(db)
    .await?
    .into_iter()
    .map(|u| u.user_id)
    .collect();
    Ok(super::Page { items, count })
}
