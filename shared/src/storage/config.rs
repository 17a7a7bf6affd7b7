//! Storage settings, under the seed's variable names.
//!
//! `MINIO_ENDPOINT` chooses the backend: when it is set, media goes to that
//! S3-compatible service and its keys are required; otherwise it goes to the local
//! directory `STORAGE_DIR`. `STORAGE_BASE_URL` applies to both.

use std::path::PathBuf;

use crate::config::{ConfigError, Env, Secret};

/// Which backend holds the media, and where public URLs point.
#[derive(Clone, Debug)]
pub struct StorageConfig {
    pub backend: StorageBackend,
    /// Public base URL of the stored objects (`STORAGE_BASE_URL`), without a
    /// trailing slash; object URLs are `<base_url>/<key>` when set.
    pub base_url: Option<String>,
}

/// The backend and its settings.
#[derive(Clone, Debug)]
pub enum StorageBackend {
    /// Files under a local directory (`STORAGE_DIR`).
    Local { dir: PathBuf },
    /// An S3-compatible service such as MinIO.
    S3(S3Config),
}

/// Connection settings of an S3-compatible service.
#[derive(Clone, Debug)]
pub struct S3Config {
    /// `http://host:port` or `https://…` (`MINIO_ENDPOINT`).
    pub endpoint: String,
    pub access_key: Secret,
    pub secret_key: Secret,
    /// Created on start when missing (`MINIO_BUCKET`).
    pub bucket: String,
    pub region: String,
}

impl StorageConfig {
    pub const DEFAULT_DIR: &'static str = "./data/media";
    pub const DEFAULT_BUCKET: &'static str = "videoplanet";
    pub const DEFAULT_REGION: &'static str = "us-east-1";

    pub fn from_env(env: &dyn Env) -> Result<Self, ConfigError> {
        let base_url = env
            .var("STORAGE_BASE_URL")
            .map(|url| url.trim().trim_end_matches('/').to_string());
        let backend = match env.var("MINIO_ENDPOINT") {
            Some(endpoint) => StorageBackend::S3(S3Config::from_env(env, endpoint)?),
            None => StorageBackend::Local {
                dir: env
                    .var("STORAGE_DIR")
                    .unwrap_or_else(|| Self::DEFAULT_DIR.to_string())
                    .into(),
            },
        };
        Ok(Self { backend, base_url })
    }
}

impl S3Config {
    fn from_env(env: &dyn Env, endpoint: String) -> Result<Self, ConfigError> {
        let endpoint = endpoint.trim().trim_end_matches('/').to_string();
        if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) {
            return Err(ConfigError::new(
                "MINIO_ENDPOINT",
                "must start with http:// or https://",
            ));
        }
        let required = |var: &str| {
            env.var(var)
                .map(Secret::new)
                .ok_or_else(|| ConfigError::new(var, "required when MINIO_ENDPOINT is set"))
        };
        let bucket = env
            .var("MINIO_BUCKET")
            .unwrap_or_else(|| StorageConfig::DEFAULT_BUCKET.to_string());
        if !valid_bucket_name(&bucket) {
            return Err(ConfigError::new(
                "MINIO_BUCKET",
                "must be 3-63 characters of lowercase letters, digits, '.' and '-'",
            ));
        }
        Ok(Self {
            endpoint,
            access_key: required("MINIO_ACCESS_KEY")?,
            secret_key: required("MINIO_SECRET_KEY")?,
            bucket,
            region: env
                .var("MINIO_REGION")
                .unwrap_or_else(|| StorageConfig::DEFAULT_REGION.to_string()),
        })
    }
}

/// The S3 bucket naming rules, checked here so a bad name fails at start-up with
/// the variable named rather than as an opaque service error.
fn valid_bucket_name(name: &str) -> bool {
    let edge = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    (3..=63).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-')
        && edge(name.chars().next())
        && edge(name.chars().last())
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn local_directory_by_default() {
        let cfg = StorageConfig::from_env(&env(&[])).unwrap();
        assert!(
            matches!(&cfg.backend, StorageBackend::Local { dir } if dir == &PathBuf::from("./data/media"))
        );
        assert_eq!(cfg.base_url, None);

        let cfg = StorageConfig::from_env(&env(&[
            ("STORAGE_DIR", "/srv/media"),
            ("STORAGE_BASE_URL", "https://cdn.example/media/"),
        ]))
        .unwrap();
        assert!(
            matches!(&cfg.backend, StorageBackend::Local { dir } if dir == &PathBuf::from("/srv/media"))
        );
        assert_eq!(cfg.base_url.as_deref(), Some("https://cdn.example/media"));
    }

    #[test]
    fn minio_endpoint_selects_s3_with_defaults() {
        let cfg = StorageConfig::from_env(&env(&[
            ("MINIO_ENDPOINT", "http://127.0.0.1:9000/"),
            ("MINIO_ACCESS_KEY", "minio"),
            ("MINIO_SECRET_KEY", "hunter22"),
            ("STORAGE_DIR", "/ignored"),
        ]))
        .unwrap();
        let StorageBackend::S3(s3) = &cfg.backend else {
            panic!("expected S3, got {cfg:?}");
        };
        assert_eq!(s3.endpoint, "http://127.0.0.1:9000");
        assert_eq!(s3.access_key.expose(), "minio");
        assert_eq!(s3.secret_key.expose(), "hunter22");
        assert_eq!(s3.bucket, "videoplanet");
        assert_eq!(s3.region, "us-east-1");
        assert!(!format!("{cfg:?}").contains("hunter22"));
    }

    #[test]
    fn bucket_and_region_can_be_chosen() {
        let cfg = StorageConfig::from_env(&env(&[
            ("MINIO_ENDPOINT", "https://s3.example"),
            ("MINIO_ACCESS_KEY", "a"),
            ("MINIO_SECRET_KEY", "s"),
            ("MINIO_BUCKET", "media-1"),
            ("MINIO_REGION", "eu-west-3"),
        ]))
        .unwrap();
        let StorageBackend::S3(s3) = cfg.backend else {
            panic!("expected S3");
        };
        assert_eq!(
            (s3.bucket.as_str(), s3.region.as_str()),
            ("media-1", "eu-west-3")
        );
    }

    #[test]
    fn missing_or_malformed_settings_name_the_variable() {
        let base = [
            ("MINIO_ENDPOINT", "http://minio:9000"),
            ("MINIO_ACCESS_KEY", "a"),
            ("MINIO_SECRET_KEY", "s"),
        ];
        let without = |var: &str| {
            let mut e = env(&base);
            e.remove(var);
            StorageConfig::from_env(&e).unwrap_err().var
        };
        assert_eq!(without("MINIO_ACCESS_KEY"), "MINIO_ACCESS_KEY");
        assert_eq!(without("MINIO_SECRET_KEY"), "MINIO_SECRET_KEY");

        let with = |var: &str, value: &str| {
            let mut e = env(&base);
            e.insert(var.to_string(), value.to_string());
            StorageConfig::from_env(&e).unwrap_err().var
        };
        assert_eq!(with("MINIO_ENDPOINT", "minio:9000"), "MINIO_ENDPOINT");
        assert_eq!(with("MINIO_BUCKET", "Media"), "MINIO_BUCKET");
        assert_eq!(with("MINIO_BUCKET", "ab"), "MINIO_BUCKET");
        assert_eq!(with("MINIO_BUCKET", "-media"), "MINIO_BUCKET");
    }
}
