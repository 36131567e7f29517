//! The host's durable state: one sled database per data directory.
//!
//! Trees are named by what they hold and whose it is, so that an agent's
//! state can be listed, exported and deleted by prefix:
//! `kv/<agent>/<skill>` holds a skill's key/value namespace in an agent,
//! `grants/<agent>` the grants a person made by answering prompts,
//! `audit/<agent>` the agent's audit log, `history/<agent>` its
//! conversations and `usage/<agent>` what it spent on inference;
//! `kv/local:<agent>/<skill>` is memory from `skill run`. [`agent`]
//! exports, imports and deletes them whole.

pub mod agent;
pub mod audit;
pub mod grants;
pub mod history;
mod kv;
pub mod usage;

use std::path::Path;

pub(crate) use kv::{KvError, Namespace, Quota};

/// The sled database of one data directory.
#[derive(Clone)]
pub struct Db {
    sled: sled::Db,
    disk: std::sync::Arc<Disk>,
    audit: std::sync::Arc<audit::AuditLog>,
}

/// One flush at a time, and none during sled's exclusive operations
/// (transactions, batches): sled 0.34 deadlocks when flushes fill its
/// I/O thread pool, or when a transaction waits for its lock while a flush
/// is in flight. Flushes commit as a group: a caller whose write an
/// earlier flush already covered does not flush again.
#[derive(Default)]
struct Disk {
    /// The last ticket a finished flush covered.
    flushed: tokio::sync::Mutex<u64>,
    /// Taken by each caller of `flush`, after its writes.
    tickets: std::sync::atomic::AtomicU64,
}

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("cannot open the database at {path}: {error}")]
    Open { path: String, error: sled::Error },
    /// Another process holds the database: a server, or another command.
    #[error(
        "the database at {0} is in use by another skillbox process: a command still \
         running, or a server (commands that can, go through its admin socket; this one \
         cannot); wait for it to end, or stop it"
    )]
    InUse(String),
    #[error("database error: {0}")]
    Sled(#[from] sled::Error),
    #[error("{0}")]
    Audit(String),
}

impl Db {
    /// Open (or create) the database of the data directory `data_dir`.
    pub fn in_data_dir(data_dir: &Path) -> Result<Db, DbError> {
        Db::open(&data_dir.join("db"))
    }

    /// Open (or create) the database at `path`.
    pub fn open(path: &Path) -> Result<Db, DbError> {
        let sled = sled::Config::new()
            .path(path)
            .open()
            .map_err(|error| match &error {
                // sled says so only in words.
                sled::Error::Io(io) if io.to_string().contains("could not acquire lock") => {
                    DbError::InUse(path.display().to_string())
                }
                _ => DbError::Open {
                    path: path.display().to_string(),
                    error,
                },
            })?;
        let disk = std::sync::Arc::new(Disk::default());
        let audit = audit::AuditLog::start(sled.clone(), disk.clone());
        Ok(Db {
            sled,
            disk,
            audit: std::sync::Arc::new(audit),
        })
    }

    /// The key/value namespace of `skill` in `owner` (an agent). Names are
    /// validated by the caller: neither can contain `/`.
    pub fn namespace(&self, owner: &str, skill: &str, quota: Quota) -> Result<Namespace, DbError> {
        let tree = self.sled.open_tree(format!("kv/{owner}/{skill}"))?;
        Ok(Namespace::new(self.clone(), tree, quota))
    }

    /// A number never returned before by this database.
    pub fn generate_id(&self) -> Result<u64, DbError> {
        Ok(self.sled.generate_id()?)
    }

    /// A tally of the calls `agent` makes to `tools` (skill, tool) as its
    /// configuration allows: on the audit log within a few milliseconds.
    pub(crate) fn tally<'a>(
        &self,
        agent: &crate::vocab::AgentId,
        tools: impl IntoIterator<Item = (&'a std::sync::Arc<str>, &'a str)>,
    ) -> std::sync::Arc<audit::Tally> {
        self.audit.tally(agent, tools)
    }

    /// Whether the audit log is being written; if not, why. Nothing may be
    /// allowed that would go unrecorded.
    pub fn audit_healthy(&self) -> Result<(), DbError> {
        self.audit.healthy().map_err(DbError::Audit)
    }

    /// Write everything to disk, the audit entries queued so far included.
    pub async fn flush(&self) -> Result<(), DbError> {
        use std::sync::atomic::Ordering::SeqCst;
        self.audit.settle().await.map_err(DbError::Audit)?;
        let ticket = self.disk.tickets.fetch_add(1, SeqCst) + 1;
        let mut flushed = self.disk.flushed.lock().await;
        if *flushed >= ticket {
            return Ok(());
        }
        // Every ticket up to here was taken after its writes: this flush
        // covers them all.
        let covers = self.disk.tickets.load(SeqCst);
        self.sled.flush_async().await?;
        *flushed = covers;
        Ok(())
    }

    /// Run `operation`, which takes sled's exclusive lock (a transaction or
    /// a batch), while no flush is in flight.
    async fn exclusive<T>(&self, operation: impl FnOnce() -> T) -> T {
        let _alone = self.disk.flushed.lock().await;
        operation()
    }
}
