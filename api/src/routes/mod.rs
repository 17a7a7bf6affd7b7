//! The router: every resource under `/api/ai-video/`, the health endpoints, the
//! OpenAPI document and Swagger UI.
//!
//! Routes are registered through `utoipa-axum`, so a route cannot exist without its
//! entry in the OpenAPI document, and the document cannot list a route that does
//! not exist.

mod endpoints;
mod events;
pub mod health;
pub mod jobs;
mod media;
mod music;
pub mod problems;
pub mod providers;
pub mod quotas;
pub mod scenes;
pub mod stories;
mod story_media;
mod webhooks;

use axum::Router;
use axum::extract::Request;
use axum::http::{StatusCode, Uri};
use tower_http::catch_panic::CatchPanicLayer;
use utoipa::OpenApi;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa_axum::router::OpenApiRouter;
use utoipa_swagger_ui::SwaggerUi;

use crate::AppState;
use crate::error::ApiError;

use ai_video_shared::domain::ErrorCode;

/// The URL prefix of the seed's API.
pub const PREFIX: &str = ai_video_shared::domain::API_PREFIX;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "ai-video",
        description = "Turns a written story into a rendered video with generative AI. \
            Authenticate with `Authorization: Bearer <JWT>`; errors are \
            `application/problem+json`.",
    ),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
    components(
        schemas(
            crate::error::Problem,
            ai_video_shared::domain::SettingValue,
            ai_video_shared::domain::ProviderSettings
        ),
        responses(problems::BadRequest, problems::Unauthorized, problems::Forbidden,
            problems::NotFound, problems::Conflict, problems::PayloadTooLarge,
            problems::UnsupportedMediaType, problems::UnprocessableEntity,
            problems::PaymentRequired, problems::TooManyRequests, problems::ServiceUnavailable),
    ),
    tags(
        (name = "stories", description = "Stories and their state machine"),
        (name = "scenes", description = "Scenes of a story"),
        (name = "jobs", description = "Queued work"),
        (name = "providers", description = "Provider configurations (admins)"),
        (name = "quotas", description = "Budgets and quotas of users"),
        (name = "webhooks", description = "Webhook endpoints and their deliveries"),
        (name = "events", description = "Live events over Server-Sent Events"),
        (name = "health", description = "Probes"),
    )
)]
struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                Http::builder()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// The OpenAPI document and the routes it describes.
pub fn api() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let resources = OpenApiRouter::new()
        .merge(stories::router())
        .merge(music::router())
        .merge(scenes::router())
        .merge(jobs::router())
        .merge(providers::router())
        .merge(quotas::router())
        .merge(webhooks::router())
        .merge(endpoints::router())
        .merge(story_media::router())
        .merge(events::router());
    let (routes, mut openapi) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .nest(PREFIX, resources)
        .merge(health::router())
        .split_for_parts();
    problems::document_edge(&mut openapi);
    (routes, openapi)
}

/// The whole application router, with state applied.
pub fn router(state: AppState) -> Router {
    let (routes, openapi) = api();
    let docs =
        SwaggerUi::new(format!("{PREFIX}/docs")).url(format!("{PREFIX}/openapi.json"), openapi);
    let routes = routes
        .merge(docs)
        .merge(crate::admin::router(state.clone()))
        .route("/media/{*key}", axum::routing::get(media::get_media))
        .route("/metrics", axum::routing::get(crate::metrics::render))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed);
    let routes = routes
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::idempotency::layer,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::ratelimit::layer,
        ));
    guarded(routes).with_state(state)
}

/// The middleware of every route: a panic becomes the opaque 500 (logged in the
/// request's span), and the request metrics around it count that 500 like any other.
pub fn guarded<S: Clone + Send + Sync + 'static>(routes: Router<S>) -> Router<S> {
    routes
        .layer(CatchPanicLayer::custom(crate::error::panicked))
        .layer(axum::middleware::from_fn(crate::metrics::track))
}

async fn not_found(uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        ErrorCode::NotFound,
        format!("No endpoint at {}.", uri.path()),
    )
}

async fn method_not_allowed(req: Request) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        ErrorCode::MethodNotAllowed,
        format!("Method \"{}\" not allowed.", req.method()),
    )
}

/// Adds the trailing slash the seed's paths end with, so `/stories` reaches
/// `/stories/` (and `/admin/ai_video` the panel). Files under the prefix
/// (`openapi.json`, Swagger UI assets, the panel's stylesheet) are left as they are.
pub fn add_trailing_slash(mut req: Request) -> Request {
    let uri = req.uri();
    let path = uri.path();
    let last = path.rsplit('/').next().unwrap_or("");
    let ours = path.starts_with(PREFIX) || crate::admin::owns(path);
    if ours && !path.ends_with('/') && !last.contains('.') {
        let new = match uri.query() {
            Some(q) => format!("{path}/?{q}"),
            None => format!("{path}/"),
        };
        if let Ok(new) = new.parse::<Uri>() {
            *req.uri_mut() = new;
        }
    }
    req
}

#[cfg(test)]
mod tests {
    use axum::routing::get;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    /// One HTTP/1.1 request on a new connection; the whole response as text.
    async fn fetch(addr: std::net::SocketAddr, path: &str) -> String {
        let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
        let request = format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
        conn.write_all(request.as_bytes()).await.unwrap();
        let mut response = String::new();
        conn.read_to_string(&mut response).await.unwrap();
        response
    }

    async fn boom() -> &'static str {
        panic!("secret detail")
    }

    #[tokio::test]
    async fn a_panic_is_a_counted_opaque_500_and_the_server_keeps_serving() {
        crate::metrics::init();
        let app = guarded(
            Router::new()
                .route("/boom", get(boom))
                .route("/ok", get(|| async { "fine" })),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });

        let response = fetch(addr, "/boom").await;
        let (head, body) = response.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 500"), "{response}");
        assert!(
            head.to_ascii_lowercase()
                .contains("content-type: application/problem+json"),
            "{head}"
        );
        let problem: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(problem["code"], "internal_error");
        assert_eq!(problem["detail"], ApiError::internal().detail);
        assert!(!body.contains("secret detail"), "{body}");

        for _ in 0..2 {
            let response = fetch(addr, "/ok").await;
            assert!(response.starts_with("HTTP/1.1 200"), "{response}");
            assert!(response.ends_with("fine"), "{response}");
        }
        let metrics = ai_video_shared::telemetry::prometheus().render();
        assert!(
            metrics
                .lines()
                .any(|l| l.starts_with(crate::metrics::HTTP_REQUESTS)
                    && l.contains("route=\"/boom\"")
                    && l.contains("status=\"500\"")),
            "{metrics}"
        );
    }
}
