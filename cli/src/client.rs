//! The HTTP client of the API: every call sends the bearer token, reads JSON, and
//! turns an error answer into a [`CliError`] (problem+json when the API sent one).
//!
//! Policy: a connection is given 10 s to open and an answer 60 s to arrive; the
//! event stream and downloads have no overall limit, only a 90 s limit between two
//! reads. Nothing is retried here: whoever waits for a story decides what to retry.
//! Media links (`/media/…?signature=…`) are capabilities of their own, so the token
//! is never sent with them.

use std::time::Duration;

use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderValue};
use reqwest::{Method, RequestBuilder, Response, Url};
use serde_json::Value;

use crate::config::Config;
use crate::error::{CliError, Result};

const ANSWER_TIMEOUT: Duration = Duration::from_secs(60);
/// Pages are read 100 at a time, the API's largest page.
const PAGE_SIZE: usize = 100;

/// The API at one base URL, as one user.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    /// The base URL, ending in `/` so that relative paths join under it.
    base: Url,
    token: Option<String>,
}

impl Client {
    pub fn new(config: &Config) -> Result<Self> {
        let base = Url::parse(&format!("{}/", config.url))
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https"))
            .ok_or_else(|| {
                CliError::Usage(format!(
                    "the API URL {:?} is not an http(s) URL (set --url or AI_VIDEO_URL)",
                    config.url
                ))
            })?;
        let http = reqwest::Client::builder()
            .user_agent(concat!("ai-video-cli/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(10))
            .read_timeout(Duration::from_secs(90))
            .build()
            .map_err(|e| CliError::Other(anyhow::Error::new(e).context("HTTP client")))?;
        Ok(Self {
            http,
            base,
            token: config.token.clone(),
        })
    }

    /// `path` (relative, e.g. `stories/{id}/`) under the base URL.
    pub fn url(&self, path: &str) -> Url {
        self.base
            .join(path.trim_start_matches('/'))
            .expect("a relative path joins onto an http URL")
    }

    /// A media link as the API answers it (`/media/…` from the server's root, or an
    /// absolute CDN URL), made absolute.
    pub fn media_url(&self, link: &str) -> Result<Url> {
        self.base.join(link).map_err(|e| {
            CliError::Other(anyhow::anyhow!(
                "the API answered a bad media link {link:?}: {e}"
            ))
        })
    }

    fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.authorized(self.http.request(method, self.url(path)))
    }

    fn authorized(&self, req: RequestBuilder) -> RequestBuilder {
        match &self.token {
            Some(t) => req.bearer_auth(t),
            None => req,
        }
    }

    /// Sends the request; an answer outside 2xx becomes an error.
    async fn send(&self, req: RequestBuilder) -> Result<Response> {
        let req = req.build().map_err(|e| CliError::Usage(e.to_string()))?;
        let url = redact(req.url());
        let answer = self
            .http
            .execute(req)
            .await
            .map_err(|e| unreachable(&url, &e))?;
        check(answer, &url).await
    }

    async fn json(&self, req: RequestBuilder) -> Result<Value> {
        let answer = self.send(req.timeout(ANSWER_TIMEOUT)).await?;
        if answer.status() == reqwest::StatusCode::NO_CONTENT {
            return Ok(Value::Null);
        }
        let url = redact(answer.url());
        let bytes = answer.bytes().await.map_err(|e| unreachable(&url, &e))?;
        if bytes.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&bytes).map_err(|e| {
            CliError::Other(anyhow::anyhow!(
                "{url} answered something that is not JSON: {e}"
            ))
        })
    }

    pub async fn get(&self, path: &str) -> Result<Value> {
        self.json(self.request(Method::GET, path)).await
    }

    pub async fn get_query(&self, path: &str, query: &[(&str, String)]) -> Result<Value> {
        let mut url = self.url(path);
        url.query_pairs_mut().extend_pairs(query);
        self.json(self.authorized(self.http.get(url))).await
    }

    /// A POST with a JSON body, or none.
    pub async fn post(&self, path: &str, body: Option<&Value>) -> Result<Value> {
        let req = self.request(Method::POST, path);
        let req = match body {
            Some(b) => req.json(b),
            None => req,
        };
        self.json(req).await
    }

    /// A POST whose body is raw bytes of `content_type`.
    pub async fn post_bytes(&self, path: &str, content_type: &str, body: Vec<u8>) -> Result<Value> {
        let req = self
            .request(Method::POST, path)
            .header(CONTENT_TYPE, content_type)
            .body(body);
        self.json(req).await
    }

    pub async fn delete(&self, path: &str) -> Result<Value> {
        self.json(self.request(Method::DELETE, path)).await
    }

    /// Every item of a list, page after page (`page_size=100`).
    pub async fn all_pages(&self, path: &str, query: &[(&str, String)]) -> Result<Vec<Value>> {
        let mut items = Vec::new();
        for page in 1.. {
            let mut q = query.to_vec();
            q.push(("page", page.to_string()));
            q.push(("page_size", PAGE_SIZE.to_string()));
            let body = self.get_query(path, &q).await?;
            let results = body["results"].as_array().cloned().unwrap_or_default();
            let done = results.len() < PAGE_SIZE || body["next"].is_null();
            items.extend(results);
            let count = body["count"].as_u64().unwrap_or(0) as usize;
            if done || items.len() >= count {
                break;
            }
        }
        Ok(items)
    }

    /// Opens a story's event stream, from after `last_id` when given. Anything
    /// but a 2xx `text/event-stream` answer is an error.
    pub async fn events(&self, story: &str, last_id: Option<&str>) -> Result<Response> {
        let mut req = self
            .request(Method::GET, &format!("stories/{story}/events/"))
            .header(ACCEPT, "text/event-stream");
        if let Some(id) = last_id.and_then(|id| HeaderValue::from_str(id).ok()) {
            req = req.header("Last-Event-ID", id);
        }
        let answer = self.send(req).await?;
        let streams = answer
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/event-stream"));
        if !streams {
            return Err(CliError::Other(anyhow::anyhow!(
                "{} is not an event stream",
                redact(answer.url())
            )));
        }
        Ok(answer)
    }

    /// Fetches a media link (following redirects, without the token).
    pub async fn fetch_media(&self, url: Url) -> Result<Response> {
        self.send(self.http.get(url)).await
    }
}

/// A URL fit for a message: without its query, where a media link keeps its
/// signature.
fn redact(url: &Url) -> String {
    let mut url = url.clone();
    url.set_query(None);
    url.to_string()
}

fn unreachable(url: &str, e: &reqwest::Error) -> CliError {
    let reason = if e.is_timeout() {
        "no answer in time".to_string()
    } else if e.is_connect() {
        "connection refused or failed".to_string()
    } else {
        let mut reason = e.to_string();
        let mut source = std::error::Error::source(e);
        while let Some(s) = source {
            reason = format!("{reason}: {s}");
            source = s.source();
        }
        reason
    };
    CliError::Unreachable {
        url: url.to_string(),
        reason,
    }
}

async fn check(answer: Response, url: &str) -> Result<Response> {
    let status = answer.status();
    if status.is_success() {
        return Ok(answer);
    }
    let body = answer.bytes().await.map_err(|e| unreachable(url, &e))?;
    Err(CliError::from_answer(status.as_u16(), &body))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(url: &str) -> Client {
        Client::new(&Config {
            url: url.into(),
            token: None,
        })
        .unwrap()
    }

    #[test]
    fn paths_join_under_the_base() {
        let c = client("http://h:8000/api/ai-video");
        assert_eq!(
            c.url("stories/abc/").as_str(),
            "http://h:8000/api/ai-video/stories/abc/"
        );
        assert_eq!(c.url("/jobs/").as_str(), "http://h:8000/api/ai-video/jobs/");
    }

    #[test]
    fn media_links_resolve_from_the_server_root_or_stay_absolute() {
        let c = client("http://h:8000/api/ai-video");
        assert_eq!(
            c.media_url("/media/stories/x/final.mp4?expires=1&signature=ab")
                .unwrap()
                .as_str(),
            "http://h:8000/media/stories/x/final.mp4?expires=1&signature=ab"
        );
        assert_eq!(
            c.media_url("https://cdn.example/x.mp4").unwrap().as_str(),
            "https://cdn.example/x.mp4"
        );
    }

    #[test]
    fn a_url_that_is_not_http_is_a_usage_error() {
        let e = Client::new(&Config {
            url: "localhost:8000".into(),
            token: None,
        })
        .unwrap_err();
        assert!(matches!(e, CliError::Usage(_)), "{e}");
    }
}
