//! The API's metrics, declared here and nowhere else, served at `/metrics`.
//!
//! Labels are bounded: the matched route template (never a raw URL or an id), the
//! method and the status code.

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics::{
    Unit, counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram,
};

pub const HTTP_REQUESTS: &str = "ai_video_http_requests_total";
pub const HTTP_DURATION: &str = "ai_video_http_request_duration_seconds";
pub const HTTP_IN_FLIGHT: &str = "ai_video_http_requests_in_flight";

/// Installs the recorder and describes every metric; idempotent.
pub fn init() {
    ai_video_shared::telemetry::prometheus();
    describe_counter!(
        HTTP_REQUESTS,
        Unit::Count,
        "HTTP requests answered, by method, matched route and status."
    );
    describe_histogram!(
        HTTP_DURATION,
        Unit::Seconds,
        "Time to answer an HTTP request, by method and matched route."
    );
    describe_gauge!(
        HTTP_IN_FLIGHT,
        Unit::Count,
        "HTTP requests being answered right now."
    );
    gauge!(HTTP_IN_FLIGHT).set(0.0);
}

/// Records each request's count, latency and status.
pub async fn track(req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let method = req.method().as_str().to_owned();
    let started = Instant::now();
    gauge!(HTTP_IN_FLIGHT).increment(1.0);
    let response = next.run(req).await;
    gauge!(HTTP_IN_FLIGHT).decrement(1.0);
    let status = response.status().as_u16().to_string();
    histogram!(HTTP_DURATION, "method" => method.clone(), "route" => route.clone())
        .record(started.elapsed().as_secs_f64());
    counter!(HTTP_REQUESTS, "method" => method, "route" => route, "status" => status).increment(1);
    response
}

/// `GET /metrics`: everything the process recorded, in Prometheus text format.
pub async fn render() -> impl IntoResponse {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        ai_video_shared::telemetry::prometheus().render(),
    )
}
