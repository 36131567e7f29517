//! Bearer tokens of the HTTP API, each with a role: the admin's, an
//! approver's for named agents, or one agent's. Only a token's SHA-256 is
//! kept, in `<data dir>/tokens.json` (mode 0600): the secret is shown once,
//! when it is issued.
//!
//! The file, not the database, holds them so that `skillbox token new`
//! works while `skillbox serve` runs; the server notices a changed file on
//! the next request, so a new token works and a revoked one stops at once.

use std::collections::HashMap;
use std::fmt;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::RwLock;
use std::time::{Duration, SystemTime};

use base64::Engine;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::db::audit::{self, AuditEntry, Event};
use crate::db::{Db, DbError};
use crate::vocab::{AgentId, ParseError};

pub(super) const TOKENS_FILE: &str = "tokens.json";

/// Whom a token speaks for, and so what it may do (the table is in
/// `docs/security.md`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Holder {
    /// Every endpoint, every agent.
    Admin,
    /// The people who decide for these agents: they answer their prompts,
    /// list and revoke their grants, and read their audit and usage. They
    /// do not talk to them.
    Approver(Vec<AgentId>),
    /// Whoever talks to one agent: its messages, its OpenAI-compatible
    /// face, its tools and history. Never its prompts or grants.
    Agent(AgentId),
}

impl Holder {
    /// An approver of `agents`, each named once, in order.
    pub fn approver(mut agents: Vec<AgentId>) -> Holder {
        agents.sort();
        agents.dedup();
        Holder::Approver(agents)
    }

    /// The role's name: `admin`, `approver` or `agent`.
    pub fn role(&self) -> &'static str {
        match self {
            Holder::Admin => "admin",
            Holder::Approver(_) => "approver",
            Holder::Agent(_) => "agent",
        }
    }
}

impl fmt::Display for Holder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Holder::Admin => f.write_str("admin"),
            Holder::Approver(agents) => {
                let names: Vec<&str> = agents.iter().map(AgentId::as_str).collect();
                write!(f, "approver:{}", names.join(","))
            }
            Holder::Agent(id) => write!(f, "agent:{id}"),
        }
    }
}

impl From<Holder> for String {
    fn from(holder: Holder) -> String {
        holder.to_string()
    }
}

impl TryFrom<String> for Holder {
    type Error = ParseError;

    fn try_from(text: String) -> Result<Holder, ParseError> {
        let wrong = || {
            ParseError::new(
                &text,
                "a token holder",
                "write 'admin', 'approver:<id>,<id>...' or 'agent:<id>'",
            )
        };
        match text.split_once(':') {
            None if text == "admin" => Ok(Holder::Admin),
            Some(("agent", id)) => AgentId::new(id).map(Holder::Agent),
            Some(("approver", ids)) if !ids.is_empty() => {
                let agents = ids.split(',').map(AgentId::new).collect::<Result<_, _>>()?;
                Ok(Holder::approver(agents))
            }
            _ => Err(wrong()),
        }
    }
}

/// A token as kept: never the token itself.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TokenRecord {
    /// Names the token in listings and revocations.
    pub id: String,
    pub holder: Holder,
    /// Hex SHA-256 of the token.
    pub sha256: String,
    #[serde(with = "humantime_serde")]
    pub created: SystemTime,
}

#[derive(Default, Serialize, Deserialize)]
struct TokensFile {
    tokens: Vec<TokenRecord>,
}

/// The token file of a data directory.
pub struct TokenStore {
    path: PathBuf,
}

fn sha256_hex(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

impl TokenStore {
    pub fn new(data_dir: &Path) -> TokenStore {
        TokenStore {
            path: data_dir.join(TOKENS_FILE),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn list(&self) -> Result<Vec<TokenRecord>, TokenError> {
        Ok(self.read()?.tokens)
    }

    /// Issue a token for `holder`: its record, and the token, which is not
    /// kept anywhere.
    pub fn issue(&self, holder: Holder) -> Result<(TokenRecord, String), TokenError> {
        let mut secret = [0u8; 32];
        getrandom::fill(&mut secret).map_err(|e| TokenError::Randomness(e.to_string()))?;
        let token = format!(
            "sbx_{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret)
        );
        let sha256 = sha256_hex(&token);
        let record = TokenRecord {
            id: format!("t{}", &sha256[..12]),
            holder,
            sha256,
            created: SystemTime::now(),
        };
        let mut file = self.read()?;
        file.tokens.push(record.clone());
        self.write(&file)?;
        Ok((record, token))
    }

    /// Issue a token for `holder`, on `by`'s word, and record it in the
    /// audit of every agent it reaches: its own, or for an admin token
    /// every agent in `agents` (the host's). A token that cannot be
    /// recorded is revoked at once.
    pub async fn issue_on_record(
        &self,
        db: &Db,
        holder: Holder,
        agents: &[AgentId],
        by: &str,
    ) -> Result<(TokenRecord, String), TokenError> {
        let (record, token) = self.issue(holder)?;
        let reaches = match &record.holder {
            Holder::Admin => agents,
            Holder::Approver(agents) => agents.as_slice(),
            Holder::Agent(agent) => std::slice::from_ref(agent),
        };
        for agent in reaches {
            let entry = AuditEntry {
                reason: format!("token {} for {}", record.id, record.holder),
                by: Some(by.to_owned()),
                ..AuditEntry::new(Event::Token, agent.as_str(), "created")
            };
            audit::append(db, entry);
        }
        if let Err(e) = db.flush().await {
            self.revoke(&record.id)?;
            return Err(e.into());
        }
        Ok((record, token))
    }

    /// Revoke the token `id`; false if there is none.
    pub fn revoke(&self, id: &str) -> Result<bool, TokenError> {
        let mut file = self.read()?;
        let before = file.tokens.len();
        file.tokens.retain(|t| t.id != id);
        if file.tokens.len() == before {
            return Ok(false);
        }
        self.write(&file)?;
        Ok(true)
    }

    fn read(&self) -> Result<TokensFile, TokenError> {
        match std::fs::read(&self.path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| TokenError::Malformed {
                path: self.path.clone(),
                message: e.to_string(),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(TokensFile::default()),
            Err(error) => Err(self.io(error)),
        }
    }

    fn io(&self, error: std::io::Error) -> TokenError {
        TokenError::Io {
            path: self.path.clone(),
            error,
        }
    }

    /// Replace the file whole, private from its first byte: a reader sees
    /// the old file or the new one.
    fn write(&self, file: &TokensFile) -> Result<(), TokenError> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        let write = || -> std::io::Result<()> {
            std::fs::create_dir_all(dir)?;
            let mut temp = tempfile::NamedTempFile::new_in(dir)?;
            temp.as_file()
                .set_permissions(std::fs::Permissions::from_mode(0o600))?;
            temp.write_all(&serde_json::to_vec_pretty(file).expect("tokens serialize"))?;
            temp.as_file().sync_all()?;
            temp.persist(&self.path).map_err(|e| e.error)?;
            Ok(())
        };
        write().map_err(|error| self.io(error))
    }
}

/// The token file cannot be read or written.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("{}: {error}", path.display())]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{}: {message}", path.display())]
    Malformed { path: PathBuf, message: String },
    #[error("no randomness for a token: {0}")]
    Randomness(String),
    #[error("the token was not issued, it cannot be recorded: {0}")]
    Unrecorded(#[from] DbError),
}

/// The tokens the server accepts, re-read whenever the file changes.
pub(crate) struct Tokens {
    store: TokenStore,
    known: RwLock<Known>,
}

#[derive(Default)]
struct Known {
    /// (modified, length, inode) of the file read; None if there was none.
    version: Option<(SystemTime, u64, u64)>,
    by_hash: HashMap<String, TokenRecord>,
}

impl Tokens {
    pub(crate) fn new(data_dir: &Path) -> Tokens {
        Tokens {
            store: TokenStore::new(data_dir),
            known: RwLock::new(Known::default()),
        }
    }

    /// The record of `token`, if it is one: whom it speaks for.
    pub(crate) fn record(&self, token: &str) -> Option<TokenRecord> {
        self.refresh();
        let known = self.known.read().unwrap_or_else(|e| e.into_inner());
        known.by_hash.get(&sha256_hex(token)).cloned()
    }

    fn refresh(&self) {
        let version = std::fs::metadata(self.store.path()).ok().map(|m| {
            (
                m.modified().unwrap_or(SystemTime::UNIX_EPOCH),
                m.len(),
                m.ino(),
            )
        });
        // A file changed twice within one tick of the file system's clock
        // can look unchanged: a file that recent is read again anyway.
        let settled = version.is_none_or(|(modified, ..)| {
            modified
                .elapsed()
                .is_ok_and(|age| age > Duration::from_secs(2))
        });
        if settled && self.known.read().unwrap_or_else(|e| e.into_inner()).version == version {
            return;
        }
        let by_hash = match self.store.list() {
            Ok(records) => records
                .into_iter()
                .map(|record| (record.sha256.clone(), record))
                .collect(),
            Err(e) => {
                // Refuse every token rather than keep a revoked one.
                tracing::error!("cannot read the API tokens: {e}");
                HashMap::new()
            }
        };
        *self.known.write().unwrap_or_else(|e| e.into_inner()) = Known { version, by_hash };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issued_tokens_are_kept_hashed_and_revocable() {
        let dir = tempfile::tempdir().unwrap();
        let store = TokenStore::new(dir.path());
        let tokens = Tokens::new(dir.path());
        let ops = Holder::Agent(AgentId::new("ops").unwrap());
        let (record, token) = store.issue(ops.clone()).unwrap();
        let (_, admin) = store.issue(Holder::Admin).unwrap();

        let file = std::fs::read_to_string(store.path()).unwrap();
        assert!(!file.contains(&token), "the token itself is never stored");
        let mode = std::fs::metadata(store.path())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);

        let holder = |token: &str| tokens.record(token).map(|r| r.holder);
        assert_eq!(holder(&token), Some(ops));
        assert_eq!(tokens.record(&token).unwrap().id, record.id);
        assert_eq!(holder(&admin), Some(Holder::Admin));
        assert_eq!(holder("sbx_guess"), None);

        assert!(store.revoke(&record.id).unwrap());
        assert_eq!(holder(&token), None, "revocation applies at once");
        assert!(!store.revoke(&record.id).unwrap());
    }

    #[test]
    fn holders_read_as_written_and_old_records_stay_agents() {
        let id = |s: &str| AgentId::new(s).unwrap();
        for (text, holder) in [
            ("admin", Holder::Admin),
            ("agent:ops", Holder::Agent(id("ops"))),
            (
                "approver:support,ops,ops",
                Holder::approver(vec![id("ops"), id("support")]),
            ),
        ] {
            assert_eq!(Holder::try_from(text.to_owned()).unwrap(), holder);
        }
        assert_eq!(
            Holder::approver(vec![id("b"), id("a")]).to_string(),
            "approver:a,b"
        );
        for wrong in ["approver:", "approver", "root", "agent:", "approver:ops,"] {
            assert!(Holder::try_from(wrong.to_owned()).is_err(), "{wrong}");
        }
        let old =
            r#"{"id":"t1","holder":"agent:ops","sha256":"00","created":"2026-01-02T03:04:05Z"}"#;
        let record: TokenRecord = serde_json::from_str(old).unwrap();
        assert_eq!(record.holder, Holder::Agent(id("ops")));
    }
}
