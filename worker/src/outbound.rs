//! The outbound guard's HTTP client: the policy (`ai_video_shared::outbound`) applied
//! to every connection the client opens and every redirect it follows.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

pub use ai_video_shared::outbound::{MAX_REDIRECTS, Outbound, Refused, forbidden, without_query};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// Builds guarded clients.
pub trait GuardedClient {
    /// An HTTP client that applies the policy to every connection and redirect;
    /// `timeout` bounds each request.
    fn client(self: &Arc<Self>, timeout: Duration) -> reqwest::Client;
}

impl GuardedClient for Outbound {
    fn client(self: &Arc<Self>, timeout: Duration) -> reqwest::Client {
        let redirects = self.clone();
        reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("ai-video/", env!("CARGO_PKG_VERSION")))
            .dns_resolver(Arc::new(GuardedResolver {
                policy: self.clone(),
            }))
            .redirect(reqwest::redirect::Policy::custom(move |attempt| {
                if attempt.previous().len() >= MAX_REDIRECTS {
                    return attempt.error(format!("more than {MAX_REDIRECTS} redirects"));
                }
                match redirects.check_static(attempt.url()) {
                    Ok(()) => attempt.follow(),
                    Err(refused) => attempt.error(refused),
                }
            }))
            .build()
            .unwrap_or_default()
    }
}
/// Resolves names and drops forbidden addresses, unless the host is trusted.
struct GuardedResolver {
    policy: Arc<Outbound>,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy.clone();
        Box::pin(async move {
            let host = name.as_str().to_string();
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let trusted = policy.trusted_host(&host);
            let allowed: Vec<SocketAddr> = found
                .into_iter()
                .filter(|a| trusted || forbidden(a.ip()).is_none())
                .collect();
            if allowed.is_empty() {
                return Err(Box::new(Refused {
                    url: host.clone(),
                    reason: format!("{host} resolves only to internal addresses"),
                })
                    as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}
