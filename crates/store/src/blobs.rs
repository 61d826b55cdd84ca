//! Content-addressed blob storage for photos.
//!
//! A blob's key is the SHA-256 of its bytes (lowercase hex). Writing the same bytes twice stores
//! them once. On the local file system a blob is written to a temporary name, fsynced, renamed into
//! place and the directory fsynced, so a crash leaves either the whole blob or nothing. On an
//! S3-compatible store (through `object_store`) a PUT is atomic by itself. Both lay blobs out the
//! same way, `ab/cd/abcd…` under the root or prefix, so a store can be copied object by object.
//!
//! With a [`Keyring`] ([`BlobStore::with_keyring`]) every blob is stored encrypted (see
//! [`crate::blob_crypto`]); the key stays the hash of the plaintext, checked after decryption by
//! [`BlobStore::get_verified`].

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use object_store::{ObjectStore, ObjectStoreExt};
use object_store::path::Path as ObjectPath;
use sha2::{Digest, Sha256};

pub use crate::blob_crypto::{Kek, KeyError, Keyring};
use crate::blob_crypto::{OpenError, is_envelope};

#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    #[error("blob {0} not found")]
    NotFound(String),
    #[error("blob key {0:?} is not a SHA-256 hex digest")]
    BadKey(String),
    #[error("blob store I/O error: {0}")]
    Io(#[from] std::io::Error),
    #[error("unsupported blob URL {0:?}: use file:///PATH or s3://BUCKET/PREFIX")]
    UnsupportedUrl(String),
    #[error("object store error: {0}")]
    ObjectStore(#[from] object_store::Error),
    #[error("blob {key} is corrupt: its bytes hash to {actual}")]
    Corrupt { key: String, actual: String },
    /// The blob is wrapped under a key-encryption key this server does not have.
    #[error("blob {key} is encrypted under blob key id {key_id}, but the configured key has id {have}: set TELEDERM_BLOB_KEY_FILE (or TELEDERM_BLOB_KEY) to the key the photos were stored with")]
    KeyMismatch { key: String, key_id: String, have: String },
    /// The blob is encrypted and no key is configured.
    #[error("blob {key} is encrypted but no blob key is configured: set TELEDERM_BLOB_KEY_FILE (or TELEDERM_BLOB_KEY)")]
    KeyMissing { key: String },
    /// Encryption is on but the blob was stored before it was.
    #[error("blob {key} is not encrypted but encryption is on: run `telederm keys rotate` to encrypt the blobs stored before encryption was turned on")]
    NotEncrypted { key: String },
    #[error("blob {key} cannot be decrypted: {why} (damaged or tampered with)")]
    Damaged { key: String, why: &'static str },
}

impl BlobError {
    /// Whether the store could not be reached (an S3-compatible server down, refusing or timing
    /// out after the client's retries): the same request may succeed later.
    pub fn is_unavailable(&self) -> bool {
        match self {
            BlobError::ObjectStore(e) => !matches!(
                e,
                object_store::Error::NotFound { .. }
                    | object_store::Error::InvalidPath { .. }
                    | object_store::Error::NotSupported { .. }
                    | object_store::Error::NotImplemented { .. }
                    | object_store::Error::UnknownConfigurationKey { .. }
            ),
            _ => false,
        }
    }

    /// Whether the store is out of space: the file system (or the user's quota) is full, or the
    /// file is larger than the process may write.
    pub fn is_full(&self) -> bool {
        match self {
            BlobError::Io(e) => {
                e.kind() == std::io::ErrorKind::StorageFull
                    || e.kind() == std::io::ErrorKind::QuotaExceeded
                    || e.kind() == std::io::ErrorKind::FileTooLarge
            }
            _ => false,
        }
    }

    /// Whether this is a key problem (a configuration error), not a missing or damaged blob.
    pub fn is_key_problem(&self) -> bool {
        matches!(self, BlobError::KeyMismatch { .. } | BlobError::KeyMissing { .. } | BlobError::NotEncrypted { .. })
    }
}

/// What [`BlobStore::rewrap`] did to one blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rewrapped {
    /// Its data key was wrapped under the previous key and now is under the current one.
    Rewrapped,
    /// It was already under the current key.
    AlreadyCurrent,
    /// It was stored in plaintext (before encryption was turned on) and now is encrypted.
    Encrypted,
}

/// Where an S3-compatible store is and how to sign in to it.
#[derive(Clone, PartialEq, Eq)]
pub struct S3Settings {
    pub bucket: String,
    /// Keys go under this prefix (no leading or trailing slash); empty for the bucket's root.
    pub prefix: String,
    /// For servers other than AWS (MinIO, Ceph, moto…): `http://127.0.0.1:9000`.
    pub endpoint: Option<String>,
    pub region: String,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    /// Plain HTTP endpoints are refused unless this is set (loopback test servers).
    pub allow_http: bool,
}

impl std::fmt::Debug for S3Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Settings")
            .field("bucket", &self.bucket)
            .field("prefix", &self.prefix)
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &self.secret_access_key.as_ref().map(|_| "<redacted>"))
            .field("allow_http", &self.allow_http)
            .finish()
    }
}

impl S3Settings {
    /// Parses `s3://bucket/prefix` and reads the rest from the environment:
    /// `TELEDERM_S3_ENDPOINT`, `TELEDERM_S3_REGION` (else `AWS_REGION`, else `eu-west-2`),
    /// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `TELEDERM_S3_ALLOW_HTTP` (`true` to allow
    /// `http://` endpoints; loopback endpoints are always allowed).
    pub fn from_url_and_env(url: &str) -> Result<S3Settings, BlobError> {
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        Self::from_url(url, env)
    }

    /// As [`S3Settings::from_url_and_env`], with the environment given as a lookup function.
    pub fn from_url(url: &str, env: impl Fn(&str) -> Option<String>) -> Result<S3Settings, BlobError> {
        let rest = url.strip_prefix("s3://").ok_or_else(|| BlobError::UnsupportedUrl(url.to_string()))?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(BlobError::UnsupportedUrl(url.to_string()));
        }
        let endpoint = env("TELEDERM_S3_ENDPOINT");
        let loopback = endpoint.as_deref().is_some_and(|e| {
            e.starts_with("http://127.") || e.starts_with("http://localhost") || e.starts_with("http://[::1]")
        });
        Ok(S3Settings {
            bucket: bucket.to_string(),
            prefix: prefix.trim_matches('/').to_string(),
            endpoint,
            region: env("TELEDERM_S3_REGION").or_else(|| env("AWS_REGION")).unwrap_or_else(|| "eu-west-2".into()),
            access_key_id: env("AWS_ACCESS_KEY_ID"),
            secret_access_key: env("AWS_SECRET_ACCESS_KEY"),
            allow_http: loopback || env("TELEDERM_S3_ALLOW_HTTP").is_some_and(|v| v == "true" || v == "1"),
        })
    }
}

/// A stored blob as a listing sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobInfo {
    pub key: String,
    pub size: u64,
    /// When the blob was last written. Storing bytes that are already stored writes them again
    /// (or touches the file), so this is the time of the latest upload of these bytes.
    pub last_modified: DateTime<Utc>,
}

/// The SHA-256 of `bytes` as lowercase hex: the blob key.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Where photo bytes live. Cheap to clone.
#[derive(Debug, Clone)]
pub enum BlobStore {
    Fs(FsBlobs),
    S3(S3Blobs),
}

impl BlobStore {
    /// Opens the store named by a `TELEDERM_BLOB_URL`: `file:///var/lib/telederm/blobs`, or
    /// `s3://bucket/prefix` with the settings in the environment (see [`S3Settings::from_url_and_env`]).
    pub fn open(url: &str) -> Result<BlobStore, BlobError> {
        if let Some(path) = url.strip_prefix("file://") {
            return Ok(BlobStore::Fs(FsBlobs::open(Path::new(path))?));
        }
        if url.starts_with("s3://") {
            return Self::s3(S3Settings::from_url_and_env(url)?);
        }
        Err(BlobError::UnsupportedUrl(url.to_string()))
    }

    pub fn s3(settings: S3Settings) -> Result<BlobStore, BlobError> {
        Ok(BlobStore::S3(S3Blobs::new(settings)?))
    }

    /// The same store, encrypting what it writes and decrypting what it reads with `keyring`.
    pub fn with_keyring(mut self, keyring: Keyring) -> BlobStore {
        let k = Some(Arc::new(keyring));
        match &mut self {
            BlobStore::Fs(fs) => fs.keyring = k,
            BlobStore::S3(s3) => s3.keyring = k,
        }
        self
    }

    /// The keys in use, when blobs are encrypted.
    pub fn keyring(&self) -> Option<&Keyring> {
        match self {
            BlobStore::Fs(fs) => fs.keyring.as_deref(),
            BlobStore::S3(s3) => s3.keyring.as_deref(),
        }
    }

    /// Stores already-encoded bytes (an envelope, or plaintext without a keyring) under `key`.
    async fn put_stored(&self, key: &str, stored: Vec<u8>) -> Result<(), BlobError> {
        match self {
            BlobStore::Fs(fs) => {
                let (fs, key) = (fs.clone(), key.to_string());
                run_blocking(move || fs.write(&key, &stored)).await
            }
            BlobStore::S3(s3) => {
                s3.store.put(&s3.path_for(key)?, stored.into()).await?;
                Ok(())
            }
        }
    }

    /// Turns stored bytes into the blob's plaintext.
    fn decode(&self, key: &str, stored: Vec<u8>) -> Result<Vec<u8>, BlobError> {
        match (self.keyring(), is_envelope(&stored)) {
            (Some(k), _) => k.open(key, &stored).map_err(|e| open_error(k, key, e)),
            (None, true) => Err(BlobError::KeyMissing { key: key.to_string() }),
            (None, false) => Ok(stored),
        }
    }

    /// Re-wraps one blob's data key under the current key (or encrypts a plaintext blob), writing
    /// it back atomically in place. Needs a keyring; blobs under neither key are an error.
    pub async fn rewrap(&self, key: &str) -> Result<Rewrapped, BlobError> {
        let Some(k) = self.keyring() else { return Err(BlobError::KeyMissing { key: key.to_string() }) };
        let stored = self.get_stored(key).await?;
        if !is_envelope(&stored) {
            let actual = sha256_hex(&stored);
            if actual != key {
                return Err(BlobError::Corrupt { key: key.to_string(), actual });
            }
            let sealed = k.seal(key, &stored);
            self.put_stored(key, sealed).await?;
            return Ok(Rewrapped::Encrypted);
        }
        match k.rewrap(key, &stored).map_err(|e| open_error(k, key, e))? {
            None => Ok(Rewrapped::AlreadyCurrent),
            Some(envelope) => {
                self.put_stored(key, envelope).await?;
                Ok(Rewrapped::Rewrapped)
            }
        }
    }

    /// The key id a stored blob is wrapped under (`None` for a plaintext blob).
    pub async fn stored_key_id(&self, key: &str) -> Result<Option<String>, BlobError> {
        let stored = self.get_stored(key).await?;
        match Keyring::key_id_of(&stored) {
            Ok(id) => Ok(Some(id)),
            Err(OpenError::NotEncrypted) => Ok(None),
            Err(OpenError::Damaged(why)) => Err(BlobError::Damaged { key: key.to_string(), why }),
            Err(OpenError::UnknownKey { key_id }) => Ok(Some(key_id)),
        }
    }

    /// A description for logs and progress output, without secrets.
    pub fn describe(&self) -> String {
        match self {
            BlobStore::Fs(fs) => format!("file://{}", fs.root.display()),
            BlobStore::S3(s3) => format!("s3://{}/{}", s3.settings.bucket, s3.settings.prefix),
        }
    }

    /// Stores `bytes` (encrypted, with a keyring) and returns their key, the SHA-256 of `bytes`.
    pub async fn put(&self, bytes: Vec<u8>) -> Result<String, BlobError> {
        let keyring = self.keyring().cloned();
        let small = bytes.len() <= 64 * 1024;
        let seal = move || {
            let key = sha256_hex(&bytes);
            let stored = match keyring {
                Some(k) => k.seal(&key, &bytes),
                None => bytes,
            };
            Ok((key, stored))
        };
        // Hashing and encrypting a photo's megabytes takes milliseconds of CPU: off the request
        // threads for anything larger than a thumbnail, so other requests are not held up.
        let (key, stored) = if small { seal()? } else { run_blocking(seal).await? };
        self.put_stored(&key, stored).await?;
        Ok(key)
    }

    /// Whether a blob with this key is stored.
    pub async fn exists(&self, key: &str) -> Result<bool, BlobError> {
        match self {
            BlobStore::Fs(fs) => Ok(tokio::fs::try_exists(fs.path_for(key)?).await?),
            BlobStore::S3(s3) => match s3.store.head(&s3.path_for(key)?).await {
                Ok(_) => Ok(true),
                Err(object_store::Error::NotFound { .. }) => Ok(false),
                Err(e) => Err(e.into()),
            },
        }
    }

    /// A blob's bytes (decrypted, with a keyring).
    pub async fn get(&self, key: &str) -> Result<Vec<u8>, BlobError> {
        let stored = self.get_stored(key).await?;
        self.decode(key, stored)
    }

    /// A blob's bytes exactly as stored (the envelope, when encrypted).
    pub async fn get_stored(&self, key: &str) -> Result<Vec<u8>, BlobError> {
        match self {
            BlobStore::Fs(fs) => {
                let path = fs.path_for(key)?;
                tokio::fs::read(&path).await.map_err(|e| match e.kind() {
                    std::io::ErrorKind::NotFound => BlobError::NotFound(key.to_string()),
                    _ => BlobError::Io(e),
                })
            }
            BlobStore::S3(s3) => match s3.store.get(&s3.path_for(key)?).await {
                Ok(got) => Ok(got.bytes().await?.to_vec()),
                Err(object_store::Error::NotFound { .. }) => Err(BlobError::NotFound(key.to_string())),
                Err(e) => Err(e.into()),
            },
        }
    }

    /// Reads a blob and checks its bytes still hash to its key.
    pub async fn get_verified(&self, key: &str) -> Result<Vec<u8>, BlobError> {
        let bytes = self.get(key).await?;
        let actual = sha256_hex(&bytes);
        if actual != key {
            return Err(BlobError::Corrupt { key: key.to_string(), actual });
        }
        Ok(bytes)
    }

    pub async fn delete(&self, key: &str) -> Result<(), BlobError> {
        match self {
            BlobStore::Fs(fs) => match tokio::fs::remove_file(fs.path_for(key)?).await {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(e.into()),
            },
            BlobStore::S3(s3) => match s3.store.delete(&s3.path_for(key)?).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
                Err(e) => Err(e.into()),
            },
        }
    }

    /// Every key in the store.
    pub async fn list(&self) -> Result<Vec<String>, BlobError> {
        match self {
            BlobStore::Fs(fs) => {
                let fs = fs.clone();
                run_blocking(move || fs.list()).await
            }
            BlobStore::S3(s3) => s3.list().await,
        }
    }

    /// Every blob with its size and last-modified time, a page at a time (the whole listing is
    /// never held in memory). Files or objects whose names are not blob keys are skipped.
    pub fn list_info(&self) -> BoxStream<'static, Result<BlobInfo, BlobError>> {
        match self {
            BlobStore::Fs(fs) => {
                // One top-level directory (`ab/`) per step: 256 small listings.
                let pages = futures::stream::try_unfold((fs.clone(), None::<Vec<PathBuf>>), |(fs, dirs)| async move {
                    let mut dirs = match dirs {
                        Some(d) => d,
                        None => {
                            let f = fs.clone();
                            run_blocking(move || f.top_dirs()).await?
                        }
                    };
                    let Some(dir) = dirs.pop() else { return Ok(None) };
                    let page = run_blocking(move || FsBlobs::infos_under(&dir)).await?;
                    Ok::<_, BlobError>(Some((page, (fs, Some(dirs)))))
                });
                pages.map_ok(|page| futures::stream::iter(page.into_iter().map(Ok::<_, BlobError>))).try_flatten().boxed()
            }
            BlobStore::S3(s3) => s3
                .store
                .list(Some(&s3.prefix))
                .map_err(BlobError::from)
                .try_filter_map(|o| async move {
                    let info = o.location.filename().filter(|k| check_key(k).is_ok()).map(|k| BlobInfo {
                        key: k.to_string(),
                        size: o.size,
                        last_modified: o.last_modified,
                    });
                    Ok::<_, BlobError>(info)
                })
                .boxed(),
        }
    }

    /// A blob's size and last-modified time, or `None` if it is not stored.
    pub async fn info(&self, key: &str) -> Result<Option<BlobInfo>, BlobError> {
        match self {
            BlobStore::Fs(fs) => match tokio::fs::metadata(fs.path_for(key)?).await {
                Ok(m) => Ok(Some(BlobInfo { key: key.to_string(), size: m.len(), last_modified: m.modified()?.into() })),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(e.into()),
            },
            BlobStore::S3(s3) => match s3.store.head(&s3.path_for(key)?).await {
                Ok(o) => Ok(Some(BlobInfo { key: key.to_string(), size: o.size, last_modified: o.last_modified })),
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(e.into()),
            },
        }
    }

    /// Checks the store can be written (for readiness checks).
    pub async fn ping(&self) -> Result<(), BlobError> {
        match self {
            BlobStore::Fs(fs) => Ok(tokio::fs::metadata(&fs.root).await.map(|_| ())?),
            // Listing one page proves the bucket exists and the credentials work.
            BlobStore::S3(s3) => {
                let mut page = s3.store.list(Some(&s3.prefix));
                page.try_next().await?;
                Ok(())
            }
        }
    }
}

/// What [`copy_blobs`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BlobCopyReport {
    /// Blobs in the source.
    pub total: usize,
    /// Blobs written to the target.
    pub copied: usize,
    /// Blobs the target already had.
    pub skipped: usize,
}

/// Copies every blob from `from` to `to` as stored — an encrypted blob stays encrypted under the
/// same key, so backups and copies are protected like the original — checking each on the way
/// (a plaintext blob must hash to its key; an envelope is decrypted and checked when `from` has the
/// key, else its header is checked and GCM authenticates it when it is read). Blobs the target
/// already has are skipped. The source is only read. `progress(done, total)` is called after each.
pub async fn copy_blobs(
    from: &BlobStore,
    to: &BlobStore,
    mut progress: impl FnMut(usize, usize),
) -> Result<BlobCopyReport, BlobError> {
    let keys = from.list().await?;
    let mut report = BlobCopyReport { total: keys.len(), ..Default::default() };
    for (i, key) in keys.iter().enumerate() {
        if to.exists(key).await? {
            report.skipped += 1;
        } else {
            let stored = from.get_stored(key).await?;
            match (is_envelope(&stored), from.keyring()) {
                (false, _) => {
                    let actual = sha256_hex(&stored);
                    if actual != *key {
                        return Err(BlobError::Corrupt { key: key.clone(), actual });
                    }
                }
                (true, Some(_)) => {
                    let plain = from.decode(key, stored.clone())?;
                    let actual = sha256_hex(&plain);
                    if actual != *key {
                        return Err(BlobError::Corrupt { key: key.clone(), actual });
                    }
                }
                (true, None) => {
                    Keyring::key_id_of(&stored).map_err(|_| BlobError::Damaged { key: key.clone(), why: "the envelope header is damaged" })?;
                }
            }
            to.put_stored(key, stored).await?;
            report.copied += 1;
        }
        progress(i + 1, report.total);
    }
    Ok(report)
}

fn open_error(k: &Keyring, key: &str, e: OpenError) -> BlobError {
    let key = key.to_string();
    match e {
        OpenError::NotEncrypted => BlobError::NotEncrypted { key },
        OpenError::UnknownKey { key_id } => BlobError::KeyMismatch { key, key_id, have: k.key_ids().join(" or ") },
        OpenError::Damaged(why) => BlobError::Damaged { key, why },
    }
}

fn check_key(key: &str) -> Result<(), BlobError> {
    if key.len() != 64 || !key.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
        return Err(BlobError::BadKey(key.to_string()));
    }
    Ok(())
}

/// Blobs as objects in an S3-compatible bucket: `prefix/ab/cd/abcd…`.
#[derive(Clone)]
pub struct S3Blobs {
    store: Arc<dyn ObjectStore>,
    prefix: ObjectPath,
    settings: S3Settings,
    keyring: Option<Arc<Keyring>>,
}

impl std::fmt::Debug for S3Blobs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Blobs").field("settings", &self.settings).field("keyring", &self.keyring).finish()
    }
}

impl S3Blobs {
    pub fn new(settings: S3Settings) -> Result<S3Blobs, BlobError> {
        use object_store::aws::AmazonS3Builder;
        let mut b = AmazonS3Builder::new()
            .with_retry(s3_retry())
            .with_bucket_name(&settings.bucket)
            .with_region(&settings.region)
            .with_allow_http(settings.allow_http);
        if let Some(endpoint) = &settings.endpoint {
            // Self-hosted servers are addressed by path (`endpoint/bucket/key`), not virtual host.
            b = b.with_endpoint(endpoint).with_virtual_hosted_style_request(false);
        }
        if let (Some(id), Some(secret)) = (&settings.access_key_id, &settings.secret_access_key) {
            b = b.with_access_key_id(id).with_secret_access_key(secret);
        }
        let store = b.build()?;
        Ok(S3Blobs { store: Arc::new(store), prefix: ObjectPath::from(settings.prefix.as_str()), settings, keyring: None })
    }

    fn path_for(&self, key: &str) -> Result<ObjectPath, BlobError> {
        check_key(key)?;
        Ok(self.prefix.clone().join(&key[..2]).join(&key[2..4]).join(key))
    }

    async fn list(&self) -> Result<Vec<String>, BlobError> {
        let objects: Vec<_> = self.store.list(Some(&self.prefix)).try_collect().await?;
        let mut keys: Vec<String> = objects
            .into_iter()
            .filter_map(|o| o.location.filename().map(str::to_string))
            .filter(|k| check_key(k).is_ok())
            .collect();
        keys.sort();
        Ok(keys)
    }
}

/// Retries for S3 requests. The client's defaults retry a refused connection for up to 3 minutes,
/// which would hold an upload (and the person waiting for it) that long while the server is down;
/// these give up within about 10 s, and the request is answered `503 blob_store_unavailable`.
fn s3_retry() -> object_store::RetryConfig {
    object_store::RetryConfig {
        backoff: object_store::BackoffConfig {
            init_backoff: std::time::Duration::from_millis(100),
            max_backoff: std::time::Duration::from_secs(2),
            base: 2.0,
        },
        max_retries: 4,
        retry_timeout: std::time::Duration::from_secs(10),
    }
}

async fn run_blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T, BlobError> + Send + 'static) -> Result<T, BlobError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| BlobError::Io(std::io::Error::other(e.to_string())))?
}

/// Blobs as files under a root directory: `ab/cd/abcd…`.
#[derive(Debug, Clone)]
pub struct FsBlobs {
    root: PathBuf,
    keyring: Option<Arc<Keyring>>,
}

impl FsBlobs {
    pub fn open(root: &Path) -> Result<FsBlobs, BlobError> {
        std::fs::create_dir_all(root.join(".tmp"))?;
        Ok(FsBlobs { root: root.to_path_buf(), keyring: None })
    }

    fn path_for(&self, key: &str) -> Result<PathBuf, BlobError> {
        check_key(key)?;
        Ok(self.root.join(&key[..2]).join(&key[2..4]).join(key))
    }

    /// Writes `stored` as blob `key`: to a temporary file, fsynced, renamed over any old copy
    /// (so a re-wrap in place is atomic too), then the directory fsynced.
    fn write(&self, key: &str, stored: &[u8]) -> Result<(), BlobError> {
        let path = self.path_for(key)?;
        let dir = path.parent().unwrap_or(&self.root);
        std::fs::create_dir_all(dir)?;
        let tmp = self.root.join(".tmp").join(format!("{key}.{}", uuid::Uuid::new_v4()));
        let guard = RemoveOnDrop(Some(tmp.clone()));
        {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(stored)?;
            f.sync_all()?;
        }
        std::fs::rename(&tmp, &path)?;
        std::mem::forget(guard);
        std::fs::File::open(dir)?.sync_all()?;
        Ok(())
    }

    /// The top-level `ab/` directories, last first.
    fn top_dirs(&self) -> Result<Vec<PathBuf>, BlobError> {
        let mut dirs = Vec::new();
        for a in std::fs::read_dir(&self.root)? {
            let a = a?;
            if a.file_name() != ".tmp" && a.file_type()?.is_dir() {
                dirs.push(a.path());
            }
        }
        dirs.sort_by(|a, b| b.cmp(a));
        Ok(dirs)
    }

    /// The blobs under one top-level directory, with their sizes and times.
    fn infos_under(dir: &Path) -> Result<Vec<BlobInfo>, BlobError> {
        let mut out = Vec::new();
        for b in std::fs::read_dir(dir)? {
            let b = b?;
            if !b.file_type()?.is_dir() {
                continue;
            }
            for f in std::fs::read_dir(b.path())? {
                let f = f?;
                let key = f.file_name().to_string_lossy().into_owned();
                if check_key(&key).is_err() {
                    continue;
                }
                let m = match f.metadata() {
                    Ok(m) => m,
                    // Deleted while listing.
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(e.into()),
                };
                out.push(BlobInfo { key, size: m.len(), last_modified: m.modified()?.into() });
            }
        }
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }

    fn list(&self) -> Result<Vec<String>, BlobError> {
        let mut keys = Vec::new();
        for a in std::fs::read_dir(&self.root)? {
            let a = a?;
            if a.file_name() == ".tmp" || !a.file_type()?.is_dir() {
                continue;
            }
            for b in std::fs::read_dir(a.path())? {
                for f in std::fs::read_dir(b?.path())? {
                    keys.push(f?.file_name().to_string_lossy().into_owned());
                }
            }
        }
        keys.sort();
        Ok(keys)
    }
}

/// Removes a half-written temporary file if writing it failed.
struct RemoveOnDrop(Option<PathBuf>);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = std::fs::remove_file(p);
        }
    }
}
