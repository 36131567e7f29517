//! Each agent's audit log: every consent decision, every denial and every
//! use of a grant, in order. Nothing removes entries but deleting the agent.

use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::{Db, DbError};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    #[serde(with = "humantime_serde")]
    pub time: SystemTime,
    pub agent: String,
    pub skill: String,
    pub tool: String,
    /// The capability class, e.g. `network GET https://api.github.com`.
    pub capability: String,
    /// `allowed` or `denied`.
    pub decision: String,
    /// Why: the answer, the grant used, the mode, the rule that refused.
    pub reason: String,
    /// The channel that carried a person's answer, if one did.
    pub channel: Option<String>,
    /// The grant made or used, if any.
    pub grant: Option<String>,
}

fn tree(db: &Db, agent: &str) -> Result<sled::Tree, DbError> {
    Ok(db.sled.open_tree(format!("audit/{agent}"))?)
}

/// Append `entry` to its agent's log.
pub fn append(db: &Db, entry: &AuditEntry) -> Result<(), DbError> {
    // Keys sort by time, then by a host-wide counter for equal times.
    let nanos = entry
        .time
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let mut key = nanos.to_be_bytes().to_vec();
    key.extend_from_slice(&db.sled.generate_id()?.to_be_bytes());
    let value = serde_json::to_vec(entry).expect("an audit entry serializes");
    tree(db, &entry.agent)?.insert(key, value)?;
    Ok(())
}

/// The log of `agent`, oldest first, from `since` on.
pub fn read(db: &Db, agent: &str, since: Option<SystemTime>) -> Result<Vec<AuditEntry>, DbError> {
    let start = since
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos() as u64);
    let mut entries = Vec::new();
    for item in tree(db, agent)?.range(start.to_be_bytes().to_vec()..) {
        let (_, value) = item?;
        match serde_json::from_slice(&value) {
            Ok(entry) => entries.push(entry),
            Err(e) => tracing::warn!(agent, "unreadable audit entry skipped: {e}"),
        }
    }
    Ok(entries)
}
