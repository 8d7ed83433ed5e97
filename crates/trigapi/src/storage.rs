//! Where photo files live: a local directory by default (this server serves it under
//! `/photos/`), or an S3-compatible bucket (AWS, MinIO, R2, …) when `PHOTOS_S3_BUCKET` is set.
//! Both sit behind one [`object_store`] interface.
//!
//! Keys are the `tphoto.filename` values (`001/P01234.jpg`), relative to the directory or
//! bucket, and the `server` row the photos point at must name the URL they are served from.

use std::sync::Arc;
use std::time::Duration;

use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{ClientOptions, ObjectStore, ObjectStoreExt, PutPayload, RetryConfig};

use crate::config::{Config, Secret};

/// The `server` row of the photos this store holds (the original's `PHOTOS_SERVER_ID`).
pub const PHOTOS_SERVER_ID: i32 = 1;

/// The photo files.
#[derive(Clone)]
pub struct PhotoStore {
    inner: Arc<dyn ObjectStore>,
    kind: &'static str,
}

/// A store operation failed (unreachable bucket, full disk, missing object).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("photo store: {0}")]
    Store(#[from] object_store::Error),
    #[error("photo store key {0:?} is not a valid path")]
    Key(String),
}

impl StoreError {
    /// The object is not in the store (a permanent failure, unlike an unreachable store).
    pub fn is_missing(&self) -> bool {
        matches!(self, StoreError::Store(object_store::Error::NotFound { .. }))
    }
}

impl PhotoStore {
    /// The store the configuration names (creating the local directory if needed).
    pub fn from_config(config: &Config) -> anyhow::Result<Self> {
        let photos = &config.photos;
        let Some(bucket) = &photos.photos_s3_bucket else {
            std::fs::create_dir_all(&photos.photos_dir)?;
            let local = LocalFileSystem::new_with_prefix(&photos.photos_dir)?;
            return Ok(Self { inner: Arc::new(local), kind: "local" });
        };
        // Credentials come from the configuration, else the usual AWS variables (or the
        // instance's role). An unreachable store fails an upload within seconds, not minutes.
        let retry = RetryConfig { max_retries: 2, retry_timeout: Duration::from_secs(10), ..RetryConfig::default() };
        let client =
            ClientOptions::new().with_connect_timeout(Duration::from_secs(5)).with_timeout(Duration::from_secs(60));
        let mut s3 = AmazonS3Builder::from_env().with_bucket_name(bucket).with_retry(retry).with_client_options(client);
        if let Some(key) = &photos.photos_s3_access_key_id {
            let secret = photos.photos_s3_secret_access_key.as_ref().map(Secret::expose).unwrap_or_default();
            s3 = s3.with_access_key_id(key).with_secret_access_key(secret);
        }
        if let Some(region) = &photos.photos_s3_region {
            s3 = s3.with_region(region);
        }
        if let Some(endpoint) = &photos.photos_s3_endpoint {
            s3 = s3.with_endpoint(endpoint).with_allow_http(endpoint.starts_with("http://"));
        }
        Ok(Self { inner: Arc::new(s3.build()?), kind: "s3" })
    }

    /// `local` or `s3`.
    pub fn kind(&self) -> &'static str {
        self.kind
    }

    pub async fn put(&self, key: &str, bytes: Vec<u8>) -> Result<(), StoreError> {
        self.inner.put(&path(key)?, PutPayload::from(bytes)).await?;
        Ok(())
    }

    pub async fn get(&self, key: &str) -> Result<Vec<u8>, StoreError> {
        Ok(self.inner.get(&path(key)?).await?.bytes().await?.to_vec())
    }

    /// Remove `keys`, logging (not failing on) what cannot be removed: used to clean up after
    /// a write that did not complete.
    pub async fn remove(&self, keys: &[String]) {
        for key in keys {
            let result = match path(key) {
                Ok(p) => self.inner.delete(&p).await.map_err(StoreError::from),
                Err(e) => Err(e),
            };
            if let Err(e) = result {
                tracing::warn!(key = %key, error = %e, "could not remove a photo file");
            }
        }
    }
}

fn path(key: &str) -> Result<Path, StoreError> {
    Path::parse(key).map_err(|_| StoreError::Key(key.to_owned()))
}

/// The keys of photo `id`'s file and thumbnail at `revision` (0 for an upload, then one more
/// per rotation): `001/P01234.jpg`, `001/I01234.jpg`, `001/P01234_r1.jpg`, …
pub fn photo_keys(id: i32, revision: u32) -> (String, String) {
    let dir = format!("{:03}", id / 1000);
    let suffix = if revision == 0 { String::new() } else { format!("_r{revision}") };
    (format!("{dir}/P{id:05}{suffix}.jpg"), format!("{dir}/I{id:05}{suffix}.jpg"))
}

/// The photo a key of [`photo_keys`] belongs to (`001/I01234_r2.jpg` → 1234), `None` for a
/// key of another layout.
pub fn photo_id_of(key: &str) -> Option<i32> {
    let (dir, name) = key.split_once('/')?;
    let stem = name.strip_suffix(".jpg")?.strip_prefix(['P', 'I'])?;
    let digits = stem.split_once("_r").map_or(stem, |(d, _)| d);
    let id = digits.parse::<i32>().ok()?;
    (digits.len() >= 5 && dir == format!("{:03}", id / 1000)).then_some(id)
}

/// The revision a filename of [`photo_keys`] carries (0 for any other name).
pub fn revision_of(filename: &str) -> u32 {
    filename.strip_suffix(".jpg").and_then(|stem| stem.rsplit_once("_r")).and_then(|(_, n)| n.parse().ok()).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_follow_the_sites_layout() {
        assert_eq!(photo_keys(1234, 0), ("001/P01234.jpg".into(), "001/I01234.jpg".into()));
        assert_eq!(photo_keys(7, 2), ("000/P00007_r2.jpg".into(), "000/I00007_r2.jpg".into()));
        assert_eq!(photo_keys(402_671, 0).0, "402/P402671.jpg");
        assert_eq!(revision_of("000/P00500_r12.jpg"), 12);
        assert_eq!(revision_of("000/P00500.jpg"), 0);
        assert_eq!(revision_of("demo/P03.jpg"), 0);
        assert_eq!(photo_id_of("001/P01234.jpg"), Some(1234));
        assert_eq!(photo_id_of("000/I00007_r2.jpg"), Some(7));
        assert_eq!(photo_id_of("402/P402671.jpg"), Some(402_671));
        assert_eq!(photo_id_of("demo/P03.jpg"), None);
        assert_eq!(photo_id_of("002/P01234.jpg"), None);
    }
}
