//! The `ai-video` command-line client against a running API and worker: a story
//! made into a film from a terminal, with progress bars, and downloaded; the
//! `--json` output is the API's JSON; the exit codes tell a refused request (2),
//! an unreachable API (3) and a failed story (4) apart; `login` keeps the
//! settings in a file only its owner reads; webhook endpoints are added (their
//! secret shown once), listed and removed.

use std::time::Duration;

use ai_video_tests::files::{duration, probe};
use ai_video_tests::worker::WorkerTweaks;
use ai_video_tests::{Options, TestApp, free_port};
use serde_json::json;

const SYNOPSIS: &str = "A keeper climbs the stairs at dusk. A storm hits the tower.";

#[tokio::test]
async fn a_story_becomes_a_film_in_a_terminal() {
    let app = TestApp::spawn().await;
    let _worker = app.start_worker(WorkerTweaks::default()).await;
    let cli = app.cli(&app.tokens.user("alice"));

    let created = cli
        .run_in_terminal(&[
            "create",
            "--title",
            "The Lighthouse",
            "--synopsis",
            SYNOPSIS,
            "--duration",
            "14",
        ])
        .await;
    created.assert_code(0);
    let id = created.stdout.trim().to_string();
    assert_eq!(id.len(), 36, "create prints the story id: {id:?}");

    let planned = cli.run_in_terminal(&["plan", &id, "--wait"]).await;
    planned.assert_code(0);
    let screen = &planned.stdout;
    assert!(screen.contains("planning ["), "a planning bar: {screen}");
    assert!(
        screen.contains("planned: 2 scenes"),
        "14 s make two scenes: {screen}"
    );

    let previewed = cli.run_in_terminal(&["preview", &id, "--wait"]).await;
    previewed.assert_code(0);
    let screen = &previewed.stdout;
    for bar in ["scenes [", "assembly [", "scene 1 [", "scene 2 ["] {
        assert!(screen.contains(bar), "a bar {bar:?}: {screen}");
    }
    assert!(screen.contains("] 2/2"), "both scenes done: {screen}");
    assert!(screen.contains("preview ready: http://"), "{screen}");

    let rendered = cli.run_in_terminal(&["render", &id, "--wait"]).await;
    rendered.assert_code(0);
    let screen = &rendered.stdout;
    for bar in ["scenes [", "render [", "scene 1 [", "scene 2 ["] {
        assert!(screen.contains(bar), "a bar {bar:?}: {screen}");
    }
    assert!(screen.contains("100%"), "{screen}");
    assert!(screen.contains("completed: http://"), "{screen}");

    let downloaded = cli
        .run_in_terminal(&["download", &id, "-o", "film.mp4"])
        .await;
    downloaded.assert_code(0);
    assert!(
        downloaded.stdout.contains("wrote film.mp4 (final video"),
        "{}",
        downloaded.stdout
    );
    let film = cli.home().join("film.mp4");
    let p = probe(&film);
    let video = p["streams"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["codec_type"] == "video")
        .unwrap_or_else(|| panic!("a video stream: {p}"));
    assert_eq!(video["codec_name"], "h264");
    assert!((duration(&p) - 14.0).abs() <= 0.2, "lasts the story: {p}");
    assert!(!cli.home().join("film.mp4.part").exists());

    let story = app
        .get(&format!("stories/{id}/"), &app.tokens.user("alice"))
        .await;
    assert_eq!(story.body["status"], "completed");
}

#[tokio::test]
async fn json_output_is_the_apis_json() {
    let app = TestApp::spawn().await;
    let _worker = app.start_worker(WorkerTweaks::default()).await;
    let cli = app.cli(&app.tokens.user("bob"));

    let story = cli
        .json(&[
            "create",
            "--title",
            "Harbour",
            "--synopsis",
            SYNOPSIS,
            "--duration",
            "7",
            "--aspect-ratio",
            "9:16",
            "--no-captions",
            "--transition",
            "fade_black",
            "--options-json",
            r#"{"style": "watercolor", "film": {"captions": {"size": "large"}}}"#,
        ])
        .await;
    let id = story["id"].as_str().expect("the story's id").to_string();
    assert_eq!(story["status"], "draft");
    assert_eq!(story["aspect_ratio"], "9:16");
    assert_eq!(story["style"], "watercolor");
    assert_eq!(story["film"]["captions"]["burn"], false);
    assert_eq!(story["film"]["captions"]["size"], "large");
    assert_eq!(story["film"]["transition"]["kind"], "fade_black");

    assert_eq!(cli.json(&["status", &id]).await["id"], id.as_str());
    let list = cli.json(&["ls"]).await;
    assert_eq!(list["count"], 1);
    assert_eq!(list["results"][0]["id"], id.as_str());

    // With --json a wait prints nothing but the story at the end.
    let planned = cli.json(&["plan", &id, "--wait"]).await;
    assert_eq!(planned["status"], "planned");
    assert!(planned["estimated_cost"].is_string(), "{planned}");

    let jobs = cli.json(&["jobs", "--story", &id]).await;
    assert_eq!(jobs["count"], 1);
    assert_eq!(jobs["results"][0]["kind"], "plan_story");
    assert_eq!(jobs["results"][0]["status"], "succeeded");
    assert_eq!(cli.json(&["jobs", "--failed"]).await["count"], 0);

    // Without a terminal, a wait prints a line per change.
    let previewed = cli.run(&["preview", &id, "--wait", "--poll"]).await;
    previewed.assert_code(0);
    let lines = &previewed.stdout;
    for line in [
        "polling every second",
        "1 scenes",
        "scenes: 1/1",
        "preview ready: http://",
    ] {
        assert!(lines.contains(line), "{line:?} in:\n{lines}");
    }
    assert!(!lines.contains('\u{1b}'), "no terminal codes:\n{lines}");

    let table = cli.run(&["jobs", "--story", &id]).await;
    table.assert_code(0);
    assert!(table.stdout.starts_with("ID"), "{}", table.stdout);
    assert!(
        table.stdout.contains("generate_preview"),
        "{}",
        table.stdout
    );
}

#[tokio::test]
async fn exit_codes_tell_refusals_outages_and_failures_apart() {
    let app = TestApp::spawn().await;
    let alice = app.tokens.user("alice");
    let cli = app.cli(&alice);

    cli.run(&["ls"]).await.assert_code(0);

    let missing = cli
        .run(&["status", &uuid::Uuid::new_v4().to_string()])
        .await;
    missing.assert_code(2);
    assert!(missing.stderr.contains("not_found"), "{}", missing.stderr);

    let untitled = cli.run(&["create", "--duration", "5"]).await;
    untitled.assert_code(2);
    assert!(untitled.stderr.contains("title"), "{}", untitled.stderr);

    let invalid = cli
        .run(&["create", "--title", "T", "--duration", "0"])
        .await;
    invalid.assert_code(2);
    assert!(
        invalid.stderr.contains("validation_error")
            && invalid.stderr.contains("\n  duration_seconds: "),
        "the detail, then each field: {}",
        invalid.stderr
    );

    cli.run(&["ls", "--no-such-flag"]).await.assert_code(2);

    let anonymous = app.cli("").run(&["ls"]).await;
    anonymous.assert_code(2);
    assert!(
        anonymous.stderr.contains("AI_VIDEO_TOKEN"),
        "{}",
        anonymous.stderr
    );

    let closed = format!("http://127.0.0.1:{}/api/ai-video", free_port());
    let unreachable = app.cli(&alice).with_url(&closed).run(&["ls"]).await;
    unreachable.assert_code(3);
    assert!(
        unreachable.stderr.contains("cannot reach"),
        "{}",
        unreachable.stderr
    );

    let story = app.create_story(&alice, "Doomed", 7).await;
    let id = story["id"].as_str().unwrap();
    let early = cli.run(&["download", id]).await;
    early.assert_code(2);
    assert!(early.stderr.contains("no video yet"), "{}", early.stderr);

    app.force_status(id, "failed").await;
    cli.run(&["status", id]).await.assert_code(4);
    cli.run(&["watch", id]).await.assert_code(4);
}

#[tokio::test]
async fn a_wait_on_a_story_that_fails_exits_4() {
    let app = TestApp::spawn().await;
    let _worker = app.start_worker(WorkerTweaks::default()).await;
    let alice = app.tokens.user("alice");
    let (id, _) = app
        .planned_by_worker(&alice, &["Calm sea", "A storm breaks"])
        .await;
    app.set_local_settings(json!({"refuse_prompts_containing": "storm"}))
        .await;

    let cli = app.cli(&alice);
    let out = cli.run(&["preview", &id, "--wait"]).await;
    out.assert_code(4);
    assert!(
        out.stdout.contains("following the story's events"),
        "the wait reads the event stream: {}",
        out.stdout
    );
    assert!(out.stdout.contains("status: failed"), "{}", out.stdout);
    assert!(
        out.stderr.contains(&format!("story {id} failed")) && out.stderr.contains("storm"),
        "{}",
        out.stderr
    );
    let failed = cli.json(&["jobs", "--story", &id, "--failed"]).await;
    assert!(failed["count"].as_u64().unwrap() >= 1, "{failed}");
    app.wait_for_status(&alice, &id, "failed", Duration::from_secs(5))
        .await;
}

#[tokio::test]
async fn login_keeps_the_settings_for_its_owner_only() {
    use std::os::unix::fs::PermissionsExt;

    let app = TestApp::spawn().await;
    let token = app.tokens.user("carol");
    // Nothing in the environment: the file is all the client has.
    let cli = app.cli("").with_url("");

    let bad = cli
        .run(&["login", "--url", &app.url(""), "--token", "not-a-jwt"])
        .await;
    bad.assert_code(2);
    let file = cli.home().join(".config/ai-video/config.json");
    assert!(!file.exists(), "a refused token is not saved");

    cli.run(&["login", "--url", &app.url(""), "--token", &token])
        .await
        .assert_code(0);
    let mode = std::fs::metadata(&file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let saved: serde_json::Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert_eq!(saved["token"], token.as_str());

    let list = cli.run(&["ls", "--json"]).await;
    list.assert_code(0);
    assert_eq!(list.json()["count"], 0);
}

#[tokio::test]
async fn webhook_endpoints_are_added_listed_and_removed() {
    let app = TestApp::spawn_with(Options {
        outbound_allow_hosts: Some("127.0.0.1".into()),
        ..Options::default()
    })
    .await;
    let cli = app.cli(&app.tokens.user("dana"));
    let hook = format!("http://127.0.0.1:{}/hook", free_port());

    let added = cli
        .run(&[
            "webhooks",
            "add",
            &hook,
            "--event",
            "story.completed",
            "--event",
            "story.failed",
            "--description",
            "renders",
        ])
        .await;
    added.assert_code(0);
    let secret = added
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("secret: "))
        .unwrap_or_else(|| panic!("the secret, once: {}", added.stdout));
    assert!(secret.starts_with("whsec_"), "{secret}");

    let list = cli.json(&["webhooks", "ls"]).await;
    assert_eq!(list["count"], 1);
    let endpoint = &list["results"][0];
    assert_eq!(endpoint["url"], hook.as_str());
    assert_eq!(
        endpoint["events"],
        json!(["story.completed", "story.failed"])
    );
    assert_eq!(endpoint["description"], "renders");
    assert!(
        endpoint.get("secret").is_none(),
        "listed without its secret"
    );
    let id = endpoint["id"].as_str().unwrap();

    let table = cli.run(&["webhooks", "ls"]).await;
    table.assert_code(0);
    assert!(table.stdout.contains(&hook), "{}", table.stdout);
    assert!(!table.stdout.contains("whsec_"), "{}", table.stdout);

    let streamed_only = cli
        .run(&["webhooks", "add", &hook, "--event", "scene.progress"])
        .await;
    streamed_only.assert_code(2);

    cli.run(&["webhooks", "rm", id]).await.assert_code(0);
    assert_eq!(cli.json(&["webhooks", "ls"]).await["count"], 0);
    cli.run(&["webhooks", "rm", id]).await.assert_code(2);
}
