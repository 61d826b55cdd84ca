//! The blob store contract, run against the file store and a real S3-protocol server (moto's,
//! started on loopback by the test and stopped after it), plus copying between the two.

use telederm_store::blobs::{BlobError, BlobStore, S3Settings, copy_blobs, sha256_hex};
use telederm_store::testkit::S3Server;

async fn contract(store: &BlobStore) {
    store.ping().await.unwrap();
    assert!(store.list().await.unwrap().is_empty());

    let a = b"a photo's bytes".to_vec();
    let key = store.put(a.clone()).await.unwrap();
    assert_eq!(key, sha256_hex(&a), "keys are the SHA-256 of the content");
    assert_eq!(store.put(a.clone()).await.unwrap(), key, "the same bytes store once");
    assert_eq!(store.get(&key).await.unwrap(), a);
    assert_eq!(store.get_verified(&key).await.unwrap(), a);
    assert!(store.exists(&key).await.unwrap());

    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    let big_key = store.put(big.clone()).await.unwrap();
    assert_eq!(store.get(&big_key).await.unwrap(), big);
    let empty_key = store.put(Vec::new()).await.unwrap();
    assert_eq!(store.get(&empty_key).await.unwrap(), Vec::<u8>::new());

    let mut expected = vec![key.clone(), big_key.clone(), empty_key.clone()];
    expected.sort();
    assert_eq!(store.list().await.unwrap(), expected);

    let missing = sha256_hex(b"never stored");
    assert!(matches!(store.get(&missing).await, Err(BlobError::NotFound(k)) if k == missing));
    assert!(!store.exists(&missing).await.unwrap());
    assert!(matches!(store.get("../../etc/passwd").await, Err(BlobError::BadKey(_))));
    assert!(matches!(store.put(Vec::new()).await, Ok(k) if k == empty_key));

    store.delete(&key).await.unwrap();
    store.delete(&key).await.unwrap();
    assert!(matches!(store.get(&key).await, Err(BlobError::NotFound(_))));
    assert_eq!(store.list().await.unwrap().len(), 2);
}

#[tokio::test]
async fn file_store_keeps_the_contract() {
    let dir = tempfile::tempdir().unwrap();
    let store = BlobStore::open(&format!("file://{}", dir.path().display())).unwrap();
    contract(&store).await;
}

#[tokio::test]
async fn s3_store_keeps_the_contract() {
    let server = S3Server::start();
    contract(&server.blob_store("telederm/blobs")).await;
    // A second prefix in the same bucket is a separate store.
    let other = server.blob_store("other");
    assert!(other.list().await.unwrap().is_empty());
}

#[tokio::test]
async fn s3_and_file_stores_lay_out_keys_alike_and_copy_both_ways() {
    let server = S3Server::start();
    let s3 = server.blob_store("copy");
    let dir = tempfile::tempdir().unwrap();
    let fs = BlobStore::open(&format!("file://{}", dir.path().display())).unwrap();

    let mut keys = Vec::new();
    for i in 0..12u32 {
        keys.push(fs.put(format!("photo {i}").repeat(1000).into_bytes()).await.unwrap());
    }
    keys.sort();
    // The file store's layout is ab/cd/<key>; the S3 store uses the same relative keys.
    let k = &keys[0];
    assert!(dir.path().join(&k[..2]).join(&k[2..4]).join(k).is_file());

    let mut seen = Vec::new();
    let report = copy_blobs(&fs, &s3, |done, total| seen.push((done, total))).await.unwrap();
    assert_eq!((report.total, report.copied, report.skipped), (12, 12, 0));
    assert_eq!(seen.last(), Some(&(12, 12)));
    assert_eq!(s3.list().await.unwrap(), keys);
    assert_eq!(fs.list().await.unwrap(), keys, "the source is untouched");

    // Copying again skips everything; copying back into an empty store restores it all.
    assert_eq!(copy_blobs(&fs, &s3, |_, _| {}).await.unwrap().skipped, 12);
    let back_dir = tempfile::tempdir().unwrap();
    let back = BlobStore::open(&format!("file://{}", back_dir.path().display())).unwrap();
    assert_eq!(copy_blobs(&s3, &back, |_, _| {}).await.unwrap().copied, 12);
    for key in &keys {
        assert_eq!(back.get_verified(key).await.unwrap(), fs.get(key).await.unwrap());
    }
}

#[test]
fn s3_settings_come_from_the_url_and_environment() {
    let env = |k: &str| match k {
        "TELEDERM_S3_ENDPOINT" => Some("http://127.0.0.1:9000".to_string()),
        "AWS_ACCESS_KEY_ID" => Some("id".to_string()),
        "AWS_SECRET_ACCESS_KEY" => Some("secret".to_string()),
        _ => None,
    };
    let s = S3Settings::from_url("s3://photos/region-a/blobs/", env).unwrap();
    assert_eq!(s.bucket, "photos");
    assert_eq!(s.prefix, "region-a/blobs");
    assert_eq!(s.region, "eu-west-2");
    assert!(s.allow_http, "loopback endpoints may be plain HTTP");
    assert!(!format!("{s:?}").contains("secret\""), "the secret is not printed");

    let remote = S3Settings::from_url("s3://photos", |k| (k == "TELEDERM_S3_ENDPOINT").then(|| "http://s3.internal:9000".into())).unwrap();
    assert_eq!(remote.prefix, "");
    assert!(!remote.allow_http, "plain HTTP elsewhere needs TELEDERM_S3_ALLOW_HTTP");
    assert!(S3Settings::from_url("s3:///x", |_| None).is_err());
    assert!(matches!(BlobStore::open("ftp://x"), Err(BlobError::UnsupportedUrl(_))));
}
