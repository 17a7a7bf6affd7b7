//! Standard Webhooks signatures, for Replicate's webhooks we receive and for the
//! webhooks we send: HMAC-SHA256 over `<webhook-id>.<webhook-timestamp>.<raw body>`
//! with the base64 key after `whsec_`, compared in constant time against every
//! `v1,<signature>` a request carries.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// How far a webhook's timestamp may be from now.
pub const TOLERANCE_SECS: i64 = 300;

/// Why a webhook was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    #[error("the signing secret is not a whsec_ key")]
    BadSecret,
    #[error("the webhook-timestamp header is missing or not a number")]
    BadTimestamp,
    #[error("the webhook is too old or from the future")]
    Stale,
    #[error("no signature matches")]
    Mismatch,
}

/// Checks a webhook: `id`, `timestamp` and `signatures` are the `webhook-id`,
/// `webhook-timestamp` and `webhook-signature` headers; `now` is Unix seconds.
pub fn verify(
    secret: &str,
    id: &str,
    timestamp: &str,
    signatures: &str,
    body: &[u8],
    now: i64,
) -> Result<(), WebhookError> {
    let key = secret
        .strip_prefix("whsec_")
        .ok_or(WebhookError::BadSecret)?;
    let key = STANDARD.decode(key).map_err(|_| WebhookError::BadSecret)?;
    let sent: i64 = timestamp
        .trim()
        .parse()
        .map_err(|_| WebhookError::BadTimestamp)?;
    if (now - sent).abs() > TOLERANCE_SECS {
        return Err(WebhookError::Stale);
    }
    let mut content = Vec::with_capacity(id.len() + timestamp.len() + body.len() + 2);
    content.extend_from_slice(id.as_bytes());
    content.push(b'.');
    content.extend_from_slice(timestamp.trim().as_bytes());
    content.push(b'.');
    content.extend_from_slice(body);
    for candidate in signatures.split_whitespace() {
        let Some(encoded) = candidate.strip_prefix("v1,") else {
            continue;
        };
        let Ok(expected) = STANDARD.decode(encoded) else {
            continue;
        };
        let mut mac = Hmac::<Sha256>::new_from_slice(&key).map_err(|_| WebhookError::BadSecret)?;
        mac.update(&content);
        if mac.verify_slice(&expected).is_ok() {
            return Ok(());
        }
    }
    Err(WebhookError::Mismatch)
}

/// A new signing secret: `whsec_` and 32 random bytes in base64.
pub fn new_secret() -> String {
    let mut key = [0u8; 32];
    getrandom::fill(&mut key).expect("the operating system's random source works");
    format!("whsec_{}", STANDARD.encode(key))
}

/// The `webhook-id` of an event: the same on every attempt and every endpoint.
pub fn message_id(event: i64) -> String {
    format!("msg_{event}")
}

/// The `webhook-signature` header: one `v1,` signature per secret, space-separated.
pub fn signature_header(
    secrets: &[&str],
    id: &str,
    timestamp: &str,
    body: &[u8],
) -> Result<String, WebhookError> {
    let signatures = secrets
        .iter()
        .map(|secret| sign(secret, id, timestamp, body))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(signatures.join(" "))
}

/// Signs one message with one secret.
pub fn sign(secret: &str, id: &str, timestamp: &str, body: &[u8]) -> Result<String, WebhookError> {
    let key = STANDARD
        .decode(
            secret
                .strip_prefix("whsec_")
                .ok_or(WebhookError::BadSecret)?,
        )
        .map_err(|_| WebhookError::BadSecret)?;
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).map_err(|_| WebhookError::BadSecret)?;
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    Ok(format!(
        "v1,{}",
        STANDARD.encode(mac.finalize().into_bytes())
    ))
}

/// Where the API leaves a verified prediction for the worker that waits on it.
pub fn inbox_key(queue: &crate::config::QueueConfig, prediction_id: &str) -> String {
    format!("{}:{}:replicate:{prediction_id}", queue.prefix, queue.name)
}

#[cfg(test)]
mod tests {
    use super::*;

    // The test vector from Replicate's official SDK.
    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const TS: &str = "1614265330";
    const BODY: &[u8] = br#"{"test": 2432232314}"#;
    const SIG: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    #[test]
    fn the_official_test_vector_verifies() {
        assert_eq!(sign(SECRET, ID, TS, BODY).unwrap(), SIG);
        assert_eq!(verify(SECRET, ID, TS, SIG, BODY, 1614265330), Ok(()));
        let several = format!("v1,bm90IHRoaXM= {SIG}");
        assert_eq!(
            verify(SECRET, ID, TS, &several, BODY, 1614265330 + 60),
            Ok(())
        );
    }

    #[test]
    fn new_secrets_sign_and_verify() {
        let (a, b) = (new_secret(), new_secret());
        assert_ne!(a, b);
        assert_eq!(STANDARD.decode(&a["whsec_".len()..]).unwrap().len(), 32);
        let header = signature_header(&[&a, &b], ID, TS, BODY).unwrap();
        assert_eq!(verify(&b, ID, TS, &header, BODY, 1614265330), Ok(()));
        assert_eq!(verify(&a, ID, TS, &header, BODY, 1614265330), Ok(()));
    }

    #[test]
    fn tampering_and_replays_are_refused() {
        let now = 1614265330;
        assert_eq!(
            verify(SECRET, ID, TS, SIG, br#"{"test": 1}"#, now),
            Err(WebhookError::Mismatch)
        );
        assert_eq!(
            verify(SECRET, "msg_other", TS, SIG, BODY, now),
            Err(WebhookError::Mismatch)
        );
        assert_eq!(
            verify(SECRET, ID, TS, SIG, BODY, now + 301),
            Err(WebhookError::Stale)
        );
        assert_eq!(
            verify(SECRET, ID, "soon", SIG, BODY, now),
            Err(WebhookError::BadTimestamp)
        );
        assert_eq!(
            verify("MfKQ9r8", ID, TS, SIG, BODY, now),
            Err(WebhookError::BadSecret)
        );
    }
}
