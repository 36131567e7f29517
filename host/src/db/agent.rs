//! One agent's data, whole: its memory (every skill's namespace, from the
//! server and from `skill run`), its history, grants, usage and audit.
//! Exported as JSON Lines, imported into a database that holds nothing of
//! the agent, deleted to the last byte.
//!
//! The export is exact: each record is a stored key and value, as text
//! where they are UTF-8 and in base64 where not, so that what is imported
//! is byte for byte what was exported (the audit's hash chain included).
//!
//! ```text
//! {"skillbox_agent_export":1,"agent":"ops","exported_at":"2026-12-02T12:00:00Z"}
//! {"tree":"grants","key":"g17","value":"{\"id\":\"g17\",...}"}
//! {"tree":"audit","key_b64":"AAAAAAAAAAA=","value":"{\"seq\":0,...}"}
//! {"tree":"kv/notes","key":"kfavourite","value":"\"green\""}
//! ```

use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::time::SystemTime;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};

use super::{Db, DbError};

/// The version of the export format.
const FORMAT: u32 = 1;

/// The kinds of tree that belong to one agent, named `<kind>/<agent>`.
const KINDS: [&str; 4] = ["grants", "audit", "history", "usage"];

#[derive(Debug, thiserror::Error)]
pub enum AgentDataError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("cannot write the export: {0}")]
    Write(std::io::Error),
    #[error("line {line} of the export: {message}")]
    Malformed { line: usize, message: String },
    #[error("the export is of agent '{found}', not '{expected}'")]
    OtherAgent { expected: String, found: String },
    #[error(
        "agent '{agent}' already holds {records} records here: an import goes only where \
         the agent has nothing (skillbox agent delete {agent} first)"
    )]
    NotEmpty { agent: String, records: u64 },
}

/// The first line of an export.
#[derive(Serialize, Deserialize)]
struct Header {
    skillbox_agent_export: u32,
    agent: String,
    #[serde(with = "humantime_serde")]
    exported_at: SystemTime,
}

/// One stored record: the tree (named relative to the agent), the key and
/// the value, each as text or in base64.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Record {
    tree: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    key_b64: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    value: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    value_b64: Option<String>,
}

/// Bytes as text, or else in base64.
fn encode(bytes: &[u8]) -> (Option<String>, Option<String>) {
    match std::str::from_utf8(bytes) {
        Ok(text) => (Some(text.to_owned()), None),
        Err(_) => (None, Some(B64.encode(bytes))),
    }
}

fn decode(text: Option<String>, b64: Option<String>, what: &str) -> Result<Vec<u8>, String> {
    match (text, b64) {
        (Some(text), None) => Ok(text.into_bytes()),
        (None, Some(b64)) => B64.decode(b64).map_err(|e| format!("{what}_b64: {e}")),
        _ => Err(format!("a record has one of {what} and {what}_b64")),
    }
}

/// The name of tree `name` relative to `agent`, if it is one of the
/// agent's: `grants`, `audit`, `history`, `usage`, `kv/<skill>` (memory)
/// or `local/<skill>` (memory of `skill run`).
fn relative(name: &str, agent: &str) -> Option<String> {
    if let Some(kind) = KINDS.iter().find(|kind| name == format!("{kind}/{agent}")) {
        return Some((*kind).to_owned());
    }
    let skill_of = |prefix: String| {
        name.strip_prefix(&prefix)
            .filter(|skill| !skill.is_empty() && !skill.contains('/'))
            .map(str::to_owned)
    };
    if let Some(skill) = skill_of(format!("kv/{agent}/")) {
        return Some(format!("kv/{skill}"));
    }
    skill_of(format!("kv/local:{agent}/")).map(|skill| format!("local/{skill}"))
}

/// The stored name of the agent's tree `relative`, if it names one.
fn absolute(relative: &str, agent: &str) -> Option<String> {
    let name = match relative.split_once('/') {
        None if KINDS.contains(&relative) => format!("{relative}/{agent}"),
        Some(("kv", skill)) => format!("kv/{agent}/{skill}"),
        Some(("local", skill)) => format!("kv/local:{agent}/{skill}"),
        _ => return None,
    };
    // The way back must lead here: no '/' smuggled into a skill's name.
    (self::relative(&name, agent).as_deref() == Some(relative)).then_some(name)
}

/// The agent's trees, by their relative names, in their order.
fn trees(db: &Db, agent: &str) -> Result<Vec<(String, sled::Tree)>, DbError> {
    let mut trees = Vec::new();
    for name in db.sled.tree_names() {
        let Some(relative) = std::str::from_utf8(&name)
            .ok()
            .and_then(|n| relative(n, agent))
        else {
            continue;
        };
        trees.push((relative, db.sled.open_tree(&name)?));
    }
    // In the same order in every export.
    trees.sort_by(|(a, _), (b, _)| a.cmp(b));
    Ok(trees)
}

/// How many records the database holds of `agent`.
pub async fn records(db: &Db, agent: &str) -> Result<u64, DbError> {
    db.audit.settle().await.map_err(DbError::Audit)?;
    Ok(trees(db, agent)?
        .iter()
        .map(|(_, tree)| tree.len() as u64)
        .sum())
}

/// Write everything the database holds of `agent` to `out`, as JSON
/// Lines; the number of records.
pub async fn export(db: &Db, agent: &str, out: &mut impl Write) -> Result<u64, AgentDataError> {
    db.audit.settle().await.map_err(DbError::Audit)?;
    let header = Header {
        skillbox_agent_export: FORMAT,
        agent: agent.to_owned(),
        exported_at: SystemTime::now(),
    };
    write_line(out, &header)?;
    let mut count = 0;
    for (tree_name, tree) in trees(db, agent)? {
        for item in tree.iter() {
            let (key, value) = item.map_err(DbError::from)?;
            let ((key, key_b64), (value, value_b64)) = (encode(&key), encode(&value));
            let record = Record {
                tree: tree_name.clone(),
                key,
                key_b64,
                value,
                value_b64,
            };
            write_line(out, &record)?;
            count += 1;
        }
    }
    out.flush().map_err(AgentDataError::Write)?;
    Ok(count)
}

fn write_line(out: &mut impl Write, line: &impl Serialize) -> Result<(), AgentDataError> {
    let json = serde_json::to_string(line).expect("an export line serializes");
    writeln!(out, "{json}").map_err(AgentDataError::Write)
}

/// Read an export of `agent` from `input` into the database, which must
/// hold nothing of the agent; durable when this returns. Every line is
/// checked before anything is written. The number of records.
pub async fn import(db: &Db, agent: &str, input: impl BufRead) -> Result<u64, AgentDataError> {
    let mut lines = input.lines().enumerate();
    let malformed = |line: usize, message: String| AgentDataError::Malformed {
        line: line + 1,
        message,
    };
    let (_, first) = lines
        .next()
        .ok_or_else(|| malformed(0, "the export is empty".into()))?;
    let first = first.map_err(|e| malformed(0, e.to_string()))?;
    let header: Header = serde_json::from_str(&first)
        .map_err(|e| malformed(0, format!("not the header of an agent export: {e}")))?;
    if header.skillbox_agent_export != FORMAT {
        let version = header.skillbox_agent_export;
        return Err(malformed(
            0,
            format!("format {version}; this host reads {FORMAT}"),
        ));
    }
    if header.agent != agent {
        return Err(AgentDataError::OtherAgent {
            expected: agent.to_owned(),
            found: header.agent,
        });
    }
    let mut batches: BTreeMap<String, sled::Batch> = BTreeMap::new();
    let mut count = 0;
    for (n, line) in lines {
        let line = line.map_err(|e| malformed(n, e.to_string()))?;
        if line.trim().is_empty() {
            continue;
        }
        let record: Record =
            serde_json::from_str(&line).map_err(|e| malformed(n, e.to_string()))?;
        let tree = absolute(&record.tree, agent)
            .ok_or_else(|| malformed(n, format!("'{}' is not a tree of an agent", record.tree)))?;
        let key = decode(record.key, record.key_b64, "key").map_err(|e| malformed(n, e))?;
        let value = decode(record.value, record.value_b64, "value").map_err(|e| malformed(n, e))?;
        batches.entry(tree).or_default().insert(key, value);
        count += 1;
    }
    let records = records(db, agent).await?;
    if records > 0 {
        return Err(AgentDataError::NotEmpty {
            agent: agent.to_owned(),
            records,
        });
    }
    for (name, batch) in batches {
        let tree = db.sled.open_tree(name).map_err(DbError::from)?;
        db.exclusive(|| tree.apply_batch(batch))
            .await
            .map_err(DbError::from)?;
    }
    db.audit.forget(agent);
    db.flush().await?;
    Ok(count)
}

/// Remove everything the database holds of `agent`; durable when this
/// returns. The number of records removed.
pub async fn delete(db: &Db, agent: &str) -> Result<u64, DbError> {
    db.audit.settle().await.map_err(DbError::Audit)?;
    let mut removed = 0;
    for (_, tree) in trees(db, agent)? {
        removed += tree.len() as u64;
        let name = tree.name();
        drop(tree);
        db.exclusive(|| db.sled.drop_tree(&name)).await?;
    }
    db.audit.forget(agent);
    db.flush().await?;
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tree_names_map_both_ways_and_only_for_the_agent() {
        for (stored, relative) in [
            ("grants/ops", "grants"),
            ("audit/ops", "audit"),
            ("kv/ops/notes", "kv/notes"),
            ("kv/local:ops/notes", "local/notes"),
        ] {
            assert_eq!(super::relative(stored, "ops").as_deref(), Some(relative));
            assert_eq!(absolute(relative, "ops").as_deref(), Some(stored));
        }
        for other in [
            "grants/ops2",
            "kv/ops2/notes",
            "kv/opsx/a",
            "audit/op",
            "kv/ops/a/b",
        ] {
            assert_eq!(super::relative(other, "ops"), None, "{other}");
        }
        for hostile in [
            "kv/a/b",
            "kv/",
            "grants/x",
            "secrets",
            "../grants",
            "local/",
        ] {
            assert_eq!(absolute(hostile, "ops"), None, "{hostile}");
        }
    }
}
