//! The admin dashboard's figures: stories by status, the last day's jobs by
//! status, and the money jobs cost today and this month.

use chrono::{Datelike, Duration, TimeZone, Utc};
use rust_decimal::Decimal;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{DatabaseConnection, EntityTrait, FromQueryResult, QuerySelect};

use super::StoreResult;
use super::rollup::Dialect;
use crate::db::entities::story;
use crate::domain::{JobStatus, StoryStatus};

/// What the dashboard counts.
#[derive(Debug, Clone)]
pub struct Overview {
    /// Every status, in the state machine's order, with its count (zero included).
    pub stories_by_status: Vec<(StoryStatus, u64)>,
    /// Jobs created in the last 24 hours, by status (zero included).
    pub jobs_by_status: Vec<(JobStatus, u64)>,
    /// What jobs created since midnight UTC cost.
    pub cost_today: Decimal,
    /// What jobs created since the first of the month (UTC) cost.
    pub cost_this_month: Decimal,
}

pub async fn overview(db: &DatabaseConnection) -> StoreResult<Overview> {
    let now = Utc::now();
    let stories = story::Entity::find()
        .select_only()
        .column(story::Column::Status)
        .column_as(Expr::col(story::Column::Id).count(), "n")
        .group_by(story::Column::Status)
        .into_tuple::<(StoryStatus, i64)>()
        .all(db);
    let day_ago = now - Duration::hours(24);
    let today = Utc
        .with_ymd_and_hms(now.year(), now.month(), now.day(), 0, 0, 0)
        .single()
        .unwrap_or(now);
    let month = Utc
        .with_ymd_and_hms(now.year(), now.month(), 1, 0, 0, 0)
        .single()
        .unwrap_or(now);
    // One pass over the jobs since the earlier of a day ago and the month's start.
    let d = Dialect::of(db);
    let units = d.cost_units();
    let sql = format!(
        "SELECT status, {recent} AS recent, {spent_today} AS today, {spent_month} AS month \
         FROM jobs WHERE created_at >= {since} GROUP BY status",
        recent = d.sum(&format!(
            "CASE WHEN created_at >= {} THEN 1 ELSE 0 END",
            d.placeholder(1)
        )),
        spent_today = d.sum(&format!(
            "CASE WHEN created_at >= {} AND cost IS NOT NULL THEN {units} ELSE 0 END",
            d.placeholder(2)
        )),
        spent_month = d.sum(&format!(
            "CASE WHEN created_at >= {} AND cost IS NOT NULL THEN {units} ELSE 0 END",
            d.placeholder(3)
        )),
        since = d.placeholder(4),
    );
    let values = vec![
        day_ago.into(),
        today.into(),
        month.into(),
        std::cmp::min(day_ago, month).into(),
    ];
    let sums = JobSums::find_by_statement(d.statement(sql, values)).all(db);
    let (stories, rows) = futures::try_join!(stories, sums)?;
    let jobs: Vec<(JobStatus, i64)> = rows
        .iter()
        .filter_map(|r| Some((r.status.parse().ok()?, r.recent.unwrap_or(0))))
        .collect();
    let cents = |f: fn(&JobSums) -> Option<i64>| Decimal::new(rows.iter().filter_map(f).sum(), 4);
    Ok(Overview {
        stories_by_status: StoryStatus::ALL
            .iter()
            .map(|s| (*s, count_of(&stories, s)))
            .collect(),
        jobs_by_status: JobStatus::ALL
            .iter()
            .map(|s| (*s, count_of(&jobs, s)))
            .collect(),
        cost_today: cents(|r| r.today),
        cost_this_month: cents(|r| r.month),
    })
}

fn count_of<T: PartialEq>(rows: &[(T, i64)], status: &T) -> u64 {
    rows.iter()
        .find(|(s, _)| s == status)
        .map_or(0, |(_, n)| u64::try_from(*n).unwrap_or(0))
}

/// The jobs of one status since the earliest period: how many are of the last day,
/// and what those of today and of this month cost, in ten-thousandths of a dollar.
#[derive(FromQueryResult)]
struct JobSums {
    status: String,
    recent: Option<i64>,
    today: Option<i64>,
    month: Option<i64>,
}
