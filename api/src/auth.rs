//! Bearer-token authentication.
//!
//! Tokens are JWTs signed with HS256 (`JWT_SECRET`) or RS256 (`JWT_PUBLIC_KEY`); no
//! other algorithm is accepted, so `alg: none` and tokens signed with another key are
//! refused. `exp` is required and `nbf` honoured; `aud` and `iss` are checked when
//! `JWT_AUDIENCE` / `JWT_ISSUER` are set. The user is `sub`, or SimpleJWT's `user_id` (number or
//! string), so tokens minted by the Django backend keep working. Admins carry
//! `is_staff: true` or `role: "admin"`.

use ai_video_shared::domain::ErrorCode;
use ai_video_shared::store::Viewer;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, encode};
use serde::Deserialize;

use crate::AppState;
use crate::config::{JwtClaims, JwtConfig};
use crate::error::ApiError;

/// Verifies tokens.
pub struct Authenticator {
    key: DecodingKey,
    validation: Validation,
}

#[derive(Deserialize)]
struct Claims {
    sub: Option<serde_json::Value>,
    user_id: Option<serde_json::Value>,
    #[serde(default)]
    is_staff: bool,
    #[serde(default)]
    role: Option<String>,
    /// SimpleJWT marks refresh tokens; only access tokens open the API.
    #[serde(default)]
    token_type: Option<String>,
    /// Unix seconds (required by the validation).
    #[serde(default)]
    exp: f64,
}

impl Authenticator {
    pub fn new(
        config: &JwtConfig,
        claims: &JwtClaims,
    ) -> Result<Self, jsonwebtoken::errors::Error> {
        let (key, alg) = match config {
            JwtConfig::Hs256(secret) => (
                DecodingKey::from_secret(secret.expose().as_bytes()),
                Algorithm::HS256,
            ),
            JwtConfig::Rs256(pem) => (
                DecodingKey::from_rsa_pem(pem.expose().as_bytes())?,
                Algorithm::RS256,
            ),
        };
        let mut validation = Validation::new(alg);
        validation.leeway = 5;
        validation.validate_nbf = true;
        let mut required = vec!["exp"];
        match &claims.audience {
            Some(aud) => {
                validation.set_audience(&[aud]);
                required.push("aud");
            }
            None => validation.validate_aud = false,
        }
        if let Some(iss) = &claims.issuer {
            validation.set_issuer(&[iss]);
            required.push("iss");
        }
        validation.set_required_spec_claims(&required);
        Ok(Self { key, validation })
    }

    /// The viewer a token speaks for.
    pub fn verify(&self, token: &str) -> Result<Viewer, ApiError> {
        self.verify_until(token).map(|(viewer, _)| viewer)
    }

    /// The viewer a token speaks for and when it expires (Unix seconds).
    pub fn verify_until(&self, token: &str) -> Result<(Viewer, i64), ApiError> {
        let data = decode::<Claims>(token, &self.key, &self.validation).map_err(|e| {
            use jsonwebtoken::errors::ErrorKind;
            let reason = match e.kind() {
                ErrorKind::ExpiredSignature => "Token is expired",
                ErrorKind::InvalidSignature => "Token signature is invalid",
                ErrorKind::InvalidAlgorithm => "Token algorithm is not accepted",
                ErrorKind::MissingRequiredClaim(claim) if claim == "exp" => {
                    "Token has no expiry (exp)"
                }
                ErrorKind::MissingRequiredClaim(_) => "Token lacks a required claim (aud or iss)",
                ErrorKind::ImmatureSignature => "Token is not valid yet (nbf)",
                ErrorKind::InvalidAudience => "Token is for another audience (aud)",
                ErrorKind::InvalidIssuer => "Token has another issuer (iss)",
                _ => "Token is malformed",
            };
            invalid_token(reason)
        })?;
        let claims = data.claims;
        if claims.token_type.as_deref().is_some_and(|t| t != "access") {
            return Err(invalid_token("Token has wrong type; use an access token"));
        }
        let user_id = [claims.sub, claims.user_id]
            .into_iter()
            .flatten()
            .find_map(|v| match v {
                serde_json::Value::String(s) if !s.trim().is_empty() => Some(s),
                serde_json::Value::Number(n) => Some(n.to_string()),
                _ => None,
            })
            .ok_or_else(|| invalid_token("Token contained no recognizable user identification"))?;
        let viewer = Viewer {
            user_id,
            is_admin: claims.is_staff || claims.role.as_deref() == Some("admin"),
        };
        Ok((viewer, claims.exp as i64))
    }
}

fn invalid_token(reason: &str) -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        ErrorCode::TokenNotValid,
        format!("Given token not valid for any token type: {reason}."),
    )
}

/// The viewer a request's bearer token speaks for, when it carries a valid one; for
/// middleware that keys on the user before the handler authenticates.
pub fn bearer_viewer(state: &AppState, headers: &axum::http::HeaderMap) -> Option<Viewer> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    state.auth.verify(token.trim()).ok()
}

/// The authenticated viewer of a request.
pub struct Auth(pub Viewer);

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let header = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    ErrorCode::NotAuthenticated,
                    "Authentication credentials were not provided.",
                )
            })?;
        let token = match header.split_once(' ') {
            Some((scheme, token))
                if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
            {
                token.trim()
            }
            _ => {
                return Err(ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    ErrorCode::NotAuthenticated,
                    "Authorization header must be \"Bearer <token>\".",
                ));
            }
        };
        let viewer = state.auth.verify(token)?;
        tracing::Span::current().record("user.id", viewer.user_id.as_str());
        Ok(Auth(viewer))
    }
}

/// An authenticated admin; anyone else gets 403.
pub struct Admin(pub Viewer);

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Auth(viewer) = Auth::from_request_parts(parts, state).await?;
        if !viewer.is_admin {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                ErrorCode::PermissionDenied,
                "You do not have permission to perform this action.",
            ));
        }
        Ok(Admin(viewer))
    }
}

/// An HS256 access token for `user`, valid for `ttl_seconds`, as `ai-video-api token`
/// prints it. Its claims mirror a SimpleJWT access token plus `sub`, and carry the
/// audience and issuer the API is told to check.
pub fn mint(
    secret: &str,
    user: &str,
    admin: bool,
    ttl_seconds: i64,
    checked: &JwtClaims,
) -> Result<String, jsonwebtoken::errors::Error> {
    let now = chrono::Utc::now().timestamp();
    let mut claims = serde_json::json!({
        "sub": user,
        "token_type": "access",
        "iat": now,
        "exp": now + ttl_seconds,
        "is_staff": admin,
    });
    if let Some(aud) = &checked.audience {
        claims["aud"] = aud.as_str().into();
    }
    if let Some(iss) = &checked.issuer {
        claims["iss"] = iss.as_str().into();
    }
    encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
}
