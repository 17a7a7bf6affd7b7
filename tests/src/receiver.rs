//! A foreign HTTP host for tests: it records every request it gets (method, path
//! and headers), answers `GET /redirect?to=URL` with a 302 to that URL, and
//! anything else with 401, as a host that expects a credential would.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    pub path: String,
    pub headers: HeaderMap,
}

#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<Received>>>);

pub struct Receiver {
    /// `http://127.0.0.1:port`
    pub base: String,
    log: Log,
}

impl Receiver {
    pub async fn start() -> Self {
        let log = Log::default();
        let app = Router::new()
            .route("/redirect", axum::routing::get(redirect))
            .fallback(refuse)
            .with_state(log.clone())
            .layer(axum::middleware::from_fn_with_state(log.clone(), record));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { base, log }
    }

    /// `127.0.0.1:port`, as `OUTBOUND_ALLOW_HOSTS` names it.
    pub fn host_port(&self) -> String {
        self.base.trim_start_matches("http://").to_string()
    }

    pub fn received(&self) -> Vec<Received> {
        self.log.0.lock().expect("log").clone()
    }
}

async fn record(
    State(log): State<Log>,
    request: Request,
    next: axum::middleware::Next,
) -> Response {
    log.0.lock().expect("log").push(Received {
        method: request.method().to_string(),
        path: request.uri().path().to_string(),
        headers: request.headers().clone(),
    });
    next.run(request).await
}

async fn redirect(Query(q): Query<HashMap<String, String>>) -> Response {
    match q.get("to") {
        Some(to) => (StatusCode::FOUND, [(header::LOCATION, to.clone())]).into_response(),
        None => StatusCode::BAD_REQUEST.into_response(),
    }
}

async fn refuse() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, "Bearer")],
        "a credential is required",
    )
        .into_response()
}
