//! The router: every resource under `/api/ai-video/`, the health endpoints, the
//! OpenAPI document and Swagger UI.
//!
//! Routes are registered through `utoipa-axum`, so a route cannot exist without its
//! entry in the OpenAPI document, and the document cannot list a route that does
//! not exist.

pub mod health;
pub mod jobs;
mod media;
pub mod providers;
pub mod scenes;
pub mod stories;
mod webhooks;

use axum::Router;
use axum::extract::Request;
use axum::http::{StatusCode, Uri};
use utoipa::OpenApi;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa_axum::router::OpenApiRouter;
use utoipa_swagger_ui::SwaggerUi;

use crate::AppState;
use crate::error::ApiError;

/// The URL prefix of the seed's API.
pub const PREFIX: &str = "/api/ai-video";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "ai-video",
        description = "Turns a written story into a rendered video with generative AI. \
            Authenticate with `Authorization: Bearer <JWT>`; errors are problem+json.",
    ),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
    tags(
        (name = "stories", description = "Stories and their state machine"),
        (name = "scenes", description = "Scenes of a story"),
        (name = "jobs", description = "Queued work"),
        (name = "providers", description = "Provider configurations (admins)"),
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
        .merge(scenes::router())
        .merge(jobs::router())
        .merge(providers::router())
        .merge(webhooks::router());
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .nest(PREFIX, resources)
        .merge(health::router())
        .split_for_parts()
}

/// The whole application router, with state applied.
pub fn router(state: AppState) -> Router {
    let (routes, openapi) = api();
    let docs =
        SwaggerUi::new(format!("{PREFIX}/docs")).url(format!("{PREFIX}/openapi.json"), openapi);
    routes
        .merge(docs)
        .route("/media/{*key}", axum::routing::get(media::get_media))
        .route("/metrics", axum::routing::get(crate::metrics::render))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn(crate::metrics::track))
        .with_state(state)
}

async fn not_found(uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("No endpoint at {}.", uri.path()),
    )
}

async fn method_not_allowed(req: Request) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("Method \"{}\" not allowed.", req.method()),
    )
}

/// Adds the trailing slash the seed's paths end with, so `/stories` reaches
/// `/stories/`. Files under the prefix (`openapi.json`, Swagger UI assets) are left
/// as they are.
pub fn add_trailing_slash(mut req: Request) -> Request {
    let uri = req.uri();
    let path = uri.path();
    let last = path.rsplit('/').next().unwrap_or("");
    if path.starts_with(PREFIX) && !path.ends_with('/') && !last.contains('.') {
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
