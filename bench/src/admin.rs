//! The admin panel's pages over 10,000 stories and 100,000 jobs on Postgres: the
//! median and slowest of sequential requests by a signed-in admin, and each page's
//! weight (HTML plus the stylesheet; no media).

use std::time::Instant;

use sea_orm::ConnectionTrait;

use crate::Bench;
use crate::pipeline::{SECRET, fresh_database, seed, services};
use crate::report::{Report, Row, num};
use crate::stats::{REQUESTS, time};

const STORIES: usize = 10_000;
const JOBS: u64 = 100_000;
const OWNERS: usize = 100;

/// Stories of `OWNERS` users in every status, with titles to search; ten jobs a
/// story of every kind, status and provider over the last 28 hours, settled as the
/// reconciler settles them.
async fn fill(db: &sea_orm::DatabaseConnection) -> anyhow::Result<()> {
    seed(db, "owner-0", STORIES).await?;
    db.execute_unprepared(&format!(
        "UPDATE stories SET owner_id = 'owner-' || (s.n % {OWNERS}), \
           title = 'Story ' || s.n || (ARRAY[' at dawn', ' of the harbour', ' in the storm'])[1 + s.n % 3], \
           status = (ARRAY['draft','planning','planned','previewing','rendering','completed','failed','archived'])[1 + s.n % 8], \
           actual_cost = (s.n % 50) / 10.0, estimated_cost = 2.5 \
         FROM (SELECT id, row_number() OVER (ORDER BY id) AS n FROM stories) s \
         WHERE stories.id = s.id"
    ))
    .await?;
    db.execute_unprepared(&format!(
        "WITH s AS (SELECT id, owner_id, row_number() OVER (ORDER BY id) - 1 AS n FROM stories) \
         INSERT INTO jobs (id, story_id, owner_id, kind, status, priority, attempt, \
           max_attempts, backoff_ms, parameters, provider, cost, last_error, queue_id, queued_at, \
           started_at, finished_at, created_at, updated_at) \
         SELECT gen_random_uuid(), s.id, s.owner_id, \
           (ARRAY['plan_story','generate_scene','generate_preview','render_final'])[1 + g % 4], \
           CASE g % 100 WHEN 0 THEN 'queued' WHEN 1 THEN 'running' \
             ELSE (ARRAY['succeeded','succeeded','succeeded','failed','cancelled'])[1 + g % 5] END, \
           5, 1, 3, 1000, '{{}}', \
           (ARRAY['stability_ai','runway_ml','replicate','local'])[1 + g % 4], \
           (g % 100) / 100.0, \
           CASE WHEN g % 5 = 3 THEN 'the provider refused the prompt (content moderation)' END, \
           'bench_' || g, \
           now() - ({JOBS} - g) * interval '1 s' - interval '20 s', \
           now() - ({JOBS} - g) * interval '1 s' - interval '17 s', \
           CASE WHEN g % 100 > 1 THEN now() - ({JOBS} - g) * interval '1 s' END, \
           now() - ({JOBS} - g) * interval '1 s' - interval '20 s', now() - ({JOBS} - g) * interval '1 s' \
         FROM generate_series(0, {last}) g JOIN s ON s.n = g % {STORIES}",
        last = JOBS - 1,
    ))
    .await?;
    db.execute_unprepared("VACUUM ANALYZE").await?;
    ai_video_shared::store::rollup::settle(db).await?;
    Ok(())
}

/// A signed-in admin's session cookie.
async fn sign_in(client: &reqwest::Client, base: &str) -> anyhow::Result<String> {
    let token = ai_video_api::auth::mint(SECRET, "ops", true, 3600, &Default::default())?;
    let page = client
        .get(format!("{base}/admin/ai_video/login/"))
        .send()
        .await?;
    let cookie = page
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .unwrap_or_default()
        .to_owned();
    let html = page.text().await?;
    let csrf = html
        .split("name=\"csrfmiddlewaretoken\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_default()
        .to_owned();
    let answer = client
        .post(format!("{base}/admin/ai_video/login/"))
        .header("Cookie", cookie)
        .form(&[
            ("token", token.as_str()),
            ("csrfmiddlewaretoken", csrf.as_str()),
        ])
        .send()
        .await?;
    answer
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("ai_video_admin_session="))
        .and_then(|c| c.split(';').next())
        .map(str::to_owned)
        .ok_or_else(|| anyhow::anyhow!("signing in answered {}", answer.status()))
}

pub async fn run(bench: &Bench, report: &mut Report) -> anyhow::Result<()> {
    let url = fresh_database(bench).await?;
    let services = services(bench, &url, false).await?;
    let started = Instant::now();
    fill(&services.db).await?;
    eprintln!(
        "admin: {STORIES} stories and {JOBS} jobs written in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let base = services.base.clone();
    let session = sign_in(&client, &base).await?;
    let css = client
        .get(format!("{base}/admin/ai_video/admin.css"))
        .send()
        .await?
        .bytes()
        .await?
        .len();
    let story: (uuid::Uuid,) = {
        use sea_orm::{EntityTrait, QuerySelect};
        ai_video_shared::db::entities::story::Entity::find()
            .select_only()
            .column(ai_video_shared::db::entities::story::Column::Id)
            .into_tuple()
            .one(&services.db)
            .await?
            .ok_or_else(|| anyhow::anyhow!("no story"))?
    };
    let pages = [
        ("dashboard", String::new()),
        ("stories", "stories/".into()),
        (
            "stories, filtered and searched",
            "stories/?status=completed&q=harbour&o=cost".into(),
        ),
        ("story", format!("stories/{}/", story.0)),
        ("jobs", "jobs/".into()),
        (
            "jobs, filtered",
            "jobs/?status=failed&provider=runway_ml".into(),
        ),
        ("providers", "providers/".into()),
        ("provider form", "providers/runway_ml/".into()),
        ("quotas", "quotas/".into()),
    ];
    for (name, path) in pages {
        let url = format!("{base}/admin/ai_video/{path}");
        let (median, slowest, size) = time(|| client.get(&url).header("Cookie", &session)).await?;
        let kb = (size + css) as f64 / 1024.0;
        report.add(Row {
            benchmark: format!("admin page: {name}"),
            setup: format!(
                "Postgres, {STORIES} stories, {JOBS} jobs, {OWNERS} users; median of {REQUESTS} sequential requests; weight = HTML + stylesheet"
            ),
            ai_video: format!(
                "{} ms (slowest {} ms), {} KB",
                num(median),
                num(slowest),
                num(kb)
            ),
            peer: "—".into(),
            ratio: "—".into(),
            target: "< 50 ms, < 150 KB".into(),
        });
    }
    Ok(())
}
