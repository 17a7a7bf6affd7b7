//! The media stores, driven through the `MediaStore` trait: the local directory and
//! an S3-compatible server (moto, at `TEST_S3_ENDPOINT`). Each S3 test uses its own
//! bucket, so the store must create it.

use std::collections::HashMap;
use std::path::Path;

use ai_video_shared::domain::RenderQuality;
use ai_video_shared::storage::{self, Storage, StorageConfig, StorageError, keys};
use ai_video_tests::{TempDir, env_var};
use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use uuid::Uuid;

/// A local store in a fresh directory.
async fn local(dir: &TempDir, base_url: Option<&str>) -> Storage {
    let mut env = vars(&[("STORAGE_DIR", &dir.path.join("media").to_string_lossy())]);
    if let Some(base) = base_url {
        env.insert("STORAGE_BASE_URL".into(), base.into());
    }
    open(&env).await
}

/// An S3 store on the test server, in `bucket`.
async fn s3(bucket: &str, base_url: Option<&str>) -> Storage {
    let endpoint = env_var("TEST_S3_ENDPOINT");
    let mut env = vars(&[
        ("MINIO_ENDPOINT", &endpoint),
        ("MINIO_ACCESS_KEY", "test"),
        ("MINIO_SECRET_KEY", "test"),
        ("MINIO_BUCKET", bucket),
    ]);
    if let Some(base) = base_url {
        env.insert("STORAGE_BASE_URL".into(), base.into());
    }
    open(&env).await
}

fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

async fn open(env: &HashMap<String, String>) -> Storage {
    let config = StorageConfig::from_env(env).expect("storage config");
    storage::open(&config).await.expect("the store opens")
}

fn unique_bucket() -> String {
    format!("test-{}", Uuid::new_v4().simple())
}

/// A plain SDK client on the test server, to look at what the store wrote.
fn raw_s3() -> aws_sdk_s3::Client {
    let config = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(env_var("TEST_S3_ENDPOINT"))
        .force_path_style(true)
        .credentials_provider(Credentials::new("test", "test", None, None, "tests"))
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

/// Some megabytes that are not all alike, so a truncated or reordered copy shows.
fn sample(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u32).wrapping_mul(2_654_435_761).to_le_bytes()[3] ^ seed)
        .collect()
}

async fn read(store: &Storage, key: &str, scratch: &Path) -> Vec<u8> {
    let dest = scratch.join(format!("out/{}/{key}", Uuid::new_v4().simple()));
    store.get_to_file(key, &dest).await.expect("get_to_file");
    std::fs::read(dest).expect("read downloaded file")
}

/// Put, get, overwrite and existence, the same on every backend.
async fn round_trip(store: &Storage) {
    let scratch = TempDir::new();
    let story = Uuid::new_v4();
    let scene = Uuid::new_v4();

    let image = keys::scene_image(story, scene, RenderQuality::Preview);
    let png = sample(1000, 1);
    store
        .put_bytes(&image, png.clone(), "image/png")
        .await
        .unwrap();
    assert_eq!(read(store, &image, &scratch.path).await, png);

    let clip = keys::scene_clip(story, scene, RenderQuality::Final);
    let source = scratch.path.join("clip.mp4");
    let mp4 = sample(3 * 1024 * 1024 + 17, 2);
    std::fs::write(&source, &mp4).unwrap();
    store.put_file(&clip, &source, "video/mp4").await.unwrap();
    assert_eq!(read(store, &clip, &scratch.path).await, mp4);

    // A retried job writes the same key: the new content replaces the old entirely.
    let shorter = sample(500, 3);
    store
        .put_bytes(&clip, shorter.clone(), "video/mp4")
        .await
        .unwrap();
    assert_eq!(read(store, &clip, &scratch.path).await, shorter);
    std::fs::write(&source, &mp4).unwrap();
    store.put_file(&clip, &source, "video/mp4").await.unwrap();
    assert_eq!(read(store, &clip, &scratch.path).await, mp4);

    assert!(store.exists(&image).await.unwrap());
    assert!(store.exists(&clip).await.unwrap());
    let missing = keys::final_video(story);
    assert!(!store.exists(&missing).await.unwrap());
    let err = store
        .get_to_file(&missing, &scratch.path.join("never"))
        .await
        .unwrap_err();
    assert!(matches!(err, StorageError::NotFound(_)), "{err}");
    assert!(!scratch.path.join("never").exists());

    store.check().await.expect("check");
}

#[tokio::test]
async fn local_store_round_trips_and_overwrites() {
    let dir = TempDir::new();
    let store = local(&dir, None).await;
    round_trip(&store).await;

    // Only the objects remain: no temporary files beside them.
    let mut names = Vec::new();
    let mut stack = vec![dir.path.join("media")];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(d).unwrap() {
            let entry = entry.unwrap();
            if entry.file_type().unwrap().is_dir() {
                stack.push(entry.path());
            } else {
                names.push(entry.file_name().to_string_lossy().into_owned());
            }
        }
    }
    names.sort();
    assert_eq!(names, ["clip.mp4", "image.png"]);
}

#[tokio::test]
async fn s3_store_round_trips_and_overwrites() {
    let store = s3(&unique_bucket(), None).await;
    round_trip(&store).await;
}

#[tokio::test]
async fn local_paths_and_urls() {
    let dir = TempDir::new();
    let key = keys::final_video(Uuid::new_v4());

    let store = local(&dir, None).await;
    store
        .put_bytes(&key, b"video".to_vec(), "video/mp4")
        .await
        .unwrap();
    let path = store.local_path(&key).expect("a local path");
    assert_eq!(path, dir.path.join("media").join(&key));
    assert_eq!(std::fs::read(path).unwrap(), b"video");
    assert_eq!(store.url(&key).await.unwrap(), format!("/media/{key}"));

    let store = local(&dir, Some("https://cdn.example/media/")).await;
    assert_eq!(
        store.url(&key).await.unwrap(),
        format!("https://cdn.example/media/{key}")
    );
}

fn invalid<T>(result: Result<T, StorageError>) -> bool {
    matches!(result, Err(StorageError::InvalidKey(_)))
}

#[tokio::test]
async fn local_store_refuses_keys_that_leave_its_directory() {
    let dir = TempDir::new();
    let store = local(&dir, None).await;
    let source = dir.path.join("source");
    std::fs::write(&source, b"x").unwrap();
    for key in [
        "../escaped",
        "stories/../../escaped",
        "/tmp/escaped",
        "stories//x",
        "stories/x/",
        "",
        "a b",
        "a\\..\\escaped",
    ] {
        assert!(
            invalid(store.put_bytes(key, b"x".to_vec(), "text/plain").await),
            "{key:?}"
        );
        assert!(
            invalid(store.put_file(key, &source, "text/plain").await),
            "{key:?}"
        );
        assert!(
            invalid(store.get_to_file(key, &dir.path.join("out")).await),
            "{key:?}"
        );
        assert!(invalid(store.exists(key).await), "{key:?}");
        assert!(invalid(store.url(key).await), "{key:?}");
        assert_eq!(store.local_path(key), None, "{key:?}");
    }
    assert!(!dir.path.join("escaped").exists());
    assert!(!dir.path.join("out").exists());
}

#[tokio::test]
async fn s3_stores_content_type_and_presigns_urls() {
    let bucket = unique_bucket();
    let store = s3(&bucket, None).await;
    let story = Uuid::new_v4();
    let key = keys::preview(story);
    let body = sample(64 * 1024, 4);
    store
        .put_bytes(&key, body.clone(), "video/mp4")
        .await
        .unwrap();
    let image = keys::scene_image(story, Uuid::new_v4(), RenderQuality::Final);
    let source = TempDir::new();
    std::fs::write(source.path.join("image.png"), b"png").unwrap();
    store
        .put_file(&image, &source.path.join("image.png"), "image/png")
        .await
        .unwrap();

    let raw = raw_s3();
    for (key, content_type) in [(&key, "video/mp4"), (&image, "image/png")] {
        let head = raw
            .head_object()
            .bucket(&bucket)
            .key(key)
            .send()
            .await
            .expect("HEAD");
        assert_eq!(head.content_type(), Some(content_type));
    }
    assert_eq!(store.local_path(&key), None);

    // The presigned URL works for a client that knows nothing of S3.
    let url = store.url(&key).await.unwrap();
    assert!(url.starts_with(&env_var("TEST_S3_ENDPOINT")), "{url}");
    assert!(url.contains("X-Amz-Signature="), "{url}");
    let response = reqwest::get(&url).await.expect("GET presigned URL");
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"].to_str().unwrap(),
        "video/mp4"
    );
    assert_eq!(response.bytes().await.unwrap().as_ref(), body.as_slice());
}

#[tokio::test]
async fn s3_urls_use_the_base_url_when_set() {
    let store = s3(&unique_bucket(), Some("https://media.example")).await;
    let key = keys::final_video(Uuid::new_v4());
    assert_eq!(
        store.url(&key).await.unwrap(),
        format!("https://media.example/{key}")
    );
}

#[tokio::test]
async fn s3_bucket_is_created_when_missing() {
    let bucket = unique_bucket();
    let raw = raw_s3();
    assert!(raw.head_bucket().bucket(&bucket).send().await.is_err());

    let store = s3(&bucket, None).await;
    raw.head_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("the bucket exists");
    store.check().await.expect("check");

    // Opening again finds the bucket and keeps what it holds.
    let key = keys::preview(Uuid::new_v4());
    store
        .put_bytes(&key, b"kept".to_vec(), "video/mp4")
        .await
        .unwrap();
    let again = s3(&bucket, None).await;
    assert!(again.exists(&key).await.unwrap());
}

#[tokio::test]
async fn s3_check_fails_when_the_bucket_is_gone() {
    let bucket = unique_bucket();
    let store = s3(&bucket, None).await;
    raw_s3()
        .delete_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("delete bucket");
    let err = store.check().await.unwrap_err();
    assert!(matches!(err, StorageError::S3 { .. }), "{err}");
    // The error names the destination that failed.
    assert!(err.to_string().contains(&format!("s3://{bucket}")), "{err}");
    let upload = store
        .put_bytes("a/b.png", b"x".to_vec(), "image/png")
        .await
        .unwrap_err();
    assert!(
        upload
            .to_string()
            .contains(&format!("s3://{bucket}/a/b.png")),
        "{upload}"
    );
}
