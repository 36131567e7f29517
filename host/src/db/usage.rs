//! What each agent spent on inference: requests and tokens per day, backend
//! and model, as the backends reported them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{Db, DbError};

/// Requests and tokens, summed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Spent {
    pub requests: u64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
}

impl Spent {
    pub fn tokens(&self) -> u64 {
        self.prompt_tokens.saturating_add(self.completion_tokens)
    }

    /// Saturating: the counts come from backends.
    pub fn add(&mut self, other: &Spent) {
        self.requests = self.requests.saturating_add(other.requests);
        self.prompt_tokens = self.prompt_tokens.saturating_add(other.prompt_tokens);
        self.completion_tokens = self
            .completion_tokens
            .saturating_add(other.completion_tokens);
    }
}

/// Where a count goes: one agent's day, and the model that answered, or
/// none for the requests admitted that day (answered or not).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Account {
    pub agent: String,
    /// `YYYY-MM-DD`, UTC.
    pub day: String,
    /// `backend/model`.
    pub model: Option<String>,
}

/// Keys are `<day>/<backend>/<model>` for what each model answered, and
/// `<day>` for the requests admitted that day.
fn tree(db: &Db, agent: &str) -> Result<sled::Tree, DbError> {
    Ok(db.sled.open_tree(format!("usage/{agent}"))?)
}

/// Add `counts` to what is kept.
pub fn add(db: &Db, counts: &BTreeMap<Account, Spent>) -> Result<(), DbError> {
    for (account, spent) in counts {
        let key = match &account.model {
            Some(model) => format!("{}/{model}", account.day),
            None => account.day.clone(),
        };
        tree(db, &account.agent)?.fetch_and_update(key.as_bytes(), |old| {
            let mut total: Spent = old
                .and_then(|raw| serde_json::from_slice(raw).ok())
                .unwrap_or_default();
            total.add(spent);
            Some(serde_json::to_vec(&total).expect("usage serializes"))
        })?;
    }
    Ok(())
}

/// What `agent` spent on `day`: the requests admitted, and the tokens of
/// those answered, over all models.
pub fn on_day(db: &Db, agent: &str, day: &str) -> Result<Spent, DbError> {
    let tree = tree(db, agent)?;
    let mut total = Spent::default();
    for entry in tree.scan_prefix(format!("{day}/").as_bytes()) {
        let (_, value) = entry?;
        if let Ok(spent) = serde_json::from_slice::<Spent>(&value) {
            total.add(&spent);
        }
    }
    total.requests = tree
        .get(day.as_bytes())?
        .and_then(|raw| serde_json::from_slice::<Spent>(&raw).ok())
        .map_or(0, |admitted| admitted.requests);
    Ok(total)
}

/// What `agent` spent, per day and model: `(day, model) → spent`.
pub fn list(db: &Db, agent: &str) -> Result<BTreeMap<(String, String), Spent>, DbError> {
    let mut all = BTreeMap::new();
    for entry in tree(db, agent)?.iter() {
        let (key, value) = entry?;
        let key = String::from_utf8_lossy(&key);
        // Day counters (no model) are not answers.
        let Some((day, model)) = key.split_once('/') else {
            continue;
        };
        let Ok(spent) = serde_json::from_slice::<Spent>(&value) else {
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
