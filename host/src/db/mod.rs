//! The host's durable state: one sled database per data directory.
//!
//! Trees are named by what they hold and whose it is, so that an agent's
//! state can be listed, exported and deleted by prefix:
//! `kv/<agent>/<skill>` holds a skill's key/value namespace in an agent,
//! `grants/<agent>` the grants a person made by answering prompts,
//! `audit/<agent>` the agent's audit log, `history/<agent>` its
//! conversations and `usage/<agent>` what it spent on inference.

pub mod audit;
pub mod grants;
pub mod history;
mod kv;
pub mod usage;

use std::path::Path;

pub use kv::{KvError, Namespace, Quota};

/// The sled database of one data directory.
#[derive(Clone)]
pub struct Db {
    sled: sled::Db,
}

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("cannot open the database at {path}: {error}")]
    Open { path: String, error: sled::Error },
    #[error("database error: {0}")]
    Sled(#[from] sled::Error),
}

impl Db {
    /// Open (or create) the database at `path`.
    pub fn open(path: &Path) -> Result<Db, DbError> {
        let sled = sled::Config::new()
            .path(path)
            .open()
            .map_err(|error| DbError::Open {
                path: path.display().to_string(),
                error,
            })?;
        Ok(Db { sled })
    }

    /// The key/value namespace of `skill` in `owner` (an agent). Names are
    /// validated by the caller: neither can contain `/`.
    pub fn namespace(&self, owner: &str, skill: &str, quota: Quota) -> Result<Namespace, DbError> {
        let tree = self.sled.open_tree(format!("kv/{owner}/{skill}"))?;
        Ok(Namespace::new(self.sled.clone(), tree, quota))
    }

    /// A number never returned before by this database.
    pub fn generate_id(&self) -> Result<u64, DbError> {
        Ok(self.sled.generate_id()?)
    }

    /// Write everything to disk.
    pub async fn flush(&self) -> Result<(), DbError> {
        self.sled.flush_async().await?;
        Ok(())
    }
}
