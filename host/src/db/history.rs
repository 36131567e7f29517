//! Conversations: the messages of each turn of each agent, in order.

use super::{Db, DbError};
use crate::vocab::{Message, ParseError, Role};

/// Keys are `<conversation>` NUL `<number>`: the numbers come from the
/// database's counter, so they grow across turns, processes and restarts.
fn tree(db: &Db, agent: &str) -> Result<sled::Tree, DbError> {
    Ok(db.sled.open_tree(format!("history/{agent}"))?)
}

fn prefix(conversation: &str) -> Vec<u8> {
    let mut prefix = conversation.as_bytes().to_vec();
    prefix.push(0);
    prefix
}

/// A conversation name: 1 to 128 of `A-Z a-z 0-9 . _ -`.
pub fn check_name(conversation: &str) -> Result<(), ParseError> {
    let ok = (1..=128).contains(&conversation.len())
        && conversation
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(ParseError::new(
            conversation,
            "a conversation name",
            "use 1 to 128 letters, digits, '.', '_' or '-'",
        ))
    }
}

/// The last messages of `conversation`, at most `limit`, starting at a
/// user message so that no tool result is cut from its call.
pub fn recent(
    db: &Db,
    agent: &str,
    conversation: &str,
    limit: usize,
) -> Result<Vec<Message>, DbError> {
    let mut messages = Vec::new();
    for entry in tree(db, agent)?.scan_prefix(prefix(conversation)).rev() {
        if messages.len() == limit {
            break;
        }
        let (_, value) = entry?;
        match serde_json::from_slice::<Message>(&value) {
            Ok(message) => messages.push(message),
            Err(e) => tracing::warn!(agent, conversation, "unreadable message skipped: {e}"),
        }
    }
    messages.reverse();
    let start = messages
        .iter()
        .position(|m| m.role == Role::User)
        .unwrap_or(messages.len());
    Ok(messages.split_off(start))
}

/// Append `messages` to `conversation` and make them durable.
pub async fn append(
    db: &Db,
    agent: &str,
    conversation: &str,
    messages: &[Message],
) -> Result<(), DbError> {
    let tree = tree(db, agent)?;
    let mut batch = sled::Batch::default();
    for message in messages {
        let mut key = prefix(conversation);
        key.extend_from_slice(&db.sled.generate_id()?.to_be_bytes());
        batch.insert(
            key,
            serde_json::to_vec(message).expect("a message serializes"),
        );
    }
    db.exclusive(|| tree.apply_batch(batch)).await?;
    db.flush().await
}

/// The conversations of `agent` and their message counts.
pub fn conversations(db: &Db, agent: &str) -> Result<Vec<(String, usize)>, DbError> {
    let mut all: Vec<(String, usize)> = Vec::new();
    for entry in tree(db, agent)?.iter() {
        let (key, _) = entry?;
        let name = key.split(|&b| b == 0).next().unwrap_or_default();
        let name = String::from_utf8_lossy(name);
        match all.last_mut() {
            Some((last, count)) if *last == name => *count += 1,
            _ => all.push((name.into_owned(), 1)),
        }
    }
    Ok(all)
}
