//! Extractors that reject malformed input with the API's problem+json envelope.
//!
//! Body, path and query are parsed with the offending field's path kept
//! (`scenes[0].duration_seconds`), so that the answer names it as DRF would.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::ApiError;

use ai_video_shared::domain::ErrorCode;

/// A JSON body.
pub struct ApiJson<T>(pub T);

/// A JSON body that may be left out entirely (or be `null`), giving `T::default()`.
pub struct OptionalJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = read_json_body(req, state).await?;
        parse_json(&bytes).map(ApiJson)
    }
}

impl<S: Send + Sync, T: DeserializeOwned + Default> FromRequest<S> for OptionalJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let empty = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .is_some_and(|v| v == "0")
            || (!req.headers().contains_key(header::CONTENT_TYPE)
                && !req.headers().contains_key(header::TRANSFER_ENCODING)
                && !req.headers().contains_key(header::CONTENT_LENGTH));
        if empty {
            return Ok(OptionalJson(T::default()));
        }
        let bytes = read_json_body(req, state).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalJson(T::default()));
        }
        match parse_value(&bytes)? {
            Value::Null => Ok(OptionalJson(T::default())),
            value => from_value(value).map(OptionalJson),
        }
    }
}

async fn read_json_body<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mime = content_type.split(';').next().unwrap_or("").trim();
    if !(mime.eq_ignore_ascii_case("application/json") || mime.ends_with("+json")) {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::UnsupportedMediaType,
            format!("Unsupported media type \"{content_type}\" in request; send application/json."),
        ));
    }
    Bytes::from_request(req, state).await.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                ErrorCode::PayloadTooLarge,
                "The request body is larger than this API accepts.",
            )
        } else {
            ApiError::bad_request(ErrorCode::UnreadableBody, rejection.body_text())
        }
    })
}

/// Parses JSON, naming the field that is missing, unknown or of the wrong type.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let value = parse_value(bytes)?;
    // Every body is an object: serde would otherwise read a struct from an array.
    if !value.is_object() {
        return Err(ApiError::invalid_input(
            "non_field_errors",
            "Invalid data. Expected a JSON object.",
        ));
    }
    from_value(value)
}

/// The JSON document of a body; anything but JSON is `malformed_json`. A float
/// without a fraction (`7.0`) is read as the whole number it is, as DRF's
/// `IntegerField` and JSON Schema's `integer` read it.
fn parse_value(bytes: &[u8]) -> Result<Value, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request(
            ErrorCode::MalformedJson,
            "The request body is empty; expected a JSON object.",
        ));
    }
    let mut value = serde_json::from_slice(bytes).map_err(|e| {
        ApiError::bad_request(ErrorCode::MalformedJson, format!("JSON parse error - {e}"))
    })?;
    whole_numbers(&mut value);
    Ok(value)
}

fn whole_numbers(value: &mut Value) {
    match value {
        Value::Number(n) => {
            // 2^63: the first float past i64::MAX.
            let whole = n.as_f64().filter(|f| {
                n.is_f64() && f.fract() == 0.0 && f.abs() < 9_223_372_036_854_775_808.0
            });
            if let Some(f) = whole {
                *n = (f as i64).into();
            }
        }
        Value::Array(items) => items.iter_mut().for_each(whole_numbers),
        Value::Object(members) => members.values_mut().for_each(whole_numbers),
        _ => {}
    }
}

/// Reads `T` from a JSON document, naming the field at fault.
fn from_value<T: DeserializeOwned>(value: Value) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(value).map_err(|err| {
        let path = err.path().to_string();
        field_error(&path, &err.into_inner().to_string())
    })
}

/// A data error from serde, as `{field: [message]}` with status 400.
fn field_error(path: &str, message: &str) -> ApiError {
    let message = message
        .split(" at line ")
        .next()
        .unwrap_or(message)
        .to_string();
    let named = |kind: &str| {
        message
            .strip_prefix(kind)
            .and_then(|rest| rest.split('`').next())
            .map(str::to_string)
    };
    let join = |field: String| {
        if path == "." || path.is_empty() {
            field
        } else {
            format!("{path}.{field}")
        }
    };
    let (field, text) = if let Some(f) = named("missing field `") {
        (join(f), "This field is required.".to_string())
    } else if let Some(f) = named("unknown field `") {
        let field = if path.rsplit(['.', '[']).next() == Some(f.as_str()) {
            path.to_string()
        } else {
            join(f)
        };
        (field, capitalize(&message))
    } else {
        let field = if path == "." {
            "non_field_errors".into()
        } else {
            path.to_string()
        };
        (field, capitalize(&message))
    };
    ApiError::invalid_input(field, text)
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(first) => {
            first.to_uppercase().chain(c).collect::<String>()
                + if s.ends_with('.') { "" } else { "." }
        }
        None => String::new(),
    }
}

/// Path parameters. An id that cannot exist answers 404, as the resource it names.
pub struct ApiPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(v)) => {
                record_resource_id(parts);
                Ok(ApiPath(v))
            }
            Err(rejection) => {
                tracing::debug!(reason = %rejection.body_text(), "path parameter refused");
                Err(ApiError::new(
                    StatusCode::NOT_FOUND,
                    ErrorCode::NotFound,
                    "Not found: the id in this URL is not a valid UUID.",
                ))
            }
        }
    }
}

/// Puts the id of the story, scene or job a request is about on its span, so
/// every log line of the request carries it.
fn record_resource_id(parts: &Parts) {
    let route = parts
        .extensions
        .get::<axum::extract::MatchedPath>()
        .map(|p| p.as_str())
        .unwrap_or("");
    let field = ["stories", "scenes", "jobs"]
        .into_iter()
        .zip(["story.id", "scene.id", "job.id"])
        .find(|(resource, _)| route.contains(&format!("/{resource}/{{id}}")))
        .map(|(_, field)| field);
    let id = parts
        .uri
        .path()
        .split('/')
        .find(|s| s.parse::<uuid::Uuid>().is_ok());
    if let (Some(field), Some(id)) = (field, id) {
        tracing::Span::current().record(field, id);
    }
}

/// Query parameters; unknown ones are ignored, malformed ones are named.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or("");
        let de = serde_urlencoded::Deserializer::new(form_urlencoded_parse(query));
        serde_path_to_error::deserialize(de)
            .map(ApiQuery)
            .map_err(|err| {
                let path = err.path().to_string();
                let message = err.into_inner().to_string();
                field_error(&path, &message)
            })
    }
}

fn form_urlencoded_parse(query: &str) -> form_urlencoded::Parse<'_> {
    form_urlencoded::parse(query.as_bytes())
}
