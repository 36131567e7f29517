//! A skill's key/value namespace, with quotas, durable on return.

use sled::transaction::{ConflictableTransactionError, TransactionError};

/// Longest key a skill may use, in bytes.
pub(super) const MAX_KEY_BYTES: usize = 512;
/// Largest value a skill may store under one key.
pub(super) const MAX_VALUE_BYTES: usize = 1 << 20;

/// The most a namespace may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    /// Bytes of keys plus values.
    pub bytes: u64,
    pub keys: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KvError {
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    LimitExceeded(String),
    #[error("storage failed: {0}")]
    Failed(String),
}

impl From<sled::Error> for KvError {
    fn from(e: sled::Error) -> Self {
        KvError::Failed(e.to_string())
    }
}

/// Stored keys are `ENTRY` + the skill's key; the usage record sits beside
/// them under `USAGE`, which no skill key can name.
const ENTRY: u8 = b'k';
const USAGE: &[u8] = b"u";

/// How much a namespace holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Usage {
    bytes: u64,
    keys: u64,
}

impl Usage {
    /// The record is always written by `encode`; anything else reads as empty.
    fn decode(raw: Option<sled::IVec>) -> Usage {
        match raw.as_deref().map(<[u8; 16]>::try_from) {
            Some(Ok(raw)) => {
                let (bytes, keys) = raw.split_at(8);
                Usage {
                    bytes: u64::from_le_bytes(bytes.try_into().unwrap_or_default()),
                    keys: u64::from_le_bytes(keys.try_into().unwrap_or_default()),
                }
            }
            _ => Usage::default(),
        }
    }

    fn encode(self) -> [u8; 16] {
        let mut out = [0; 16];
        out[..8].copy_from_slice(&self.bytes.to_le_bytes());
        out[8..].copy_from_slice(&self.keys.to_le_bytes());
        out
    }
}

/// One (agent, skill) namespace.
pub struct Namespace {
    db: super::Db,
    tree: sled::Tree,
    quota: Quota,
}

impl Namespace {
    pub(super) fn new(db: super::Db, tree: sled::Tree, quota: Quota) -> Self {
        Self { db, tree, quota }
    }

    pub fn get(&self, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        check_key(key)?;
        Ok(self.tree.get(entry_key(key))?.map(|v| v.to_vec()))
    }

    /// Store `value` under `key`; returns once the write is on disk.
    pub async fn set(&self, key: &str, value: &[u8]) -> Result<(), KvError> {
        check_key(key)?;
        if value.len() > MAX_VALUE_BYTES {
            return Err(KvError::LimitExceeded(format!(
                "value of {} bytes is over the {MAX_VALUE_BYTES}-byte limit per key",
                value.len()
            )));
        }
        let stored_key = entry_key(key);
        let quota = self.quota;
        let size = (key.len() + value.len()) as u64;
        let stored = self.db.exclusive(|| {
            self.tree.transaction(|tx| {
                let usage = Usage::decode(tx.get(USAGE)?);
                let old = tx.get(&stored_key)?;
                let (freed, old_keys) = match &old {
                    Some(v) => ((key.len() + v.len()) as u64, 1),
                    None => (0, 0),
                };
                let next = Usage {
                    bytes: usage.bytes - freed + size,
                    keys: usage.keys - old_keys + 1,
                };
                if next.bytes > quota.bytes {
                    return Err(ConflictableTransactionError::Abort(KvError::LimitExceeded(
                        format!(
                            "memory quota exceeded: {} of {} bytes in use, this write needs {size}",
                            usage.bytes, quota.bytes
                        ),
                    )));
                }
                if next.keys > quota.keys {
                    return Err(ConflictableTransactionError::Abort(KvError::LimitExceeded(
                        format!(
                            "memory quota exceeded: {} keys of {} in use",
                            usage.keys, quota.keys
                        ),
                    )));
                }
                tx.insert(stored_key.as_slice(), value)?;
                tx.insert(USAGE, &next.encode())?;
                Ok(())
            })
        });
        stored.await.map_err(transaction_error)?;
        self.db
            .flush()
            .await
            .map_err(|e| KvError::Failed(e.to_string()))?;
        Ok(())
    }

    /// Remove `key`; returns whether it existed, once the removal is on disk.
    pub async fn delete(&self, key: &str) -> Result<bool, KvError> {
        check_key(key)?;
        let stored_key = entry_key(key);
        let removed = self.db.exclusive(|| {
            self.tree.transaction(|tx| {
                let Some(old) = tx.remove(stored_key.as_slice())? else {
                    return Ok(false);
                };
                let usage = Usage::decode(tx.get(USAGE)?);
                let next = Usage {
                    bytes: usage.bytes.saturating_sub((key.len() + old.len()) as u64),
                    keys: usage.keys.saturating_sub(1),
                };
                tx.insert(USAGE, &next.encode())?;
                Ok(true)
            })
        });
        let existed = removed.await.map_err(transaction_error)?;
        if existed {
            self.db
                .flush()
                .await
                .map_err(|e| KvError::Failed(e.to_string()))?;
        }
        Ok(existed)
    }

    /// Keys starting with `prefix`, in byte order. Bounded by the key quota.
    pub fn list(&self, prefix: &str) -> Result<Vec<String>, KvError> {
        if prefix.len() > MAX_KEY_BYTES {
            return Err(KvError::Invalid(format!(
                "prefix is longer than {MAX_KEY_BYTES} bytes"
            )));
        }
        self.tree
            .scan_prefix(entry_key(prefix))
            .keys()
            .take(self.quota.keys as usize)
            .map(|k| {
                let k = k?;
                Ok(String::from_utf8_lossy(&k[1..]).into_owned())
            })
            .collect()
    }
}

fn entry_key(key: &str) -> Vec<u8> {
    let mut stored = Vec::with_capacity(key.len() + 1);
    stored.push(ENTRY);
    stored.extend_from_slice(key.as_bytes());
    stored
}

fn check_key(key: &str) -> Result<(), KvError> {
    if key.is_empty() {
        return Err(KvError::Invalid("key must not be empty".into()));
    }
    if key.len() > MAX_KEY_BYTES {
        return Err(KvError::Invalid(format!(
            "key of {} bytes is longer than {MAX_KEY_BYTES}",
            key.len()
        )));
    }
    Ok(())
}

fn transaction_error(e: TransactionError<KvError>) -> KvError {
    match e {
        TransactionError::Abort(e) => e,
        TransactionError::Storage(e) => e.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::Db;

    fn namespace(dir: &tempfile::TempDir, agent: &str, quota: Quota) -> Namespace {
        Db::open(dir.path())
            .unwrap()
            .namespace(agent, "notes", quota)
            .unwrap()
    }

    const ROOMY: Quota = Quota {
        bytes: 1 << 20,
        keys: 100,
    };

    #[tokio::test]
    async fn set_get_list_delete() {
        let dir = tempfile::tempdir().unwrap();
        let ns = namespace(&dir, "a", ROOMY);
        ns.set("todo/1", b"milk").await.unwrap();
        ns.set("todo/2", b"eggs").await.unwrap();
        ns.set("other", b"x").await.unwrap();
        assert_eq!(ns.get("todo/1").unwrap().as_deref(), Some(&b"milk"[..]));
        assert_eq!(ns.list("todo/").unwrap(), vec!["todo/1", "todo/2"]);
        assert!(ns.delete("todo/1").await.unwrap());
        assert!(!ns.delete("todo/1").await.unwrap());
        assert_eq!(ns.get("todo/1").unwrap(), None);
        assert!(matches!(ns.get(""), Err(KvError::Invalid(_))));
    }

    #[tokio::test]
    async fn quotas_count_bytes_and_keys_across_overwrites() {
        let dir = tempfile::tempdir().unwrap();
        let ns = namespace(&dir, "a", Quota { bytes: 20, keys: 2 });
        ns.set("k1", b"12345678").await.unwrap(); // 10 bytes
        ns.set("k1", b"123456789012345678").await.unwrap(); // overwrite: 20 bytes
        let err = ns.set("k2", b"1").await.unwrap_err();
        assert!(matches!(err, KvError::LimitExceeded(_)), "{err}");
        ns.set("k1", b"1").await.unwrap(); // shrink: 3 bytes
        ns.set("k2", b"1").await.unwrap();
        let err = ns.set("k3", b"1").await.unwrap_err();
        assert!(err.to_string().contains("keys"), "{err}");
        ns.delete("k2").await.unwrap();
        ns.set("k3", b"1").await.unwrap();
    }

    #[tokio::test]
    async fn namespaces_are_separate_per_agent() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path()).unwrap();
        let a = db.namespace("a", "notes", ROOMY).unwrap();
        let b = db.namespace("b", "notes", ROOMY).unwrap();
        a.set("secret", b"1").await.unwrap();
        assert_eq!(b.get("secret").unwrap(), None);
        assert!(b.list("").unwrap().is_empty());
    }
}
