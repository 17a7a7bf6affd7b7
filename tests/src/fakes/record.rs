//! The request log: a middleware in front of every fake reads each request body
//! once, records method, path, headers and body (JSON as a value, multipart as its
//! text fields and the byte length of its files), and hands the parsed body on to
//! the handler, so tests can assert exactly what an adapter sent.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, Multipart, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::control::Shared;

/// Bodies larger than this are not read at all.
const MAX_BODY: usize = 64 * 1024 * 1024;

/// One request a fake received.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    pub at: Instant,
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    /// Every header, by lower-case name (repeated headers joined with `, `).
    pub headers: BTreeMap<String, String>,
    pub body: RecordedBody,
}

impl RecordedRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }

    /// The JSON body, if it was one.
    pub fn json(&self) -> Option<&Value> {
        match &self.body {
            RecordedBody::Json(v) => Some(v),
            _ => None,
        }
    }

    /// The multipart form, if it was one.
    pub fn form(&self) -> Option<&Form> {
        match &self.body {
            RecordedBody::Multipart(f) => Some(f),
            _ => None,
        }
    }
}

/// A request body as recorded.
#[derive(Debug, Clone, PartialEq)]
pub enum RecordedBody {
    Empty,
    /// A body sent as `application/json` that parsed.
    Json(Value),
    /// A `multipart/form-data` body that parsed.
    Multipart(Form),
    /// Anything else, including JSON or multipart that did not parse.
    Other {
        content_type: String,
        len: usize,
    },
}

/// A multipart form: parts without a file name are text fields; parts with one
/// (or with non-text bytes) are files, recorded by their length.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Form {
    pub fields: BTreeMap<String, String>,
    pub files: BTreeMap<String, usize>,
}

/// The body as handlers get it: the recorded form plus file bytes and raw size.
pub(crate) struct Parsed {
    pub body: RecordedBody,
    pub files: HashMap<String, Bytes>,
    pub len: usize,
}

impl Parsed {
    pub fn json(&self) -> Option<&Value> {
        match &self.body {
            RecordedBody::Json(v) => Some(v),
            _ => None,
        }
    }

    pub fn form(&self) -> Option<&Form> {
        match &self.body {
            RecordedBody::Multipart(f) => Some(f),
            _ => None,
        }
    }
}

/// Records the request and passes its parsed body to the handler as an extension.
pub(crate) async fn record(
    State(shared): State<Arc<Shared>>,
    req: Request,
    next: Next,
) -> Response {
    let (parts, body) = req.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_BODY).await else {
        return StatusCode::PAYLOAD_TOO_LARGE.into_response();
    };
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let mut files = HashMap::new();
    let body = if bytes.is_empty() {
        RecordedBody::Empty
    } else if content_type.starts_with("application/json") {
        match serde_json::from_slice(&bytes) {
            Ok(v) => RecordedBody::Json(v),
            Err(_) => other(&content_type, &bytes),
        }
    } else if content_type.starts_with("multipart/form-data") {
        let req = Request::from_parts(parts.clone(), Body::from(bytes.clone()));
        match read_form(req).await {
            Some((form, f)) => {
                files = f;
                RecordedBody::Multipart(form)
            }
            None => other(&content_type, &bytes),
        }
    } else {
        other(&content_type, &bytes)
    };
    let mut headers = BTreeMap::new();
    for (name, value) in &parts.headers {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        headers
            .entry(name.as_str().to_string())
            .and_modify(|v: &mut String| {
                v.push_str(", ");
                v.push_str(&value);
            })
            .or_insert(value);
    }
    shared.state().requests.push(RecordedRequest {
        at: Instant::now(),
        method: parts.method.to_string(),
        path: parts.uri.path().to_string(),
        query: parts.uri.query().map(String::from),
        headers,
        body: body.clone(),
    });
    let mut req = Request::from_parts(parts, Body::from(bytes.clone()));
    req.extensions_mut().insert(Arc::new(Parsed {
        body,
        files,
        len: bytes.len(),
    }));
    next.run(req).await
}

fn other(content_type: &str, bytes: &Bytes) -> RecordedBody {
    RecordedBody::Other {
        content_type: content_type.to_string(),
        len: bytes.len(),
    }
}

async fn read_form(req: Request) -> Option<(Form, HashMap<String, Bytes>)> {
    let mut multipart = Multipart::from_request(req, &()).await.ok()?;
    let mut form = Form::default();
    let mut files = HashMap::new();
    while let Some(field) = multipart.next_field().await.ok()? {
        let name = field.name().unwrap_or("").to_string();
        let is_file = field.file_name().is_some();
        let data = field.bytes().await.ok()?;
        match (is_file, std::str::from_utf8(&data)) {
            (false, Ok(text)) => {
                form.fields.insert(name, text.to_string());
            }
            _ => {
                form.files.insert(name.clone(), data.len());
                files.insert(name, data);
            }
        }
    }
    Some((form, files))
}
