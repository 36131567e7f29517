//! Grants a person made by answering prompts: per agent, durable, expiring
//! by time or by use.

use std::convert::Infallible;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use sled::transaction::{ConflictableTransactionError, TransactionError};

use super::{Db, DbError};
use crate::vocab::Capability;

/// A remembered answer: `allow` (or deny) `capability` to `skill`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    pub id: String,
    pub skill: String,
    pub capability: Capability,
    pub allow: bool,
    #[serde(with = "humantime_serde")]
    pub created_at: SystemTime,
    #[serde(default, with = "humantime_serde")]
    pub expires_at: Option<SystemTime>,
    /// Uses left; unlimited when absent.
    pub uses_left: Option<u32>,
    /// Who made it: the channel that carried the answer, "config", "cli".
    pub by: String,
}

impl Grant {
    pub fn is_expired(&self, now: SystemTime) -> bool {
        self.expires_at.is_some_and(|at| at <= now) || self.uses_left == Some(0)
    }

    /// A grant lasting `duration` from now.
    pub fn expiring_in(mut self, duration: Duration) -> Grant {
        self.expires_at = Some(self.created_at + duration);
        self
    }
}

fn tree(db: &Db, agent: &str) -> Result<sled::Tree, DbError> {
    Ok(db.sled.open_tree(format!("grants/{agent}"))?)
}

/// The grants of `agent` that have not expired, oldest first.
pub fn list(db: &Db, agent: &str) -> Result<Vec<Grant>, DbError> {
    let now = SystemTime::now();
    let mut grants = Vec::new();
    for entry in tree(db, agent)?.iter() {
        let (_, value) = entry?;
        match serde_json::from_slice::<Grant>(&value) {
            Ok(grant) if !grant.is_expired(now) => grants.push(grant),
            Ok(_) => {}
            Err(e) => tracing::warn!(agent, "unreadable grant skipped: {e}"),
        }
    }
    grants.sort_by_key(|g| g.created_at);
    Ok(grants)
}

/// Store `grant` and make it durable.
pub async fn add(db: &Db, agent: &str, grant: &Grant) -> Result<(), DbError> {
    let value = serde_json::to_vec(grant).expect("a grant serializes");
    tree(db, agent)?.insert(grant.id.as_bytes(), value)?;
    db.flush().await
}

/// Remove grant `id`; whether it existed.
pub async fn revoke(db: &Db, agent: &str, id: &str) -> Result<bool, DbError> {
    let existed = tree(db, agent)?.remove(id.as_bytes())?.is_some();
    db.flush().await?;
    Ok(existed)
}

/// Take one use of grant `id`: false if it is gone, expired or used up.
pub async fn use_once(db: &Db, agent: &str, id: &str) -> Result<bool, DbError> {
    let now = SystemTime::now();
    // (used, whether the stored grant changed)
    let tree = tree(db, agent)?;
    let (used, changed) = db
        .exclusive(|| {
            tree.transaction(|tx| {
                let Some(raw) = tx.get(id.as_bytes())? else {
                    return Ok((false, false));
                };
                let Ok(mut grant) = serde_json::from_slice::<Grant>(&raw) else {
                    return Ok((false, false));
                };
                if grant.is_expired(now) {
                    tx.remove(id.as_bytes())?;
                    return Ok((false, true));
                }
                let Some(left) = grant.uses_left.as_mut() else {
                    return Ok((true, false));
                };
                *left -= 1;
                if *left == 0 {
                    tx.remove(id.as_bytes())?;
                } else {
                    let value = serde_json::to_vec(&grant).expect("a grant serializes");
                    tx.insert(id.as_bytes(), value)?;
                }
                Ok::<_, ConflictableTransactionError<Infallible>>((true, true))
            })
        })
        .await
        .map_err(|e| match e {
            TransactionError::Storage(e) => DbError::Sled(e),
            TransactionError::Abort(never) => match never {},
        })?;
    if changed {
        db.flush().await?;
    }
    Ok(used)
}
