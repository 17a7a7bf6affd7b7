//! Bearer tokens for tests: valid ones for users and admins, and every kind of bad one.

use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde_json::{Value, json};

pub const SECRET: &str = "test-secret-for-hs256-tokens-0123456789";

/// The Replicate webhook signing secret of test apps.
/// The media-link signer of a test app: derived from [`SECRET`], as the API derives
/// it from `JWT_SECRET`, so tests can sign links of their own.
pub fn media_signer(ttl: std::time::Duration) -> ai_video_api::media_links::MediaSigner {
    ai_video_api::media_links::MediaSigner::derived(SECRET.as_bytes(), ttl)
}

pub const WEBHOOK_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// Mints tokens signed the way the API under test expects.
#[derive(Clone)]
pub struct Tokens {
    key: EncodingKey,
    alg: Algorithm,
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

impl Tokens {
    pub fn hs256() -> Self {
        Self {
            key: EncodingKey::from_secret(SECRET.as_bytes()),
            alg: Algorithm::HS256,
        }
    }

    /// HS256 with another secret.
    pub fn hs256_with(secret: &[u8]) -> Self {
        Self {
            key: EncodingKey::from_secret(secret),
            alg: Algorithm::HS256,
        }
    }

    pub fn rs256(private_pem: &[u8]) -> Self {
        Self {
            key: EncodingKey::from_rsa_pem(private_pem).expect("RSA private key"),
            alg: Algorithm::RS256,
        }
    }

    pub fn sign(&self, claims: Value) -> String {
        encode(&Header::new(self.alg), &claims, &self.key).expect("sign")
    }

    /// An access token for `user`.
    pub fn user(&self, user: &str) -> String {
        self.sign(json!({"sub": user, "exp": now() + 3600}))
    }

    /// An admin (`is_staff`).
    pub fn admin(&self, user: &str) -> String {
        self.sign(json!({"sub": user, "exp": now() + 3600, "is_staff": true}))
    }

    /// Expired an hour ago.
    pub fn expired(&self, user: &str) -> String {
        self.sign(json!({"sub": user, "exp": now() - 3600}))
    }

    /// Right claims, signed with another secret.
    pub fn forged(user: &str) -> String {
        encode(
            &Header::new(Algorithm::HS256),
            &json!({"sub": user, "exp": now() + 3600, "is_staff": true}),
            &EncodingKey::from_secret(b"not-the-server-secret"),
        )
        .expect("sign")
    }

    /// `alg: none`, unsigned.
    pub fn unsigned(user: &str) -> String {
        use base64_url as b64;
        let header = b64(br#"{"alg":"none","typ":"JWT"}"#);
        let claims = b64(json!({"sub": user, "exp": now() + 3600, "is_staff": true})
            .to_string()
            .as_bytes());
        format!("{header}.{claims}.")
    }
}

/// Base64url without padding, as JWTs use.
fn base64_url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let chars = chunk.len() + 1;
        for i in 0..chars {
            out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}
