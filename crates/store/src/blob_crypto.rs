//! Photo blobs encrypted at rest: AES-256-GCM with a fresh random data key per blob, the data key
//! wrapped (AES-256-GCM again) by a key-encryption key (KEK) that lives outside the database and
//! the blob store (`TELEDERM_BLOB_KEY` or `TELEDERM_BLOB_KEY_FILE`).
//!
//! Envelope, version 1 (all of it is what the blob store holds):
//!
//! ```text
//! "TDENC" 0x01 | key id length (1 byte) | key id (ASCII hex) | wrap nonce (12) |
//! wrapped data key (32 + 16 tag) | data nonce (12) | ciphertext + 16-byte tag
//! ```
//!
//! The key id is the first 16 hex digits of SHA-256("telederm-kek-id\0" ‖ KEK): it names the KEK
//! without revealing it, so a reader can tell "wrong key" from "damaged blob". Both encryptions
//! take the blob's key (the SHA-256 of the plaintext) as associated data, so an envelope moved to
//! another key's place does not decrypt. Rotation re-wraps only the 60-odd header bytes; the
//! ciphertext stays as it is.

use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{Aes256Gcm, Key, KeyInit, Nonce};
use rand::RngCore;
use sha2::{Digest, Sha256};

const MAGIC: &[u8; 6] = b"TDENC\x01";
const NONCE: usize = 12;
const WRAPPED: usize = 32 + 16;

/// Whether stored bytes are an envelope (rather than a plaintext blob from before encryption).
pub fn is_envelope(stored: &[u8]) -> bool {
    stored.starts_with(MAGIC)
}

/// A key-encryption key. Its bytes never appear in `Debug` output.
#[derive(Clone)]
pub struct Kek {
    id: String,
    key: [u8; 32],
}

impl std::fmt::Debug for Kek {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kek").field("id", &self.id).field("key", &"<redacted>").finish()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("the blob key is not valid base64: {0}")]
    NotBase64(String),
    #[error("the blob key is {0} bytes long; it must be exactly 32 bytes (256 bits), base64-encoded. `telederm keys generate` makes one")]
    WrongLength(usize),
}

impl Kek {
    pub fn from_bytes(key: [u8; 32]) -> Kek {
        let mut h = Sha256::new();
        h.update(b"telederm-kek-id\0");
        h.update(key);
        let id = hex::encode(h.finalize())[..16].to_string();
        Kek { id, key }
    }

    /// A key as `telederm keys generate` writes it: 32 bytes, standard base64 (surrounding
    /// whitespace ignored).
    pub fn from_base64(text: &str) -> Result<Kek, KeyError> {
        use base64::Engine;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .map_err(|e| KeyError::NotBase64(e.to_string()))?;
        let key: [u8; 32] = bytes.as_slice().try_into().map_err(|_| KeyError::WrongLength(bytes.len()))?;
        Ok(Kek::from_bytes(key))
    }

    /// A fresh random key.
    pub fn generate() -> Kek {
        let mut key = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut key);
        Kek::from_bytes(key)
    }

    pub fn to_base64(&self) -> String {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(self.key)
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&self.key))
    }
}

/// The keys a blob store can use: the current KEK (new blobs, re-wrapping) and, only while a
/// rotation is under way, the previous one (reading blobs not yet re-wrapped).
#[derive(Debug, Clone)]
pub struct Keyring {
    pub current: Kek,
    pub previous: Option<Kek>,
}

/// Why an envelope could not be opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpenError {
    /// Not an envelope at all (a plaintext blob from before encryption was turned on).
    NotEncrypted,
    /// Wrapped under a KEK this keyring does not have.
    UnknownKey { key_id: String },
    /// Truncated, damaged or tampered with (authentication failed).
    Damaged(&'static str),
}

/// The parsed header of an envelope.
struct Header<'a> {
    key_id: &'a str,
    wrap_nonce: &'a [u8],
    wrapped: &'a [u8],
    /// Everything after the wrapped data key (data nonce and ciphertext).
    body: &'a [u8],
}

fn parse(stored: &[u8]) -> Result<Header<'_>, OpenError> {
    let rest = stored.strip_prefix(MAGIC.as_slice()).ok_or(OpenError::NotEncrypted)?;
    let (&id_len, rest) = rest.split_first().ok_or(OpenError::Damaged("truncated header"))?;
    let id_len = usize::from(id_len);
    if rest.len() < id_len + NONCE + WRAPPED + NONCE + 16 {
        return Err(OpenError::Damaged("truncated envelope"));
    }
    let key_id = std::str::from_utf8(&rest[..id_len]).map_err(|_| OpenError::Damaged("key id is not text"))?;
    let rest = &rest[id_len..];
    Ok(Header { key_id, wrap_nonce: &rest[..NONCE], wrapped: &rest[NONCE..NONCE + WRAPPED], body: &rest[NONCE + WRAPPED..] })
}

fn aad(kind: &[u8], blob_key: &str) -> Vec<u8> {
    [kind, blob_key.as_bytes()].concat()
}

fn random_nonce() -> [u8; NONCE] {
    let mut n = [0u8; NONCE];
    rand::rngs::OsRng.fill_bytes(&mut n);
    n
}

fn wrap(kek: &Kek, blob_key: &str, dek: &[u8; 32]) -> ([u8; NONCE], Vec<u8>) {
    let nonce = random_nonce();
    let wrapped = kek
        .cipher()
        .encrypt(Nonce::from_slice(&nonce), Payload { msg: dek, aad: &aad(b"telederm-blob-dek-v1\0", blob_key) })
        .unwrap_or_else(|_| unreachable!("AES-GCM encryption of 32 bytes cannot fail"));
    (nonce, wrapped)
}

fn header(kek: &Kek, wrap_nonce: &[u8], wrapped: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(MAGIC.len() + 1 + kek.id.len() + NONCE + WRAPPED);
    out.extend_from_slice(MAGIC);
    out.push(kek.id.len() as u8);
    out.extend_from_slice(kek.id.as_bytes());
    out.extend_from_slice(wrap_nonce);
    out.extend_from_slice(wrapped);
    out
}

impl Keyring {
    pub fn new(current: Kek) -> Keyring {
        Keyring { current, previous: None }
    }

    fn kek(&self, key_id: &str) -> Option<&Kek> {
        std::iter::once(&self.current).chain(self.previous.as_ref()).find(|k| k.id == key_id)
    }

    /// The ids this keyring can open, current first.
    pub fn key_ids(&self) -> Vec<String> {
        std::iter::once(&self.current).chain(self.previous.as_ref()).map(|k| k.id.clone()).collect()
    }

    /// Encrypts a blob's bytes under a fresh data key wrapped by the current KEK.
    pub fn seal(&self, blob_key: &str, plaintext: &[u8]) -> Vec<u8> {
        let mut dek = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut dek);
        let (wrap_nonce, wrapped) = wrap(&self.current, blob_key, &dek);
        let data_nonce = random_nonce();
        let cipher = Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&dek));
        let ct = cipher
            .encrypt(Nonce::from_slice(&data_nonce), Payload { msg: plaintext, aad: &aad(b"telederm-blob-v1\0", blob_key) })
            .unwrap_or_else(|_| unreachable!("AES-GCM encryption cannot fail for blobs under 64 GiB"));
        let mut out = header(&self.current, &wrap_nonce, &wrapped);
        out.reserve(NONCE + ct.len());
        out.extend_from_slice(&data_nonce);
        out.extend_from_slice(&ct);
        out
    }

    fn unwrap_dek(&self, blob_key: &str, h: &Header<'_>) -> Result<[u8; 32], OpenError> {
        let kek = self.kek(h.key_id).ok_or_else(|| OpenError::UnknownKey { key_id: h.key_id.to_string() })?;
        let dek = kek
            .cipher()
            .decrypt(Nonce::from_slice(h.wrap_nonce), Payload { msg: h.wrapped, aad: &aad(b"telederm-blob-dek-v1\0", blob_key) })
            .map_err(|_| OpenError::Damaged("the data key does not unwrap"))?;
        dek.as_slice().try_into().map_err(|_| OpenError::Damaged("the data key has the wrong length"))
    }

    /// Decrypts an envelope stored under `blob_key`.
    pub fn open(&self, blob_key: &str, stored: &[u8]) -> Result<Vec<u8>, OpenError> {
        let h = parse(stored)?;
        let dek = self.unwrap_dek(blob_key, &h)?;
        let (nonce, ct) = h.body.split_at(NONCE);
        Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&dek))
            .decrypt(Nonce::from_slice(nonce), Payload { msg: ct, aad: &aad(b"telederm-blob-v1\0", blob_key) })
            .map_err(|_| OpenError::Damaged("the ciphertext does not authenticate"))
    }

    /// The id of the KEK an envelope is wrapped under.
    pub fn key_id_of(stored: &[u8]) -> Result<String, OpenError> {
        parse(stored).map(|h| h.key_id.to_string())
    }

    /// The envelope with its data key re-wrapped under the current KEK (the ciphertext is kept),
    /// or `None` when it already is.
    pub fn rewrap(&self, blob_key: &str, stored: &[u8]) -> Result<Option<Vec<u8>>, OpenError> {
        let h = parse(stored)?;
        if h.key_id == self.current.id {
            return Ok(None);
        }
        let dek = self.unwrap_dek(blob_key, &h)?;
        let (wrap_nonce, wrapped) = wrap(&self.current, blob_key, &dek);
        let mut out = header(&self.current, &wrap_nonce, &wrapped);
        out.extend_from_slice(h.body);
        Ok(Some(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn seal_open_rewrap() {
        let old = Keyring::new(Kek::generate());
        let sealed = old.seal(KEY, b"\xFF\xD8\xFFphoto bytes");
        assert!(is_envelope(&sealed));
        assert!(!sealed.windows(11).any(|w| w == b"photo bytes"));
        assert_eq!(old.open(KEY, &sealed).unwrap(), b"\xFF\xD8\xFFphoto bytes");
        // Bound to its place: the same envelope under another key does not open.
        assert!(matches!(old.open(&KEY.replace('0', "1"), &sealed), Err(OpenError::Damaged(_))));
        // Another KEK is named, not guessed at.
        let other = Keyring::new(Kek::generate());
        assert_eq!(other.open(KEY, &sealed), Err(OpenError::UnknownKey { key_id: old.current.id().to_string() }));
        // Rotation: the new keyring with the old one as previous re-wraps; afterwards only the new key is needed.
        let rotating = Keyring { current: other.current.clone(), previous: Some(old.current.clone()) };
        let rewrapped = rotating.rewrap(KEY, &sealed).unwrap().unwrap();
        assert_eq!(rotating.rewrap(KEY, &rewrapped).unwrap(), None);
        assert_eq!(other.open(KEY, &rewrapped).unwrap(), b"\xFF\xD8\xFFphoto bytes");
        // Any flipped byte is caught.
        for i in [0, 7, 30, rewrapped.len() - 1] {
            let mut bad = rewrapped.clone();
            bad[i] ^= 1;
            assert!(other.open(KEY, &bad).is_err(), "byte {i}");
        }
        assert_eq!(other.open(KEY, b"\x89PNG plain"), Err(OpenError::NotEncrypted));
    }

    #[test]
    fn keys_parse_from_base64_and_refuse_other_lengths() {
        let k = Kek::generate();
        assert_eq!(Kek::from_base64(&format!(" {}\n", k.to_base64())).unwrap().id(), k.id());
        assert_eq!(Kek::from_base64("c2hvcnQ=").unwrap_err(), KeyError::WrongLength(5));
        assert!(matches!(Kek::from_base64("not base64!"), Err(KeyError::NotBase64(_))));
        assert!(!format!("{k:?}").contains(&k.to_base64()));
    }
}
