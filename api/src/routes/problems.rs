//! The error answers of the OpenAPI document, one per status code, each an
//! `application/problem+json` [`Problem`]. An operation lists those it can give:
//! `Auth` can answer 401, `Admin` also 403, a JSON body 400, 413, 415 and 422, a
//! query 400, a page 404 and 422, an id in the path 404, and the state machine 409.

use std::collections::BTreeMap;

use utoipa::ToResponse;
use utoipa::openapi::{Ref, RefOr, Response};

use crate::error::Problem;

/// Malformed input: the body is not JSON or not an object, or a field or query
/// parameter is missing, unknown or of the wrong type (`malformed_json`,
/// `invalid_input`, with the field named).
#[derive(ToResponse)]
#[response(content_type = "application/problem+json")]
#[expect(dead_code, reason = "documentation only")]
pub struct BadRequest(Problem);

/// No usable bearer token: missing, expired, forged or unsigned
/// (`not_authenticated`, `token_not_valid`).
#[derive(ToResponse)]
#[response(
    content_type = "application/problem+json",
    headers(("WWW-Authenticate" = String, description = "`Bearer realm=\"api\"`"))
)]
#[expect(dead_code, reason = "documentation only")]
pub struct Unauthorized(Problem);

/// Only admins may do this (`permission_denied`).
#[derive(ToResponse)]
#[response(content_type = "application/problem+json")]
#[expect(dead_code, reason = "documentation only")]
pub struct Forbidden(Problem);

/// No such object for this viewer (another user's is not found either), an id
/// that is not one, or a page that does not exist ("Invalid page.") (`not_found`).
#[derive(ToResponse)]
#[response(content_type = "application/problem+json")]
#[expect(dead_code, reason = "documentation only")]
pub struct NotFound(Problem);

/// The request conflicts with the current state: an illegal transition (with
/// `legal_targets`), a stale `version`, a taken position, a job that cannot be
/// retried or cancelled now.
#[derive(ToResponse)]
#[response(content_type = "application/problem+json")]
#[expect(dead_code, reason = "documentation only")]
pub struct Conflict(Problem);

/// The body is larger than the API accepts (`payload_too_large`).
#[derive(ToResponse)]
#[response(content_type = "application/problem+json")]
#[expect(dead_code, reason = "documentation only")]
pub struct PayloadTooLarge(Problem);

/// The body is not `application/json` (`unsupported_media_type`).
#[derive(ToResponse)]
#[response(content_type = "application/problem+json")]
#[expect(dead_code, reason = "documentation only")]
pub struct UnsupportedMediaType(Problem);

/// Well-formed input with unacceptable values; `errors` lists every bad field at
/// once (`validation_error`).
#[derive(ToResponse)]
#[response(content_type = "application/problem+json")]
#[expect(dead_code, reason = "documentation only")]
pub struct UnprocessableEntity(Problem);

/// The work would pass its owner's monthly budget (`budget_exceeded`); `amounts`
/// says by how much.
#[derive(ToResponse)]
#[response(content_type = "application/problem+json")]
#[expect(dead_code, reason = "documentation only")]
pub struct PaymentRequired(Problem);

/// Over a quota (`quota_exceeded`) or a request rate limit (`throttled`);
/// `Retry-After` says when to come back.
#[derive(ToResponse)]
#[response(
    content_type = "application/problem+json",
    headers(
        ("Retry-After" = u32, description = "Seconds until the request may succeed"),
        ("RateLimit" = String, description = "For `throttled`: the limit that was hit, e.g. `\"user\";r=0;t=12` (draft-ietf-httpapi-ratelimit-headers)"),
        ("RateLimit-Policy" = String, description = "For `throttled`: the policies, e.g. `\"user\";q=600;w=60`")
    )
)]
#[expect(dead_code, reason = "documentation only")]
pub struct TooManyRequests(Problem);

/// A dependency is unavailable for now; try again (`unavailable`).
#[derive(ToResponse)]
#[response(content_type = "application/problem+json")]
#[expect(dead_code, reason = "documentation only")]
pub struct ServiceUnavailable(Problem);

/// The problems one source of refusals can answer with, as references to the
/// responses above; an operation lists the sources it has.
macro_rules! problems {
    ($($(#[$doc:meta])* $name:ident => [$($status:literal: $response:ty),+];)+) => {$(
        $(#[$doc])*
        pub struct $name;

        impl utoipa::IntoResponses for $name {
            fn responses() -> BTreeMap<String, RefOr<Response>> {
                BTreeMap::from([$((
                    $status.to_string(),
                    Ref::from_response_name(<$response as ToResponse>::response().0).into(),
                )),+])
            }
        }
    )+};
}

problems! {
    /// The bearer token (every operation but the probes and the webhook).
    Auth => [401: Unauthorized];
    /// The admin check.
    Admin => [401: Unauthorized, 403: Forbidden];
    /// A JSON body: its syntax and shape, its size, its media type, its values.
    Body => [400: BadRequest, 413: PayloadTooLarge, 415: UnsupportedMediaType,
        422: UnprocessableEntity];
    /// Query parameters: filters of the wrong type.
    Query => [400: BadRequest];
    /// `?page=` and `?page_size=`: a page that does not exist, a size out of range.
    Page => [404: NotFound, 422: UnprocessableEntity];
    /// The object named in the path.
    Lookup => [404: NotFound];
    /// The story's state machine and the other rules about the current state.
    State => [409: Conflict];
    /// Work that spends money: the owner's budget and quotas.
    Spend => [402: PaymentRequired, 429: TooManyRequests];
}

/// What every operation can meet at the edge, added once the routes are known: a
/// request rate limit (429 `throttled`) on all but the probes, and on the POSTs a
/// user makes the answers of an `Idempotency-Key` (409 while the first request runs,
/// 422 when the key was used for another request). The header itself is described in
/// docs/api.md rather than declared as a parameter: a generated client that filled it
/// with one value for every call would have its calls refused as reuses.
pub fn document_edge(openapi: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::path::Operation;

    fn respond(op: &mut Operation, status: &str, name: &str) {
        op.responses
            .responses
            .entry(status.to_owned())
            .or_insert_with(|| Ref::from_response_name(name).into());
    }
    let too_many = <TooManyRequests as ToResponse>::response().0;
    let conflict = <Conflict as ToResponse>::response().0;
    let unprocessable = <UnprocessableEntity as ToResponse>::response().0;
    for (path, item) in openapi.paths.paths.iter_mut() {
        let probe = matches!(path.as_str(), "/healthz" | "/readyz");
        let ops = [
            &mut item.get,
            &mut item.post,
            &mut item.put,
            &mut item.patch,
            &mut item.delete,
        ];
        for (i, op) in ops.into_iter().enumerate() {
            let Some(op) = op else { continue };
            if !probe {
                respond(op, "429", too_many);
            }
            let public = op
                .security
                .as_ref()
                .is_some_and(|s| s.iter().all(|r| *r == Default::default()));
            if i == 1 && !public {
                respond(op, "409", conflict);
                respond(op, "422", unprocessable);
            }
        }
    }
}
