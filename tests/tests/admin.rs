//! The admin panel in a real browser (headless Chromium over WebDriver), against
//! the API on Postgres with media the worker made: sign-in, dashboard counts,
//! story search and the preview playing, retry and cancel, provider limits with
//! their field errors, CSRF, sign-out; a screenshot and an axe-core check of every
//! page.

use std::collections::BTreeMap;
use std::time::Duration;

use ai_video_tests::TestApp;
use ai_video_tests::browser::Browser;
use ai_video_tests::worker::WorkerTweaks;
use serde_json::json;

const PANEL: &str = "/admin/ai_video";

/// Screenshot and accessibility check of the page the browser shows.
async fn look(browser: &Browser, name: &str, violations: &mut BTreeMap<String, Vec<String>>) {
    browser.screenshot(name).await;
    let found = browser.accessibility_violations().await;
    if !found.is_empty() {
        violations.insert(name.to_owned(), found);
    }
}

/// Story counts by status as the REST API reports them to an admin.
async fn stories_by_status(app: &TestApp, admin: &str) -> BTreeMap<String, u64> {
    let r = app.get("stories/?page_size=100", admin).await;
    r.assert_status(200);
    let mut counts = BTreeMap::new();
    for s in r.body["results"].as_array().expect("results") {
        *counts
            .entry(s["status"].as_str().unwrap().to_owned())
            .or_insert(0) += 1;
    }
    counts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_runs_the_service_from_the_panel() {
    let app = TestApp::spawn().await;
    let alice = app.tokens.user("alice");
    let bob = app.tokens.user("bob");
    let admin = app.tokens.admin("ops");

    // A previewed story of alice's and a failed scene job of bob's, made by a worker
    // that then stops, so what is queued later stays queued.
    let worker = app.start_worker(WorkerTweaks::default()).await;
    let story = app.create_story(&alice, "Lighthouse at dawn", 4).await;
    let lighthouse = story["id"].as_str().unwrap().to_owned();
    let scenes = vec![
        json!({"duration_seconds": 2, "prompt": {"text": "A lighthouse at dawn", "seed": 1}}),
        json!({"duration_seconds": 2, "prompt": {"text": "Gulls over the sea", "seed": 2}}),
    ];
    app.bulk_scenes(&alice, &lighthouse, scenes).await;
    app.start_planning(&alice, &lighthouse)
        .await
        .assert_status(200);
    app.wait_for_status(&alice, &lighthouse, "planned", Duration::from_secs(60))
        .await;
    app.preview(&alice, &lighthouse).await;
    let (harbor, harbor_scenes) = app.planned_story(&bob, 1, 2).await;
    app.set_local_settings(json!({"refuse_prompts_containing": "Scene"}))
        .await;
    let asked = app
        .post(
            &format!("scenes/{}/generate/", harbor_scenes[0]),
            &bob,
            json!({}),
        )
        .await;
    asked.assert_status(202);
    let failed = app
        .wait_for_job(
            &bob,
            asked.body["id"].as_str().unwrap(),
            "failed",
            Duration::from_secs(60),
        )
        .await;
    app.set_local_settings(json!({})).await;
    drop(worker);
    let failed_id = failed["id"].as_str().unwrap().to_owned();

    let browser = Browser::start().await;
    let mut violations = BTreeMap::new();

    // No session: every page sends to sign-in, and a non-admin token is refused.
    browser.goto(&app.url(&format!("{PANEL}/stories/"))).await;
    browser.wait_for_url(&format!("{PANEL}/login/")).await;
    look(&browser, "sign-in", &mut violations).await;
    browser.fill("#token", &alice).await;
    browser.submit("form.stack button[type=submit]").await;
    let refusal = browser.text("#token-error").await;
    assert!(refusal.contains("not an admin"), "{refusal}");

    // Signing in with an admin token opens the page first asked for.
    browser.fill("#token", &admin).await;
    browser.submit("form.stack button[type=submit]").await;
    browser.wait_for_url(&format!("{PANEL}/stories/")).await;

    // The dashboard counts what the REST API counts.
    browser.goto(&app.url(&format!("{PANEL}/"))).await;
    let expected = stories_by_status(&app, &admin).await;
    for status in [
        "draft",
        "planning",
        "planned",
        "previewing",
        "rendering",
        "completed",
        "failed",
        "archived",
    ] {
        let shown = browser
            .text(&format!("#stories-by-status td[data-status={status}]"))
            .await;
        assert_eq!(
            shown,
            expected.get(status).copied().unwrap_or(0).to_string(),
            "stories {status}"
        );
    }
    let jobs = app.get("jobs/?page_size=100", &admin).await;
    let failed_jobs = jobs.body["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|j| j["status"] == "failed")
        .count();
    assert_eq!(
        browser.text("#jobs-by-status td[data-status=failed]").await,
        failed_jobs.to_string()
    );
    assert!(browser.find_all("svg.chart rect").await.len() >= 8);
    look(&browser, "dashboard", &mut violations).await;

    // Stories: filter by status, then find one by title.
    browser.goto(&app.url(&format!("{PANEL}/stories/"))).await;
    browser.select("#f-status", "planned").await;
    browser.submit("form.filters button[type=submit]").await;
    assert_eq!(
        browser.texts("#stories tbody td:first-child").await,
        ["Planned"]
    );
    browser.goto(&app.url(&format!("{PANEL}/stories/"))).await;
    browser.fill("#f-q", "lighthouse").await;
    browser.submit("form.filters button[type=submit]").await;
    assert_eq!(
        browser.texts("#stories tbody td:first-child").await,
        ["Lighthouse at dawn"]
    );
    look(&browser, "stories", &mut violations).await;

    // The story's page: fields, scenes, and a preview that loads and plays.
    browser.submit("#stories tbody td:first-child a").await;
    assert_eq!(browser.text("#story-status").await, "previewing");
    assert_eq!(browser.find_all("#scenes img").await.len(), 2);
    browser
        .wait_for(
            "the preview to load",
            "return document.querySelector('#preview').readyState >= 2",
            Duration::from_secs(20),
        )
        .await;
    let played = browser
        .execute_async(
            "const done = arguments[arguments.length - 1];\
             const v = document.querySelector('#preview'); v.muted = true;\
             v.play().then(() => setTimeout(() => done({t: v.currentTime, paused: v.paused}), 500),\
                           e => done({error: String(e)}));",
            json!([]),
        )
        .await;
    assert!(
        played["t"].as_f64().unwrap_or(0.0) > 0.0,
        "the preview did not play: {played}"
    );
    browser
        .execute("document.querySelector('#preview').pause()", json!([]))
        .await;
    look(&browser, "story", &mut violations).await;

    // Jobs: the failed scene job, retried; the new job is queued, then cancelled.
    browser
        .goto(&app.url(&format!("{PANEL}/jobs/?status=failed&kind=generate_scene")))
        .await;
    assert!(
        browser
            .text(&format!("#job-{failed_id} .error-text"))
            .await
            .contains("Scene"),
        "the error text is shown"
    );
    look(&browser, "jobs", &mut violations).await;
    browser
        .submit(&format!("#job-{failed_id} form[action$='/retry/'] button"))
        .await;
    assert!(browser.text(".notice").await.contains("queued again"));
    let retried = app
        .jobs_of(&bob, &harbor)
        .await
        .into_iter()
        .find(|j| j["retry_of"] == failed_id.as_str())
        .expect("a job retrying the failed one");
    let retried_id = retried["id"].as_str().unwrap().to_owned();
    let row = format!("#job-{retried_id}");
    assert_eq!(
        browser.text(&format!("{row} .badge")).await,
        "queued",
        "the retry is queued"
    );
    browser
        .submit(&format!("{row} form[action$='/cancel/'] button"))
        .await;
    assert!(browser.text(".notice").await.contains("cancelled"));
    assert_eq!(browser.text(&format!("{row} .badge")).await, "cancelled");
    assert_eq!(
        app.get(&format!("jobs/{retried_id}/"), &bob).await.body["status"],
        "cancelled"
    );

    // Providers: a new per-minute limit reaches the REST API; a bad one is refused
    // next to its field.
    browser
        .goto(&app.url(&format!("{PANEL}/providers/local/")))
        .await;
    browser.fill("#rate_limit_per_minute", "42").await;
    browser.submit("form.stack button[type=submit]").await;
    assert_eq!(
        browser.text("#provider-local .per-minute").await,
        "42",
        "the list shows the saved limit"
    );
    look(&browser, "providers", &mut violations).await;
    let rest = app.get("providers/local/", &admin).await;
    assert_eq!(rest.body["rate_limit_per_minute"], 42);
    browser
        .goto(&app.url(&format!("{PANEL}/providers/local/")))
        .await;
    browser.fill("#rate_limit_per_minute", "-5").await;
    browser.submit("form.stack button[type=submit]").await;
    let error = browser.text("#e-rate_limit_per_minute").await;
    assert!(error.contains("between 0"), "{error}");
    look(&browser, "provider-refused", &mut violations).await;
    assert_eq!(
        app.get("providers/local/", &admin).await.body["rate_limit_per_minute"],
        42
    );

    // A POST without the CSRF token is refused, and changes nothing.
    let status = browser
        .execute_async(
            "const done = arguments[arguments.length - 1];\
             fetch('/admin/ai_video/providers/local/', {method: 'POST',\
               headers: {'Content-Type': 'application/x-www-form-urlencoded'},\
               body: 'rate_limit_per_minute=7&rate_limit_per_hour=7&cost_per_image=0&cost_per_second_video=0&settings=%7B%7D'})\
               .then(r => done(r.status), e => done(String(e)));",
            json!([]),
        )
        .await;
    assert_eq!(status, 403);
    assert_eq!(
        app.get("providers/local/", &admin).await.body["rate_limit_per_minute"],
        42
    );

    // Quotas and usage.
    browser.goto(&app.url(&format!("{PANEL}/quotas/"))).await;
    let users = browser.texts("#quotas tbody td:first-child").await;
    assert_eq!(users, ["alice", "bob"]);
    look(&browser, "quotas", &mut violations).await;

    // Signing out ends the session: pages send to sign-in again.
    browser.submit("form.who button").await;
    browser.goto(&app.url(&format!("{PANEL}/jobs/"))).await;
    browser.wait_for_url(&format!("{PANEL}/login/")).await;

    assert!(
        violations.is_empty(),
        "serious or critical accessibility violations: {violations:#?}"
    );
}

/// The sign-in form's CSRF cookie and token.
async fn sign_in_form(http: &reqwest::Client, app: &TestApp, host: &str) -> (String, String) {
    let page = http
        .get(app.url(&format!("{PANEL}/login/")))
        .header("Host", host)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let cookie = page
        .headers()
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    let html = page.text().await.unwrap();
    let token = html
        .split("name=\"csrfmiddlewaretoken\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_owned();
    (cookie, token)
}

#[tokio::test]
async fn sessions_are_strict_cookies_that_end_with_their_token() {
    let app = TestApp::spawn().await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let now = chrono::Utc::now().timestamp();
    let short = app
        .tokens
        .sign(json!({"sub": "ops", "exp": now + 120, "is_staff": true}));

    // Without the trailing slash, and without a session: to sign-in.
    let r = http.get(app.url(PANEL)).send().await.unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(
        r.headers()["location"],
        "/admin/ai_video/login/?next=%2Fadmin%2Fai_video%2F"
    );

    // Signing in without the form's CSRF token is refused.
    let (cookie, csrf) = sign_in_form(&http, &app, "127.0.0.1").await;
    let pair = cookie.split(';').next().unwrap().to_owned();
    let r = http
        .post(app.url(&format!("{PANEL}/login/")))
        .header("Cookie", &pair)
        .form(&[("token", short.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert!(r.text().await.unwrap().contains("CSRF"));

    // On a public host the cookies are Secure; the session ends with the token.
    let (cookie, csrf_public) = sign_in_form(&http, &app, "admin.example.com").await;
    assert!(
        cookie.contains("Secure") && cookie.contains("HttpOnly"),
        "{cookie}"
    );
    assert_ne!(csrf_public, csrf);
    let pair = cookie.split(';').next().unwrap().to_owned();
    let r = http
        .post(app.url(&format!("{PANEL}/login/")))
        .header("Host", "admin.example.com")
        .header("Cookie", &pair)
        .form(&[
            ("token", short.as_str()),
            ("csrfmiddlewaretoken", csrf_public.as_str()),
            ("next", "https://elsewhere.example/"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(
        r.headers()["location"],
        "/admin/ai_video/",
        "never off-site"
    );
    let session = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("ai_video_admin_session="))
        .expect("a session cookie");
    for part in [
        "HttpOnly",
        "SameSite=Strict",
        "Secure",
        "Path=/admin/ai_video/",
    ] {
        assert!(session.contains(part), "{part}: {session}");
    }
    let max_age: i64 = session
        .split("Max-Age=")
        .nth(1)
        .and_then(|v| v.split(';').next())
        .unwrap()
        .parse()
        .unwrap();
    assert!((100..=120).contains(&max_age), "{session}");

    // The session opens pages, with and without the trailing slash.
    let pair = session.split(';').next().unwrap().to_owned();
    for path in [PANEL.to_owned(), format!("{PANEL}/stories")] {
        let r = http
            .get(app.url(&path))
            .header("Cookie", &pair)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
        assert_eq!(r.headers()["cache-control"], "no-store");
    }
    // A story id that is not one is a clear 404 page, not a 500.
    let r = http
        .get(app.url(&format!("{PANEL}/stories/not-a-story/")))
        .header("Cookie", &pair)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = http
        .get(app.url(&format!("{PANEL}/stories/?created_from=yesterday")))
        .header("Cookie", &pair)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("is not a date"));
}
