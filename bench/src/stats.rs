//! `jobs/statistics/` over 1,000,000 job rows on Postgres: an admin's figures over
//! every job and a user's over their own, through the API, median of sequential
//! requests.

use std::time::{Duration, Instant};

use sea_orm::ConnectionTrait;

use crate::Bench;
use crate::pipeline::{SECRET, fresh_database, seed, services};
use crate::report::{Report, Row, num};

/// Job rows, spread over this many stories and owners.
const JOBS: u64 = 1_000_000;
const STORIES: usize = 1_000;
const OWNERS: usize = 100;
pub const REQUESTS: usize = 21;

/// One million jobs of every kind, status and provider, with costs and timings, owned
/// by `OWNERS` users (the stories are re-owned round-robin): one every 100 ms over the
/// last 28 hours, 2% of them still queued or running; then the reconciler's settling
/// of what finished more than ten minutes ago.
async fn fill(db: &sea_orm::DatabaseConnection) -> anyhow::Result<()> {
    seed(db, "owner-0", STORIES).await?;
    db.execute_unprepared(&format!(
        "UPDATE stories SET owner_id = 'owner-' || (s.n % {OWNERS}) \
         FROM (SELECT id, row_number() OVER (ORDER BY id) AS n FROM stories) s \
         WHERE stories.id = s.id"
    ))
    .await?;
    db.execute_unprepared(&format!(
        "WITH s AS (SELECT id, owner_id, row_number() OVER (ORDER BY id) - 1 AS n FROM stories) \
         INSERT INTO jobs (id, story_id, owner_id, kind, status, priority, attempt, \
           max_attempts, backoff_ms, parameters, provider, cost, queue_id, queued_at, \
           started_at, finished_at, created_at, updated_at) \
         SELECT gen_random_uuid(), s.id, s.owner_id, \
           (ARRAY['plan_story','generate_scene','generate_preview','render_final'])[1 + g % 4], \
           CASE g % 100 WHEN 0 THEN 'queued' WHEN 1 THEN 'running' \
             ELSE (ARRAY['succeeded','succeeded','succeeded','failed','cancelled'])[1 + g % 5] END, \
           5, 1, 3, 1000, '{{}}', \
           (ARRAY['stability_ai','runway_ml','replicate','local'])[1 + g % 4], \
           (g % 100) / 100.0, 'bench_' || g, \
           now() - ({JOBS} - g) * interval '100 ms' - interval '20 s', \
           now() - ({JOBS} - g) * interval '100 ms' - interval '17 s', \
           CASE WHEN g % 100 > 1 THEN now() - ({JOBS} - g) * interval '100 ms' END, \
           now() - interval '2 days', now() - ({JOBS} - g) * interval '100 ms' \
         FROM generate_series(0, {last}) g JOIN s ON s.n = g % {STORIES}",
        last = JOBS - 1,
    ))
    .await?;
    db.execute_unprepared("VACUUM ANALYZE jobs").await?;
    let started = Instant::now();
    let settled = ai_video_shared::store::rollup::settle(db).await?;
    eprintln!(
        "stats: {settled} finished jobs settled in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The median and the slowest of `REQUESTS` sequential requests, in ms, and the
/// size of the last answer's body in bytes.
pub async fn time(
    request: impl Fn() -> reqwest::RequestBuilder,
) -> anyhow::Result<(f64, f64, usize)> {
    let mut times: Vec<Duration> = Vec::with_capacity(REQUESTS);
    let mut size = 0;
    for _ in 0..REQUESTS {
        let started = Instant::now();
        let r = request().send().await?;
        let status = r.status();
        let url = r.url().clone();
        size = r.bytes().await?.len();
        anyhow::ensure!(status.is_success(), "{url} answered {status}");
        times.push(started.elapsed());
    }
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    Ok((ms(times[REQUESTS / 2]), ms(times[REQUESTS - 1]), size))
}

pub async fn run(bench: &Bench, report: &mut Report) -> anyhow::Result<()> {
    let url = fresh_database(bench).await?;
    let services = services(bench, &url, false).await?;
    let started = Instant::now();
    fill(&services.db).await?;
    eprintln!(
        "stats: {JOBS} job rows written in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let client = reqwest::Client::new();
    let stats = format!("{}/api/ai-video/jobs/statistics/", services.base);
    for (who, admin, share) in [
        ("an admin, every job", true, JOBS),
        ("a user, own jobs", false, JOBS / OWNERS as u64),
    ] {
        let token = ai_video_api::auth::mint(SECRET, "owner-7", admin, 3600, &Default::default())?;
        let (median, slowest, _) = time(|| client.get(&stats).bearer_auth(&token)).await?;
        report.add(Row {
            benchmark: format!("job statistics: {who}"),
            setup: format!(
                "Postgres, {JOBS} job rows (2% unfinished, settled by the reconciler up to 10 min ago), {share} counted; median of {REQUESTS} sequential requests"
            ),
            ai_video: format!("{} ms (slowest {} ms)", num(median), num(slowest)),
            peer: "—".into(),
            ratio: "—".into(),
            target: "< 100 ms".into(),
        });
    }
    Ok(())
}
