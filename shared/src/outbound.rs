//! The guard on every fetch to a URL the system was given: provider outputs, polling
//! URLs, music beds and webhook endpoints (checked when registered and at each
//! delivery). A hostile or broken answer must
//! not make the worker read its own network (`http://169.254.169.254/…`, its metrics
//! port, a database) and store the answer as media.
//!
//! - Only `https`, except to a trusted origin: a configured provider base
//!   (`*_API_BASE`) or an `OUTBOUND_ALLOW_HOSTS` entry.
//! - The address a name resolves to (or an address written in the URL) must not be
//!   loopback, private, link-local (the cloud metadata range), CGNAT, unspecified,
//!   multicast or reserved, unless the host is trusted. The check runs before the
//!   request and again in the client's resolver, so a name that changes its answer
//!   between the two (DNS rebinding) is still refused.
//! - Redirects are followed at most [`MAX_REDIRECTS`] times, each target checked like
//!   the first URL; credentials never follow a redirect to another host (reqwest drops
//!   `Authorization` across hosts).
//! - A provider's credentials go only to that provider's own API origin
//!   ([`Outbound::same_origin`]); never to its delivery CDN or anywhere else.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::config::{ConfigError, Env};
use url::Url;

/// Redirects followed per request.
pub const MAX_REDIRECTS: usize = 3;

/// Why a URL is not fetched.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("refused to fetch {url}: {reason}")]
pub struct Refused {
    /// The URL without its query (which may carry signatures).
    pub url: String,
    pub reason: String,
}

/// A `host[:port]` the worker may reach whatever its address and scheme.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Origin {
    host: String,
    /// `None`: any port.
    port: Option<u16>,
}

impl Origin {
    fn parse(entry: &str) -> Option<Self> {
        let entry = entry.trim().trim_end_matches('/');
        if entry.is_empty() {
            return None;
        }
        if entry.contains("://") {
            let url = Url::parse(entry).ok()?;
            return Some(Self {
                host: url.host_str()?.to_ascii_lowercase(),
                port: url.port_or_known_default(),
            });
        }
        // `[v6]:port`, `host:port`, or a bare host (a bare IPv6 address included).
        let (host, port) = match entry.rsplit_once(':') {
            Some((h, p)) if !h.contains(':') || h.ends_with(']') => (h, Some(p.parse().ok()?)),
            _ => (entry, None),
        };
        Some(Self {
            host: host.trim_matches(['[', ']']).to_ascii_lowercase(),
            port,
        })
    }

    fn matches(&self, host: &str, port: Option<u16>) -> bool {
        self.host == host && (self.port.is_none() || self.port == port)
    }
}

/// The outbound policy of one worker process.
#[derive(Debug, Clone, Default)]
pub struct Outbound {
    trusted: Vec<Origin>,
}

impl Outbound {
    /// Trusts the provider bases and `OUTBOUND_ALLOW_HOSTS` (comma-separated
    /// `host[:port]`).
    pub fn from_env(env: &dyn Env, bases: &[&str]) -> Result<Self, ConfigError> {
        let mut trusted: Vec<Origin> = bases.iter().filter_map(|b| Origin::parse(b)).collect();
        if let Some(list) = env.var("OUTBOUND_ALLOW_HOSTS") {
            for entry in list.split(',').filter(|e| !e.trim().is_empty()) {
                let origin = Origin::parse(entry).ok_or_else(|| {
                    ConfigError::new(
                        "OUTBOUND_ALLOW_HOSTS",
                        format!("{entry:?} is not a host or host:port"),
                    )
                })?;
                trusted.push(origin);
            }
        }
        Ok(Self { trusted })
    }

    fn trusted_origin(&self, url: &Url) -> bool {
        let Some(host) = host_of(url) else {
            return false;
        };
        let port = url.port_or_known_default();
        self.trusted.iter().any(|o| o.matches(&host, port))
    }

    /// Whether `host` is trusted on any port.
    pub fn trusted_host(&self, host: &str) -> bool {
        let host = host.trim_matches(['[', ']']).to_ascii_lowercase();
        self.trusted.iter().any(|o| o.host == host)
    }

    /// What can be decided without resolving: the scheme, and an address written in
    /// the URL.
    pub fn check_static(&self, url: &Url) -> Result<(), Refused> {
        let refuse = |reason: String| Refused {
            url: without_query(url),
            reason,
        };
        let trusted = self.trusted_origin(url);
        match url.scheme() {
            "https" => {}
            "http" if trusted => {}
            scheme => {
                return Err(refuse(format!(
                    "{scheme}:// is not allowed (only https, or a configured provider or OUTBOUND_ALLOW_HOSTS origin)"
                )));
            }
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(refuse("URLs with credentials are not fetched".into()));
        }
        let Some(host) = host_of(url) else {
            return Err(refuse("the URL names no host".into()));
        };
        if !trusted
            && let Ok(ip) = host.parse::<IpAddr>()
            && let Some(kind) = forbidden(ip)
        {
            return Err(refuse(format!("{ip} is a {kind} address")));
        }
        Ok(())
    }

    /// The full check before a request: [`Outbound::check_static`], then every
    /// address the host resolves to.
    pub async fn check(&self, url: &Url) -> Result<(), Refused> {
        self.check_static(url)?;
        if self.trusted_origin(url) {
            return Ok(());
        }
        let Some(host) = host_of(url) else {
            return Ok(());
        };
        if host.parse::<IpAddr>().is_ok() {
            return Ok(());
        }
        let port = url.port_or_known_default().unwrap_or(443);
        let addrs = tokio::net::lookup_host((host.as_str(), port))
            .await
            .map_err(|e| Refused {
                url: without_query(url),
                reason: format!("{host} does not resolve: {e}"),
            })?;
        for addr in addrs {
            if let Some(kind) = forbidden(addr.ip()) {
                return Err(Refused {
                    url: without_query(url),
                    reason: format!("{host} resolves to {}, a {kind} address", addr.ip()),
                });
            }
        }
        Ok(())
    }

    /// Whether `url` is on the same origin (scheme, host, port) as `base`: only
    /// then does a provider's credential go with it.
    pub fn same_origin(url: &Url, base: &str) -> bool {
        Url::parse(base).is_ok_and(|b| {
            b.scheme() == url.scheme()
                && host_of(&b) == host_of(url)
                && b.port_or_known_default() == url.port_or_known_default()
        })
    }
}

fn host_of(url: &Url) -> Option<String> {
    url.host_str()
        .map(|h| h.trim_matches(['[', ']']).to_ascii_lowercase())
}

/// The URL without query or fragment, for messages.
pub fn without_query(url: &Url) -> String {
    let mut shown = url.clone();
    shown.set_query(None);
    shown.set_fragment(None);
    shown.to_string()
}

/// What kind of address the worker must not reach, if it is one.
pub fn forbidden(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return forbidden_v4(v4);
            }
            forbidden_v6(v6)
        }
    }
}

fn forbidden_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, ..] = ip.octets();
    if ip.is_loopback() {
        Some("loopback")
    } else if ip.is_private() {
        Some("private")
    } else if ip.is_link_local() {
        Some("link-local (cloud metadata)")
    } else if a == 100 && (64..128).contains(&b) {
        Some("shared (CGNAT)")
    } else if ip.is_unspecified() || a == 0 {
        Some("unspecified")
    } else if ip.is_multicast() || ip.is_broadcast() || a >= 240 {
        Some("multicast or reserved")
    } else if a == 192 && b == 0 && ip.octets()[2] == 0 {
        Some("IETF protocol")
    } else {
        None
    }
}

fn forbidden_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let first = ip.segments()[0];
    if ip.is_loopback() {
        Some("loopback")
    } else if ip.is_unspecified() {
        Some("unspecified")
    } else if first & 0xfe00 == 0xfc00 {
        Some("private (unique local)")
    } else if first & 0xffc0 == 0xfe80 {
        Some("link-local")
    } else if ip.is_multicast() {
        Some("multicast")
    } else if let Some(v4) = ip.to_ipv4() {
        // IPv4-compatible (deprecated) forms of internal IPv4 addresses.
        forbidden_v4(v4).filter(|_| first == 0)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn policy(allow: &str) -> Outbound {
        let env: HashMap<String, String> =
            [("OUTBOUND_ALLOW_HOSTS".to_string(), allow.to_string())].into();
        Outbound::from_env(
            &env,
            &["https://api.replicate.com", "http://127.0.0.1:4010"],
        )
        .unwrap()
    }

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn internal_addresses_are_named() {
        for (ip, kind) in [
            ("127.0.0.1", "loopback"),
            ("10.1.2.3", "private"),
            ("172.16.0.1", "private"),
            ("192.168.1.1", "private"),
            ("169.254.169.254", "link-local (cloud metadata)"),
            ("100.64.0.1", "shared (CGNAT)"),
            ("0.0.0.0", "unspecified"),
            ("::1", "loopback"),
            ("fd00::1", "private (unique local)"),
            ("fe80::1", "link-local"),
            ("::ffff:169.254.169.254", "link-local (cloud metadata)"),
        ] {
            assert_eq!(forbidden(ip.parse().unwrap()), Some(kind), "{ip}");
        }
        for ip in ["8.8.8.8", "2606:4700::1111", "100.128.0.1"] {
            assert_eq!(forbidden(ip.parse().unwrap()), None, "{ip}");
        }
    }

    #[test]
    fn scheme_and_literal_addresses_are_checked_before_any_request() {
        let p = policy("");
        assert!(p.check_static(&url("https://example.com/a.png")).is_ok());
        assert!(
            p.check_static(&url("http://127.0.0.1:4010/out.png"))
                .is_ok()
        );
        for bad in [
            "http://example.com/a.png",
            "http://169.254.169.254/latest/meta-data/",
            "https://169.254.169.254/latest/meta-data/",
            "https://127.0.0.1:9091/metrics",
            "http://127.0.0.1:9091/metrics",
            "https://[::1]/",
            "file:///etc/passwd",
            "https://user:pw@example.com/",
        ] {
            let err = p.check_static(&url(bad)).unwrap_err();
            assert!(!err.reason.is_empty(), "{bad}");
        }
    }

    #[test]
    fn allowed_hosts_pass_with_or_without_a_port() {
        let p = policy("minio.internal:9000, receiver.local");
        assert!(p.check_static(&url("http://minio.internal:9000/x")).is_ok());
        assert!(
            p.check_static(&url("http://minio.internal:9001/x"))
                .is_err()
        );
        assert!(
            p.check_static(&url("http://receiver.local:1234/hook"))
                .is_ok()
        );
        assert!(
            Outbound::from_env(
                &HashMap::from([("OUTBOUND_ALLOW_HOSTS".to_string(), "minio:port".to_string())]),
                &[]
            )
            .is_err()
        );
    }

    #[test]
    fn credentials_go_to_the_api_origin_only() {
        let base = "https://api.replicate.com";
        assert!(Outbound::same_origin(
            &url("https://api.replicate.com/v1/predictions/x"),
            base
        ));
        assert!(!Outbound::same_origin(
            &url("https://replicate.delivery/x.png"),
            base
        ));
        assert!(!Outbound::same_origin(
            &url("http://api.replicate.com/v1/predictions/x"),
            base
        ));
        assert!(!Outbound::same_origin(
            &url("https://api.replicate.com:8443/x"),
            base
        ));
    }
}
