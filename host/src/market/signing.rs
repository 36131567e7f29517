//! Publisher keys, and the signatures of packages and of registry indexes
//! (Ed25519).
//!
//! A package's signature covers both the manifest and the component, byte
//! for byte: it signs `skillbox-package-v1\n<sha256 of skill.toml>\n<sha256
//! of the component>\n` (hex digests). An index's signature covers its
//! signed part: `skillbox-index-v1\n` and then that part as canonical JSON
//! (keys sorted, no spaces). The two prefixes keep one kind of signature
//! from ever passing for the other. A key is named by its id, the first 16
//! hex digits of the SHA-256 of its public key.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};

use super::MarketError;
use super::package::{Package, sha256_hex};
pub use crate::config::PublicKey;

/// A key pair file, written by `skillbox skill keygen` (mode 0600).
#[derive(Serialize, Deserialize)]
pub struct KeyPair {
    pub key_id: String,
    pub publisher: String,
    /// Base64 of the 32-byte Ed25519 secret key.
    secret_key: String,
}

#[derive(Debug, thiserror::Error)]
pub enum SignatureError {
    #[error("signed by key {0}, which is not trusted")]
    UntrustedKey(String),
    #[error("the signature does not match the manifest and component")]
    Mismatch,
    #[error("the signature does not match the index")]
    IndexMismatch,
    #[error("{0}")]
    Malformed(String),
}

fn key_id(public: &VerifyingKey) -> String {
    sha256_hex(public.as_bytes())[..16].to_owned()
}

/// What a signature covers.
fn signed_bytes(manifest: &[u8], component: &[u8]) -> Vec<u8> {
    format!(
        "skillbox-package-v1\n{}\n{}\n",
        sha256_hex(manifest),
        sha256_hex(component)
    )
    .into_bytes()
}

/// What an index signature covers: the signed part of `index/<name>.json`
/// as canonical JSON. `serde_json` writes an object's keys sorted (its
/// maps are ordered) and, compact, without spaces.
fn index_bytes(signed: &serde_json::Value) -> Vec<u8> {
    let mut bytes = b"skillbox-index-v1\n".to_vec();
    serde_json::to_writer(&mut bytes, signed).expect("JSON values serialize");
    bytes
}

impl KeyPair {
    /// A new key pair for `publisher`.
    pub fn generate(publisher: &str) -> Result<KeyPair, MarketError> {
        let mut secret = [0u8; 32];
        getrandom::fill(&mut secret).map_err(|e| MarketError::Randomness(e.to_string()))?;
        let signing = SigningKey::from_bytes(&secret);
        Ok(KeyPair {
            key_id: key_id(&signing.verifying_key()),
            publisher: publisher.to_owned(),
            secret_key: BASE64.encode(secret),
        })
    }

    fn signing_key(&self) -> Result<SigningKey, SignatureError> {
        let bytes: [u8; 32] = BASE64
            .decode(&self.secret_key)
            .ok()
            .and_then(|bytes| bytes.try_into().ok())
            .ok_or_else(|| {
                SignatureError::Malformed(format!(
                    "the secret key of {} is not 32 bytes of base64",
                    self.key_id
                ))
            })?;
        Ok(SigningKey::from_bytes(&bytes))
    }

    pub fn public(&self) -> Result<PublicKey, SignatureError> {
        Ok(PublicKey {
            key_id: self.key_id.clone(),
            publisher: self.publisher.clone(),
            public_key: BASE64.encode(self.signing_key()?.verifying_key().as_bytes()),
        })
    }

    /// Write the pair to `path`, private from its first byte; refuses to
    /// replace a file.
    pub fn write(&self, path: &Path) -> Result<(), MarketError> {
        let json = serde_json::to_vec_pretty(self).expect("a key pair serializes");
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .and_then(|mut file| {
                file.write_all(&json)?;
                file.set_permissions(std::fs::Permissions::from_mode(0o600))
            })
            .map_err(MarketError::io(path))
    }

    pub fn read(path: &Path) -> Result<KeyPair, MarketError> {
        let bytes = std::fs::read(path).map_err(MarketError::io(path))?;
        serde_json::from_slice(&bytes).map_err(|e| MarketError::malformed(path, e))
    }

    /// The signature of `package`, base64.
    pub fn sign(&self, package: &Package) -> Result<String, SignatureError> {
        self.sign_bytes(&signed_bytes(&package.manifest, &package.component))
    }

    /// The signature of the signed part of an index, base64.
    pub fn sign_index(&self, signed: &serde_json::Value) -> Result<String, SignatureError> {
        self.sign_bytes(&index_bytes(signed))
    }

    fn sign_bytes(&self, bytes: &[u8]) -> Result<String, SignatureError> {
        Ok(BASE64.encode(self.signing_key()?.sign(bytes).to_bytes()))
    }
}

/// Check that `signature` (base64), by key `key_id`, covers `package`'s
/// manifest and component, with `key_id` among `trusted`.
pub fn verify(
    package: &Package,
    key_id: &str,
    signature: &str,
    trusted: &[PublicKey],
) -> Result<(), SignatureError> {
    let bytes = signed_bytes(&package.manifest, &package.component);
    verify_bytes(&bytes, key_id, signature, trusted)
}

/// Check that `signature` (base64), by key `key_id`, covers the signed
/// part of an index, as received, with `key_id` among `trusted`.
pub fn verify_index(
    signed: &serde_json::Value,
    key_id: &str,
    signature: &str,
    trusted: &[PublicKey],
) -> Result<(), SignatureError> {
    match verify_bytes(&index_bytes(signed), key_id, signature, trusted) {
        Err(SignatureError::Mismatch) => Err(SignatureError::IndexMismatch),
        checked => checked,
    }
}

fn verify_bytes(
    bytes: &[u8],
    key_id: &str,
    signature: &str,
    trusted: &[PublicKey],
) -> Result<(), SignatureError> {
    let key = trusted
        .iter()
        .find(|k| k.key_id == key_id)
        .ok_or_else(|| SignatureError::UntrustedKey(key_id.to_owned()))?;
    let public: [u8; 32] = BASE64
        .decode(&key.public_key)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| {
            SignatureError::Malformed(format!("key {key_id} is not 32 bytes of base64"))
        })?;
    let public = VerifyingKey::from_bytes(&public)
        .map_err(|e| SignatureError::Malformed(format!("key {key_id}: {e}")))?;
    // A key listed under another key's id is not that key.
    if self::key_id(&public) != key.key_id {
        return Err(SignatureError::Malformed(format!(
            "key {key_id} does not hash to its id"
        )));
    }
    let signature: [u8; 64] = BASE64
        .decode(signature)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| SignatureError::Malformed("a signature is 64 bytes of base64".into()))?;
    public
        .verify(bytes, &Signature::from_bytes(&signature))
        .map_err(|_| SignatureError::Mismatch)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn package() -> Package {
        Package {
            manifest: b"[skill]\nname = \"x\"\ncomponent = \"x.wasm\"\n".to_vec(),
            component_name: "x.wasm".into(),
            component: b"\0asm component bytes".to_vec(),
            readme: b"# x".to_vec(),
        }
    }

    #[test]
    fn a_signature_covers_manifest_and_component_by_a_trusted_key() {
        let pair = KeyPair::generate("acme").unwrap();
        let trusted = [pair.public().unwrap()];
        let package = package();
        let signature = pair.sign(&package).unwrap();
        verify(&package, &pair.key_id, &signature, &trusted).unwrap();

        let mut manifest_changed = package.clone();
        manifest_changed.manifest.push(b'\n');
        let mut component_swapped = package.clone();
        component_swapped.component[0] ^= 1;
        for changed in [manifest_changed, component_swapped] {
            assert!(matches!(
                verify(&changed, &pair.key_id, &signature, &trusted),
                Err(SignatureError::Mismatch)
            ));
        }
        // The README is not signed: it is shown, never run.
        let mut readme_changed = package.clone();
        readme_changed.readme.push(b'!');
        verify(&readme_changed, &pair.key_id, &signature, &trusted).unwrap();

        let stranger = KeyPair::generate("mallory").unwrap();
        let forged = stranger.sign(&package).unwrap();
        assert!(matches!(
            verify(&package, &stranger.key_id, &forged, &trusted),
            Err(SignatureError::UntrustedKey(_))
        ));
        // The stranger's key under the trusted id.
        assert!(matches!(
            verify(&package, &pair.key_id, &forged, &trusted),
            Err(SignatureError::Mismatch)
        ));
    }

    #[test]
    fn an_index_signature_covers_its_canonical_json() {
        let signed =
            serde_json::json!({ "name": "x", "b": [true, "é"], "a": { "z": 1, "y": null } });
        assert_eq!(
            index_bytes(&signed),
            "skillbox-index-v1\n{\"a\":{\"y\":null,\"z\":1},\"b\":[true,\"é\"],\"name\":\"x\"}"
                .as_bytes()
        );
        let pair = KeyPair::generate("acme").unwrap();
        let trusted = [pair.public().unwrap()];
        let signature = pair.sign_index(&signed).unwrap();
        verify_index(&signed, &pair.key_id, &signature, &trusted).unwrap();
        let mut changed = signed.clone();
        changed["name"] = "y".into();
        assert!(matches!(
            verify_index(&changed, &pair.key_id, &signature, &trusted),
            Err(SignatureError::IndexMismatch)
        ));
        // A package's signature never passes for an index's.
        let package = package();
        let as_package = pair.sign(&package).unwrap();
        assert!(verify_index(&signed, &pair.key_id, &as_package, &trusted).is_err());
    }
}
