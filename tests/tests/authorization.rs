//! Every endpoint against every kind of caller: the owner, another user, an admin,
//! no token, an expired token, a forged token and an unsigned (`alg: none`) one.
//! Another user's objects are 404, never leaked; admins see and act on everything.

use ai_video_api::config::{JwtClaims, JwtConfig};
use ai_video_shared::config::Secret;
use ai_video_tests::{Options, TestApp, Tokens};
use reqwest::Method;
use serde_json::{Value, json};

#[derive(Clone, Copy, Debug, PartialEq)]
enum Caller {
    Owner,
    Other,
    Admin,
    Anonymous,
    Expired,
    Forged,
    Unsigned,
}

const CALLERS: [Caller; 7] = [
    Caller::Owner,
    Caller::Other,
    Caller::Admin,
    Caller::Anonymous,
    Caller::Expired,
    Caller::Forged,
    Caller::Unsigned,
];

/// What each endpoint is called with, built from a fresh fixture.
struct Fixture {
    draft: String,
    draft_scene: String,
    planning: String,
    planning_job: String,
    planned: String,
    planned_scene: String,
    cancelled_job: String,
}

async fn fixture(app: &TestApp) -> Fixture {
    let alice = app.tokens.user("alice");
    let (draft, draft_scenes) = app.story_with_scenes(&alice, 2).await;
    let (planning, _) = app.story_with_scenes(&alice, 1).await;
    let r = app.start_planning(&alice, &planning).await;
    let planning_job = r.body["job"]["id"].as_str().unwrap().to_string();
    let (planned, planned_scenes) = app.story_with_scenes(&alice, 2).await;
    app.force_status(&planned, "planned").await;
    let (cancelled, _) = app.story_with_scenes(&alice, 1).await;
    let r = app.start_planning(&alice, &cancelled).await;
    let cancelled_job = r.body["job"]["id"].as_str().unwrap().to_string();
    app.post(&format!("jobs/{cancelled_job}/cancel/"), &alice, json!({}))
        .await
        .assert_status(200);
    Fixture {
        draft,
        draft_scene: draft_scenes[0].clone(),
        planning,
        planning_job,
        planned,
        planned_scene: planned_scenes[1].clone(),
        cancelled_job,
    }
}

/// One endpoint: method, path, body, and what the owner gets.
struct Case {
    method: Method,
    path: String,
    body: Option<Value>,
    owner_status: u16,
    /// Whether the endpoint names one of alice's objects (others get 404).
    owned: bool,
    /// Admins only: every user, the owner too, gets 403 `permission_denied`.
    admin_only: bool,
}

fn cases(f: &Fixture) -> Vec<Case> {
    let c =
        |method: Method, path: String, body: Option<Value>, owner_status: u16, owned: bool| Case {
            method,
            path,
            body,
            owner_status,
            owned,
            admin_only: false,
        };
    let admin = |method: Method, path: &str, body: Option<Value>| Case {
        method,
        path: path.into(),
        body,
        owner_status: 200,
        owned: false,
        admin_only: true,
    };
    vec![
        admin(Method::GET, "providers/", None),
        admin(Method::GET, "providers/local/", None),
        admin(
            Method::PATCH,
            "providers/local/",
            Some(json!({"rate_limit_per_minute": 100})),
        ),
        admin(Method::GET, "quotas/alice/", None),
        admin(
            Method::PATCH,
            "quotas/alice/",
            Some(json!({"max_rendering": 5})),
        ),
        c(Method::GET, "stories/".into(), None, 200, false),
        c(Method::GET, "quotas/me/".into(), None, 200, false),
        c(
            Method::POST,
            "stories/".into(),
            Some(json!({"title": "t", "duration_seconds": 7})),
            201,
            false,
        ),
        c(
            Method::GET,
            format!("stories/{}/", f.draft),
            None,
            200,
            true,
        ),
        c(
            Method::PATCH,
            format!("stories/{}/", f.draft),
            Some(json!({"title": "renamed"})),
            200,
            true,
        ),
        c(
            Method::POST,
            format!("stories/{}/transition/", f.planning),
            Some(json!({"to": "draft"})),
            200,
            true,
        ),
        c(
            Method::GET,
            format!("stories/{}/transitions/", f.planning),
            None,
            200,
            true,
        ),
        c(
            Method::POST,
            format!("stories/{}/generate_preview/", f.planned),
            None,
            202,
            true,
        ),
        c(
            Method::POST,
            format!("stories/{}/render_final/", f.planned),
            None,
            409,
            true,
        ),
        c(Method::GET, "scenes/".into(), None, 200, false),
        c(
            Method::POST,
            "scenes/bulk_create/".into(),
            Some(
                json!({"story": f.draft, "scenes": [{"duration_seconds": 3, "prompt": {"text": "x"}}]}),
            ),
            201,
            true,
        ),
        c(
            Method::GET,
            format!("scenes/{}/", f.draft_scene),
            None,
            200,
            true,
        ),
        c(
            Method::PATCH,
            format!("scenes/{}/", f.draft_scene),
            Some(json!({"narration": "Said."})),
            200,
            true,
        ),
        c(
            Method::POST,
            format!("scenes/{}/generate/", f.planned_scene),
            None,
            202,
            true,
        ),
        c(
            Method::POST,
            format!("scenes/{}/reorder/", f.draft_scene),
            Some(json!({"position": 2})),
            200,
            true,
        ),
        c(Method::GET, "jobs/".into(), None, 200, false),
        c(Method::GET, "jobs/statistics/".into(), None, 200, false),
        c(
            Method::GET,
            format!("jobs/{}/", f.planning_job),
            None,
            200,
            true,
        ),
        c(
            Method::POST,
            format!("jobs/{}/cancel/", f.planning_job),
            None,
            200,
            true,
        ),
        c(
            Method::POST,
            format!("jobs/{}/retry/", f.cancelled_job),
            None,
            202,
            true,
        ),
    ]
}

fn token(app: &TestApp, caller: Caller) -> Option<String> {
    match caller {
        Caller::Owner => Some(app.tokens.user("alice")),
        Caller::Other => Some(app.tokens.user("mallory")),
        Caller::Admin => Some(app.tokens.admin("root")),
        Caller::Anonymous => None,
        Caller::Expired => Some(app.tokens.expired("alice")),
        Caller::Forged => Some(Tokens::forged("alice")),
        Caller::Unsigned => Some(Tokens::unsigned("alice")),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_endpoint_for_every_caller() {
    let app = TestApp::spawn().await;
    let count = cases(&fixture(&app).await).len();
    for index in 0..count {
        for caller in CALLERS {
            // A fresh fixture per call: each call may change what it touches.
            let f = fixture(&app).await;
            let case = cases(&f).remove(index);
            let token = token(&app, caller);
            let r = app
                .request(
                    case.method.clone(),
                    &case.path,
                    token.as_deref(),
                    case.body.clone(),
                )
                .await;
            let what = format!("{caller:?} {} {}", case.method, case.path);
            assert!(r.status < 500, "{what}: {}", r.text);
            match caller {
                Caller::Owner | Caller::Other if case.admin_only => {
                    r.assert_problem(403, "permission_denied");
                }
                Caller::Owner | Caller::Admin => {
                    assert_eq!(r.status, case.owner_status, "{what}: {}", r.text)
                }
                Caller::Other if case.owned => {
                    r.assert_problem(404, "not_found");
                    assert!(
                        !r.text.contains("alice"),
                        "{what} leaks the owner: {}",
                        r.text
                    );
                }
                Caller::Other => assert_eq!(r.status, case.owner_status, "{what}: {}", r.text),
                Caller::Anonymous => {
                    r.assert_problem(401, "not_authenticated");
                }
                Caller::Expired | Caller::Forged | Caller::Unsigned => {
                    r.assert_problem(401, "token_not_valid");
                }
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_show_owners_their_own_and_admins_everything() {
    let app = TestApp::spawn().await;
    let alice = app.tokens.user("alice");
    let bob = app.tokens.user("bob");
    let (story, _) = app.story_with_scenes(&alice, 1).await;
    app.start_planning(&alice, &story).await.assert_status(200);
    app.create_story(&bob, "Bob's", 7).await;

    let count = |r: &ai_video_tests::Response| r.body["count"].as_u64().unwrap();
    assert_eq!(count(&app.get("stories/", &alice).await), 1);
    assert_eq!(count(&app.get("stories/", &bob).await), 1);
    assert_eq!(
        count(&app.get("stories/", &app.tokens.admin("root")).await),
        2
    );
    assert_eq!(count(&app.get("scenes/", &bob).await), 0);
    assert_eq!(count(&app.get("jobs/", &bob).await), 0);
    assert_eq!(count(&app.get("jobs/", &alice).await), 1);
    let stats = app.get("jobs/statistics/", &bob).await;
    assert_eq!(stats.body["total"], 0);
    let stats = app.get("jobs/statistics/", &app.tokens.admin("root")).await;
    assert_eq!(stats.body["total"], 1);
    // role: "admin" counts as admin too.
    let role_admin = app
        .tokens
        .sign(json!({"sub": "ops", "role": "admin", "exp": chrono::Utc::now().timestamp() + 60}));
    assert_eq!(count(&app.get("stories/", &role_admin).await), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn django_simplejwt_tokens_work_and_bad_ones_do_not() {
    let app = TestApp::spawn().await;
    let exp = chrono::Utc::now().timestamp() + 300;
    // SimpleJWT: integer user_id, token_type access, jti.
    let django = app.tokens.sign(
        json!({"token_type": "access", "exp": exp, "iat": exp - 300, "jti": "abc", "user_id": 42}),
    );
    let r = app
        .post(
            "stories/",
            &django,
            json!({"title": "From Django", "duration_seconds": 7}),
        )
        .await;
    r.assert_status(201);
    assert_eq!(r.body["owner"], "42");

    let refresh = app
        .tokens
        .sign(json!({"token_type": "refresh", "exp": exp, "user_id": 42}));
    app.get("stories/", &refresh)
        .await
        .assert_problem(401, "token_not_valid");
    let no_exp = app.tokens.sign(json!({"sub": "alice"}));
    app.get("stories/", &no_exp)
        .await
        .assert_problem(401, "token_not_valid");
    let no_user = app.tokens.sign(json!({"exp": exp}));
    app.get("stories/", &no_user)
        .await
        .assert_problem(401, "token_not_valid");
    let r = app.request(Method::GET, "stories/", None, None).await;
    r.assert_problem(401, "not_authenticated");
    let r = app
        .client
        .get(app.url("stories/"))
        .header("authorization", "Basic YWxpY2U6cHc=")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(
        r.headers()
            .get("www-authenticate")
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("Bearer")
    );
    let r = app.get("stories/", "not.a.jwt").await;
    r.assert_problem(401, "token_not_valid");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rs256_public_keys_verify_tokens() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    let public = std::fs::read_to_string(dir.join("jwt-rs256-public.pem")).unwrap();
    let private = std::fs::read(dir.join("jwt-rs256-private.pem")).unwrap();
    let mut app = TestApp::spawn_with(Options {
        jwt: Some(JwtConfig::Rs256(Secret::new(public.clone()))),
        ..Options::default()
    })
    .await;
    app.tokens = Tokens::rs256(&private);
    let alice = app.tokens.user("alice");
    app.create_story(&alice, "Signed with RSA", 7).await;
    // An HS256 token whose secret is the public key (algorithm confusion) is refused,
    // as is an HS256 token with the usual test secret.
    let confused = Tokens::hs256_with(public.as_bytes()).user("alice");
    app.get("stories/", &confused)
        .await
        .assert_problem(401, "token_not_valid");
    app.get("stories/", &Tokens::hs256().user("alice"))
        .await
        .assert_problem(401, "token_not_valid");
}

#[tokio::test]
async fn audience_issuer_and_not_before_are_checked_when_set() {
    let app = TestApp::spawn_with(Options {
        jwt_claims: JwtClaims {
            audience: Some("ai-video".into()),
            issuer: Some("https://auth.example.test".into()),
        },
        ..Options::default()
    })
    .await;
    let now = chrono::Utc::now().timestamp();
    let claims = |extra: serde_json::Value| {
        let mut c = json!({"sub": "alice", "exp": now + 600, "aud": "ai-video",
                           "iss": "https://auth.example.test"});
        for (k, v) in extra.as_object().unwrap() {
            if v.is_null() {
                c.as_object_mut().unwrap().remove(k);
            } else {
                c[k] = v.clone();
            }
        }
        app.tokens.sign(c)
    };
    app.get("stories/", &claims(json!({})))
        .await
        .assert_status(200);
    for (extra, reason) in [
        (json!({"aud": "another-service"}), "audience"),
        (json!({"aud": null}), "required claim"),
        (json!({"iss": "https://evil.example.test"}), "issuer"),
        (json!({"nbf": now + 600}), "not valid yet"),
    ] {
        let r = app.get("stories/", &claims(extra.clone())).await;
        r.assert_problem(401, "token_not_valid");
        assert!(r.text.contains(reason), "{extra}: {}", r.text);
    }
}
