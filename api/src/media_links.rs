//! Private, expiring media links. A media URL in an answer is a capability: the
//! object's key, an expiry, and an HMAC-SHA256 signature of both
//! (`/media/<key>?expires=<unix>&signature=<hex>`), made with `MEDIA_SIGNING_KEY`
//! (by default a key derived from `JWT_SECRET`). `/media/` serves only links that
//! verify and have not expired, and only keys under `stories/`; anything else is a
//! 403 (or a 404 for a key that can never be media). Links live
//! `MEDIA_URL_TTL_SECS` (24 h), rounded up to the minute, so a page reloaded within
//! a minute gets the same URLs.

use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// The prefix every media key has.
pub const MEDIA_PREFIX: &str = "stories/";

/// Why a link is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkError {
    /// Signature missing, malformed or wrong.
    Invalid,
    Expired,
}

/// Signs and checks media links.
#[derive(Clone)]
pub struct MediaSigner {
    key: Vec<u8>,
    ttl: Duration,
}

impl std::fmt::Debug for MediaSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MediaSigner")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

fn mac(key: &[u8]) -> Hmac<Sha256> {
    <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes any key length")
}

impl MediaSigner {
    pub fn new(key: &[u8], ttl: Duration) -> Self {
        Self {
            key: key.to_vec(),
            ttl,
        }
    }

    /// A signer whose key is derived from another secret (the JWT secret), so
    /// that no second secret is needed.
    pub fn derived(secret: &[u8], ttl: Duration) -> Self {
        let mut m = mac(secret);
        m.update(b"ai-video media links");
        Self::new(&m.finalize().into_bytes(), ttl)
    }

    /// The signing key, for deriving the keys of other capabilities (event tickets).
    pub(crate) fn key(&self) -> &[u8] {
        &self.key
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    fn signature(&self, key: &str, expires: i64) -> Vec<u8> {
        let mut m = mac(&self.key);
        m.update(key.as_bytes());
        m.update(b"\n");
        m.update(expires.to_string().as_bytes());
        m.finalize().into_bytes().to_vec()
    }

    /// `/media/<key>?expires=…&signature=…`, valid for the link lifetime from `now`.
    pub fn link(&self, key: &str, now: i64) -> String {
        let ttl = self.ttl.as_secs() as i64;
        let expires = (now + ttl + 59) / 60 * 60;
        let sig = hex(&self.signature(key, expires));
        format!("/media/{key}?expires={expires}&signature={sig}")
    }

    /// Whether `signature` signs `key` until `expires`, and `expires` is not past.
    pub fn verify(
        &self,
        key: &str,
        expires: &str,
        signature: &str,
        now: i64,
    ) -> Result<(), LinkError> {
        let expires: i64 = expires.parse().map_err(|_| LinkError::Invalid)?;
        let given = unhex(signature).ok_or(LinkError::Invalid)?;
        let mut m = mac(&self.key);
        m.update(key.as_bytes());
        m.update(b"\n");
        m.update(expires.to_string().as_bytes());
        m.verify_slice(&given).map_err(|_| LinkError::Invalid)?;
        if expires < now {
            return Err(LinkError::Expired);
        }
        Ok(())
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if text.len() != 64 || !text.is_ascii() {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_verify_until_they_expire_and_not_after_tampering() {
        let s = MediaSigner::new(
            b"0123456789abcdef0123456789abcdef",
            Duration::from_secs(3600),
        );
        let now = 1_700_000_000;
        let link = s.link("stories/a/final.mp4", now);
        let query = link.split_once('?').unwrap().1;
        let mut expires = "";
        let mut sig = "";
        for pair in query.split('&') {
            match pair.split_once('=').unwrap() {
                ("expires", v) => expires = v,
                ("signature", v) => sig = v,
                _ => {}
            }
        }
        assert_eq!(s.verify("stories/a/final.mp4", expires, sig, now), Ok(()));
        assert_eq!(
            s.verify("stories/b/final.mp4", expires, sig, now),
            Err(LinkError::Invalid)
        );
        let later: i64 = expires.parse::<i64>().unwrap() + 1;
        assert_eq!(
            s.verify("stories/a/final.mp4", expires, sig, later),
            Err(LinkError::Expired)
        );
        assert_eq!(
            s.verify("stories/a/final.mp4", &(later + 100).to_string(), sig, now),
            Err(LinkError::Invalid)
        );
        let other = MediaSigner::new(b"another key, just as long as the first", s.ttl());
        assert_eq!(
            other.verify("stories/a/final.mp4", expires, sig, now),
            Err(LinkError::Invalid)
        );
    }
}
