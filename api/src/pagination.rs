//! Page-number pagination in Django REST Framework's shape:
//! `{count, next, previous, results}`, with `?page=` and `?page_size=`.

use ai_video_shared::domain::ErrorCode;
use ai_video_shared::store::{Page, PageRequest};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use serde::{Deserialize, Serialize};

use crate::error::ApiError;

/// `?page=` (1 to 1,000,000,000, default 1) and `?page_size=` (1 to 100, default 20).
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// A page past the last one, or past 1,000,000,000, answers 404 "Invalid page.".
    #[param(value_type = Option<u64>, minimum = 1, maximum = 1_000_000_000)]
    pub page: Option<String>,
    #[param(minimum = 1, maximum = 100)]
    pub page_size: Option<u64>,
}

impl PageParams {
    /// The page asked for, checked before any query runs: a page number that is not
    /// a whole number is 400, page 0 or a size out of range 422, and a page beyond
    /// [`PageRequest::MAX_PAGE`] (however large) 404, as a page past the end is.
    pub fn request(&self) -> Result<PageRequest, ApiError> {
        let page = match self.page.as_deref() {
            None => 1,
            Some(raw) if raw.is_empty() || !raw.bytes().all(|b| b.is_ascii_digit()) => {
                return Err(ApiError::invalid_input(
                    "page",
                    "A valid integer is required.",
                ));
            }
            Some(raw) => match raw.parse::<u64>() {
                Ok(0) => return Err(ApiError::field("page", "Pages are numbered from 1.")),
                Ok(n) if n <= PageRequest::MAX_PAGE => n,
                _ => return Err(invalid_page()),
            },
        };
        let page_size = self.page_size.unwrap_or(PageRequest::DEFAULT_SIZE);
        if !(1..=PageRequest::MAX_SIZE).contains(&page_size) {
            return Err(ApiError::field(
                "page_size",
                format!("Must be between 1 and {}.", PageRequest::MAX_SIZE),
            ));
        }
        Ok(PageRequest { page, page_size })
    }
}

/// DRF's answer to a page that does not exist.
fn invalid_page() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, ErrorCode::NotFound, "Invalid page.")
}

/// One page of a list.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Paginated<T> {
    pub count: u64,
    /// The next page's URL, or null on the last page.
    pub next: Option<String>,
    /// The previous page's URL, or null on the first page.
    pub previous: Option<String>,
    pub results: Vec<T>,
}

/// The URL of the current request, to build `next` and `previous` from.
pub struct RequestUrl {
    base: String,
    query: Vec<(String, String)>,
}

impl<S: Send + Sync> FromRequestParts<S> for RequestUrl {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let header = |name: &str| {
            parts
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(|v| v.split(',').next().unwrap_or(v).trim().to_string())
        };
        let scheme = header("x-forwarded-proto").unwrap_or_else(|| "http".into());
        let host = header("x-forwarded-host")
            .or_else(|| header(header::HOST.as_str()))
            .unwrap_or_else(|| "localhost".into());
        let path = parts
            .extensions
            .get::<axum::extract::OriginalUri>()
            .map(|u| u.0.path().to_string())
            .unwrap_or_else(|| parts.uri.path().to_string());
        let query = form_urlencoded::parse(parts.uri.query().unwrap_or("").as_bytes())
            .into_owned()
            .collect();
        Ok(RequestUrl {
            base: format!("{scheme}://{host}{path}"),
            query,
        })
    }
}

impl RequestUrl {
    fn with_page(&self, page: u64) -> String {
        let mut ser = form_urlencoded::Serializer::new(String::new());
        for (k, v) in self.query.iter().filter(|(k, _)| k != "page") {
            ser.append_pair(k, v);
        }
        if page > 1 {
            ser.append_pair("page", &page.to_string());
        }
        let query = ser.finish();
        if query.is_empty() {
            self.base.clone()
        } else {
            format!("{}?{query}", self.base)
        }
    }

    /// Wraps a page of results; a page past the end is 404, as in DRF.
    pub fn paginate<M, T>(
        &self,
        req: PageRequest,
        page: Page<M>,
        map: impl FnMut(M) -> T,
    ) -> Result<Paginated<T>, ApiError> {
        let pages = page.count.div_ceil(req.page_size).max(1);
        if req.page > pages {
            return Err(invalid_page());
        }
        Ok(Paginated {
            count: page.count,
            next: (req.page < pages).then(|| self.with_page(req.page + 1)),
            previous: (req.page > 1).then(|| self.with_page(req.page - 1)),
            results: page.items.into_iter().map(map).collect(),
        })
    }
}
