//! The S3 backend, for MinIO or any S3-compatible service.
//!
//! Requests use path-style addressing against the configured endpoint, so plain
//! `http://host:port` servers work without DNS tricks. The bucket is created on
//! open when missing. Without a base URL, object URLs are presigned GETs valid for
//! [`PRESIGNED_URL_TTL`].

use std::path::{Path, PathBuf};
use std::time::Duration;

use aws_sdk_s3::Client;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::config::{
    BehaviorVersion, Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation,
};
use aws_sdk_s3::error::{DisplayErrorContext, SdkError};
use aws_sdk_s3::operation::create_bucket::CreateBucketError;
use aws_sdk_s3::operation::get_object::GetObjectError;
use aws_sdk_s3::operation::head_object::HeadObjectError;
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{BucketLocationConstraint, CreateBucketConfiguration};
use tokio::io::AsyncWriteExt;

use super::atomic::PendingFile;
use super::{MediaStore, S3Config, StorageError, join_url, validate_key};

/// How long a presigned object URL stays valid.
pub const PRESIGNED_URL_TTL: Duration = Duration::from_secs(3600);

/// Media in one bucket of an S3-compatible service.
#[derive(Debug, Clone)]
pub struct S3Store {
    client: Client,
    bucket: String,
    base_url: Option<String>,
}

impl S3Store {
    /// Connects to the service and creates the bucket when it is missing.
    pub async fn open(config: &S3Config, base_url: Option<String>) -> Result<Self, StorageError> {
        let credentials = Credentials::new(
            config.access_key.expose(),
            config.secret_key.expose(),
            None,
            None,
            "ai-video",
        );
        let sdk_config = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(config.region.clone()))
            .endpoint_url(&config.endpoint)
            .force_path_style(true)
            .credentials_provider(credentials)
            // Newer SDKs add CRC checksums and aws-chunked uploads to every request;
            // not every S3-compatible server accepts them, and none needs them.
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .response_checksum_validation(ResponseChecksumValidation::WhenRequired)
            .build();
        let store = Self {
            client: Client::from_conf(sdk_config),
            bucket: config.bucket.clone(),
            base_url,
        };
        store.ensure_bucket(&config.region).await?;
        Ok(store)
    }

    /// `s3://bucket`, as errors name it.
    fn bucket_url(&self) -> String {
        format!("s3://{}", self.bucket)
    }

    /// `s3://bucket/key`, as errors name it.
    fn object_url(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.bucket)
    }

    /// The bucket holding the objects.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    async fn ensure_bucket(&self, region: &str) -> Result<(), StorageError> {
        match self.client.head_bucket().bucket(&self.bucket).send().await {
            Ok(_) => return Ok(()),
            Err(e) if status(&e) == Some(404) => {}
            Err(e) => return Err(s3_error("HeadBucket", self.bucket_url(), e)),
        }
        let mut request = self.client.create_bucket().bucket(&self.bucket);
        // us-east-1 is the default location and S3 rejects it as an explicit one.
        if region != "us-east-1" {
            request = request.create_bucket_configuration(
                CreateBucketConfiguration::builder()
                    .location_constraint(BucketLocationConstraint::from(region))
                    .build(),
            );
        }
        match request.send().await {
            Ok(_) => {
                tracing::info!(bucket = %self.bucket, "created the media bucket");
                Ok(())
            }
            // Another process created it between our HEAD and CREATE.
            Err(e)
                if matches!(
                    e.as_service_error(),
                    Some(
                        CreateBucketError::BucketAlreadyOwnedByYou(_)
                            | CreateBucketError::BucketAlreadyExists(_)
                    )
                ) =>
            {
                Ok(())
            }
            Err(e) => Err(s3_error("CreateBucket", self.bucket_url(), e)),
        }
    }

    async fn put(
        &self,
        key: &str,
        body: ByteStream,
        content_type: &str,
    ) -> Result<(), StorageError> {
        validate_key(key)?;
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .body(body)
            .send()
            .await
            .map_err(|e| s3_error("PutObject", self.object_url(key), e))?;
        Ok(())
    }
}

#[async_trait::async_trait]
impl MediaStore for S3Store {
    async fn put_file(
        &self,
        key: &str,
        path: &Path,
        content_type: &str,
    ) -> Result<(), StorageError> {
        let body = ByteStream::from_path(path)
            .await
            .map_err(|e| StorageError::io(format!("reading {}", path.display()), e.into()))?;
        self.put(key, body, content_type).await
    }

    async fn put_bytes(
        &self,
        key: &str,
        bytes: Vec<u8>,
        content_type: &str,
    ) -> Result<(), StorageError> {
        self.put(key, ByteStream::from(bytes), content_type).await
    }

    async fn get_to_file(&self, key: &str, dest: &Path) -> Result<(), StorageError> {
        validate_key(key)?;
        let object = match self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(object) => object,
            Err(e) if matches!(e.as_service_error(), Some(GetObjectError::NoSuchKey(_))) => {
                return Err(StorageError::NotFound(key.to_string()));
            }
            Err(e) => return Err(s3_error("GetObject", self.object_url(key), e)),
        };
        let pending = PendingFile::beside(dest).await?;
        let context = || format!("downloading {key} to {}", dest.display());
        let mut file = tokio::fs::File::create(pending.path())
            .await
            .map_err(|e| StorageError::io(context(), e))?;
        tokio::io::copy_buf(&mut object.body.into_async_read(), &mut file)
            .await
            .map_err(|e| StorageError::io(context(), e))?;
        file.flush()
            .await
            .map_err(|e| StorageError::io(context(), e))?;
        drop(file);
        pending.commit().await
    }

    async fn exists(&self, key: &str) -> Result<bool, StorageError> {
        validate_key(key)?;
        match self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(e)
                if matches!(e.as_service_error(), Some(HeadObjectError::NotFound(_)))
                    || status(&e) == Some(404) =>
            {
                Ok(false)
            }
            Err(e) => Err(s3_error("HeadObject", self.object_url(key), e)),
        }
    }

    async fn url(&self, key: &str) -> Result<String, StorageError> {
        validate_key(key)?;
        if let Some(base) = &self.base_url {
            return Ok(join_url(base, key));
        }
        let presigning =
            PresigningConfig::expires_in(PRESIGNED_URL_TTL).map_err(|e| StorageError::S3 {
                operation: "presign GetObject",
                target: self.object_url(key),
                message: e.to_string(),
            })?;
        let request = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .presigned(presigning)
            .await
            .map_err(|e| s3_error("presign GetObject", self.object_url(key), e))?;
        Ok(request.uri().to_string())
    }

    fn local_path(&self, _key: &str) -> Option<PathBuf> {
        None
    }

    /// A HEAD on the bucket: proves the service answers, the credentials are
    /// accepted and the bucket exists.
    async fn check(&self) -> Result<(), StorageError> {
        self.client
            .head_bucket()
            .bucket(&self.bucket)
            .send()
            .await
            .map_err(|e| s3_error("HeadBucket", self.bucket_url(), e))?;
        Ok(())
    }
}

/// The HTTP status of a failed request, when the service answered.
fn status<E>(err: &SdkError<E, HttpResponse>) -> Option<u16> {
    err.raw_response().map(|r| r.status().as_u16())
}

fn s3_error<E>(operation: &'static str, target: String, err: E) -> StorageError
where
    E: std::error::Error,
{
    StorageError::S3 {
        operation,
        target,
        message: DisplayErrorContext(err).to_string(),
    }
}
