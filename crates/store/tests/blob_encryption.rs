//! Blobs encrypted at rest, on the file store and on a real S3-protocol server: the blob contract
//! holds with a keyring; what is stored is an envelope without the plaintext; the wrong key, no
//! key, or a plaintext blob are refused with errors that name the setting; rotation re-wraps in
//! place and keeps every blob readable.

use telederm_store::blobs::{BlobError, BlobStore, Kek, Keyring, Rewrapped, sha256_hex};
use telederm_store::testkit::S3Server;

/// A small JPEG-looking payload: the signature and a recognisable run of bytes.
fn photo(i: u8) -> Vec<u8> {
    let mut b = vec![0xFF, 0xD8, 0xFF, 0xE0];
    b.extend_from_slice(b"JFIF\0");
    b.extend((0..20_000u32).map(|n| (n as u8).wrapping_mul(31).wrapping_add(i)));
    b
}

async fn encrypted_contract(plain: BlobStore) {
    let old = Kek::generate();
    let store = plain.clone().with_keyring(Keyring::new(old.clone()));
    let mut keys = Vec::new();
    for i in 0..5 {
        let bytes = photo(i);
        let key = store.put(bytes.clone()).await.unwrap();
        assert_eq!(key, sha256_hex(&bytes), "content addressing stays on the plaintext");
        assert_eq!(store.get_verified(&key).await.unwrap(), bytes);
        let stored = store.get_stored(&key).await.unwrap();
        assert!(stored.starts_with(b"TDENC\x01"));
        assert!(!stored.windows(4).any(|w| w == b"JFIF"), "no plaintext at rest");
        assert!(!stored.windows(64).any(|w| w == &bytes[1000..1064]));
        keys.push(key);
    }

    // Without the key, or with another one: refused, naming the setting.
    let none = plain.get(&keys[0]).await.unwrap_err();
    assert!(matches!(none, BlobError::KeyMissing { .. }) && none.to_string().contains("TELEDERM_BLOB_KEY_FILE"), "{none}");
    let wrong = plain.clone().with_keyring(Keyring::new(Kek::generate()));
    let err = wrong.get(&keys[0]).await.unwrap_err();
    assert!(matches!(&err, BlobError::KeyMismatch { key_id, .. } if key_id == old.id()), "{err}");
    assert!(err.is_key_problem() && err.to_string().contains("TELEDERM_BLOB_KEY_FILE"), "{err}");

    // A plaintext blob from before encryption: refused until `keys rotate` encrypts it.
    let legacy = photo(99);
    let legacy_key = plain.put(legacy.clone()).await.unwrap();
    assert!(matches!(store.get(&legacy_key).await, Err(BlobError::NotEncrypted { .. })));

    // Rotation: the new key with the old one as previous re-wraps everything in place.
    let new = Kek::generate();
    let rotating = plain.clone().with_keyring(Keyring { current: new.clone(), previous: Some(old.clone()) });
    for k in &keys {
        assert_eq!(rotating.rewrap(k).await.unwrap(), Rewrapped::Rewrapped);
        assert_eq!(rotating.rewrap(k).await.unwrap(), Rewrapped::AlreadyCurrent, "resumable");
    }
    assert_eq!(rotating.rewrap(&legacy_key).await.unwrap(), Rewrapped::Encrypted);
    let after = plain.clone().with_keyring(Keyring::new(new));
    for (i, k) in keys.iter().enumerate() {
        assert_eq!(after.get_verified(k).await.unwrap(), photo(i as u8), "readable under the new key alone");
    }
    assert_eq!(after.get_verified(&legacy_key).await.unwrap(), legacy);
    assert!(matches!(store.get(&keys[0]).await, Err(BlobError::KeyMismatch { .. })), "the old key alone no longer opens them");
    assert_eq!(after.list().await.unwrap().len(), 6, "rotation rewrites in place, adding nothing");
}

#[tokio::test]
async fn file_store_encrypts_at_rest_and_rotates() {
    let dir = tempfile::tempdir().unwrap();
    encrypted_contract(BlobStore::open(&format!("file://{}", dir.path().display())).unwrap()).await;
}

#[tokio::test]
async fn s3_store_encrypts_at_rest_and_rotates() {
    let server = S3Server::start();
    encrypted_contract(server.blob_store("encrypted")).await;
}
