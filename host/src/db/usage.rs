//! What each agent spent on inference: requests and tokens per day, backend
//! and model, as the backends reported them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{Db, DbError};
use crate::inference::{ModelRef, Usage};

/// Requests and tokens, summed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Spent {
    pub requests: u64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
}

impl Spent {
    pub fn tokens(&self) -> u64 {
        self.prompt_tokens + self.completion_tokens
    }

    fn add(&mut self, other: &Spent) {
        self.requests += other.requests;
        self.prompt_tokens += other.prompt_tokens;
        self.completion_tokens += other.completion_tokens;
    }
}

/// Keys are `<day>/<backend>/<model>`, days as `YYYY-MM-DD` (UTC).
fn tree(db: &Db, agent: &str) -> Result<sled::Tree, DbError> {
    Ok(db.sled.open_tree(format!("usage/{agent}"))?)
}

/// Count one answered request of `agent` to `model` on `day`.
pub fn record(
    db: &Db,
    agent: &str,
    day: &str,
    model: &ModelRef,
    usage: Usage,
) -> Result<(), DbError> {
    let key = format!("{day}/{model}");
    tree(db, agent)?.fetch_and_update(key.as_bytes(), |old| {
        let mut spent: Spent = old
            .and_then(|raw| serde_json::from_slice(raw).ok())
            .unwrap_or_default();
        spent.add(&Spent {
            requests: 1,
            prompt_tokens: usage.prompt_tokens,
            completion_tokens: usage.completion_tokens,
        });
        Some(serde_json::to_vec(&spent).expect("usage serializes"))
    })?;
    Ok(())
}

/// What `agent` spent on `day`, over all models.
pub fn on_day(db: &Db, agent: &str, day: &str) -> Result<Spent, DbError> {
    let mut total = Spent::default();
    for entry in tree(db, agent)?.scan_prefix(format!("{day}/").as_bytes()) {
        let (_, value) = entry?;
        if let Ok(spent) = serde_json::from_slice::<Spent>(&value) {
            total.add(&spent);
        }
    }
    Ok(total)
}

/// What `agent` spent, per day and model: `(day, model) → spent`.
pub fn list(db: &Db, agent: &str) -> Result<BTreeMap<(String, String), Spent>, DbError> {
    let mut all = BTreeMap::new();
    for entry in tree(db, agent)?.iter() {
        let (key, value) = entry?;
        let key = String::from_utf8_lossy(&key);
        let (Some((day, model)), Ok(spent)) =
            (key.split_once('/'), serde_json::from_slice::<Spent>(&value))
        else {
            tracing::warn!(agent, "unreadable usage record skipped");
            continue;
        };
        all.insert((day.to_owned(), model.to_owned()), spent);
    }
    Ok(all)
}

/// Today (UTC), as `YYYY-MM-DD`.
pub fn today() -> String {
    let now = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    now[..10].to_owned()
}
