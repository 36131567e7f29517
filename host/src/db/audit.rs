//! Each agent's audit log: every decision about what it may do, every
//! prompt and answer, every grant made, used or revoked, every install and
//! every token that reaches it, in order. Nothing removes entries but
//! deleting the agent.
//!
//! The log is a hash chain per agent: entry `n` is stored under the key
//! `n` (8 bytes, big-endian) and holds the SHA-256 of the stored bytes of
//! entry `n - 1` (`prev`); entry 0 holds the hash of the agent's genesis
//! text. The head (the last number and its hash) is kept under a key that
//! sorts after every entry, written in the same batch. [`verify`] walks
//! the chain and names the first entry that does not hold.
//!
//! One writer thread appends, in batches: it wakes every 50 ms, or at once
//! for whoever waits on it. A call allowed by configuration, the most
//! frequent decision, is counted where it happens ([`Tally`]: an atomic
//! add on the tool's counter); each pass writes one entry per tool called,
//! with the count and the time from the first call. Everything else is
//! queued as an entry.
//!
//! A write that fails marks the log unwritable, and [`AuditLog::healthy`]
//! then refuses what would go unrecorded. [`append_durably`] returns once
//! the entry is on disk: for grants, which must be on record before they
//! take effect.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, mpsc};
use std::thread::JoinHandle;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{Db, DbError, Disk};
use crate::vocab::AgentId;

/// What happened.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Event {
    /// A call or capability decided by the agent's configuration, its
    /// consent mode or fallback, or a refusal.
    #[default]
    Decision,
    /// A person was asked.
    Prompt,
    /// A person answered (or nobody did in time).
    Answer,
    /// A grant was made from an answer.
    Grant,
    /// A remembered grant decided.
    GrantUsed,
    /// A grant was revoked.
    Revoke,
    /// A skill was installed or upgraded, or a person agreed to a plan.
    Install,
    /// An installed skill was found changed and set aside.
    Quarantine,
    /// A token that reaches the agent was created.
    Token,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// The entry's number in its agent's chain, from 0.
    #[serde(default)]
    pub seq: u64,
    /// The SHA-256 (hex) of the stored previous entry.
    #[serde(default)]
    pub prev: String,
    #[serde(with = "humantime_serde")]
    pub time: SystemTime,
    pub agent: String,
    #[serde(default)]
    pub event: Event,
    pub skill: String,
    pub tool: String,
    /// The capability class, e.g. `network GET https://api.github.com`.
    pub capability: String,
    /// `allowed` or `denied`; for what is not a decision, what was done:
    /// `asked`, `revoked`, `installed`, `created`, `quarantined`.
    pub decision: String,
    /// Why: the answer, the grant used, the mode, the rule that refused.
    pub reason: String,
    /// The channel that carried a person's answer, if one did.
    pub channel: Option<String>,
    /// The grant made or used, if any.
    pub grant: Option<String>,
    /// Who decided or acted: a token's holder and id, `cli`, a channel.
    #[serde(default)]
    pub by: Option<String>,
    /// How many calls this entry records: calls allowed by configuration
    /// that follow each other, to the same tool, within one write, are one
    /// entry, from `time` to `until`.
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub count: u64,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "humantime_serde"
    )]
    pub until: Option<SystemTime>,
}

fn one() -> u64 {
    1
}

fn is_one(n: &u64) -> bool {
    *n == 1
}

impl AuditEntry {
    /// An entry about `agent`, now, with nothing else said yet.
    pub fn new(event: Event, agent: &str, decision: &str) -> AuditEntry {
        AuditEntry {
            seq: 0,
            prev: String::new(),
            time: SystemTime::now(),
            agent: agent.to_owned(),
            event,
            skill: String::new(),
            tool: String::new(),
            capability: String::new(),
            decision: decision.to_owned(),
            reason: String::new(),
            channel: None,
            grant: None,
            by: None,
            count: 1,
            until: None,
        }
    }
}

/// Key of the head: after every 8-byte entry number.
const HEAD: &[u8] = b"\xff\xff\xff\xff\xff\xff\xff\xffhead";

/// The last entry of a chain: its number and the hash of its bytes.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Head {
    seq: u64,
    hash: String,
}

/// The hash entry 0 links to: the chain of one agent cannot be passed off
/// as another's.
fn genesis(agent: &str) -> String {
    hex::encode(Sha256::digest(format!("skillbox audit\0{agent}")))
}

fn tree(sled: &sled::Db, agent: &str) -> Result<sled::Tree, sled::Error> {
    sled.open_tree(format!("audit/{agent}"))
}

/// What the writer is sent.
enum Message {
    Entry(Box<AuditEntry>),
    /// Answered once everything sent before is written.
    Settle(tokio::sync::oneshot::Sender<Result<(), String>>),
    /// The agent's chain was deleted or imported: read its head again.
    Forget(String),
}

/// Calls allowed by configuration, the most frequent decision, counted
/// where they happen: one counter per tool of a loaded agent. The writer
/// takes the counts on each pass and writes one entry per tool called,
/// with the count and the time from the first call to the pass.
pub struct Tally {
    agent: AgentId,
    /// skill → tool → calls since the last pass.
    tools: HashMap<Arc<str>, HashMap<Box<str>, Counter>>,
    board: Arc<Board>,
}

/// The tallies of the loaded agents, and what those gone left uncounted.
#[derive(Default)]
struct Board {
    live: Mutex<Vec<std::sync::Weak<Tally>>>,
    left: Mutex<Vec<AuditEntry>>,
}

impl Drop for Tally {
    fn drop(&mut self) {
        let entries = self.take(SystemTime::now());
        if !entries.is_empty() {
            let mut left = self.board.left.lock().unwrap_or_else(|e| e.into_inner());
            left.extend(entries);
        }
    }
}

#[derive(Default)]
struct Counter {
    calls: AtomicU64,
    /// When the first of them was made, in nanoseconds since the epoch.
    since: AtomicU64,
}

impl Tally {
    /// Count one call to `skill.tool`, allowed by configuration.
    pub fn count(&self, skill: &str, tool: &str) {
        let Some(counter) = self.tools.get(skill).and_then(|tools| tools.get(tool)) else {
            return;
        };
        if counter.calls.fetch_add(1, Ordering::Relaxed) == 0 {
            counter
                .since
                .store(nanos(SystemTime::now()), Ordering::Relaxed);
        }
    }

    /// Entries for the calls counted since the last pass.
    fn take(&self, now: SystemTime) -> Vec<AuditEntry> {
        let mut entries = Vec::new();
        for (skill, tools) in &self.tools {
            for (tool, counter) in tools {
                if counter.calls.load(Ordering::Relaxed) == 0 {
                    continue;
                }
                let since = counter.since.load(Ordering::Relaxed);
                let count = counter.calls.swap(0, Ordering::Relaxed);
                let time = SystemTime::UNIX_EPOCH + std::time::Duration::from_nanos(since);
                entries.push(AuditEntry {
                    time,
                    skill: skill.to_string(),
                    tool: tool.to_string(),
                    capability: format!("tool {skill}.{tool}"),
                    reason: "allowed by the agent's configuration".into(),
                    count,
                    until: (count > 1).then_some(now),
                    ..AuditEntry::new(Event::Decision, self.agent.as_str(), "allowed")
                });
            }
        }
        entries.sort_by_key(|entry| entry.time);
        entries
    }
}

fn nanos(time: SystemTime) -> u64 {
    time.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// The audit log of a database: a queue to one writer thread.
pub(crate) struct AuditLog {
    sender: RwLock<Option<mpsc::Sender<Message>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
    /// The writer, to wake when someone waits on it.
    thread: std::thread::Thread,
    /// Set when a write failed: nothing more is allowed unrecorded.
    broken: Arc<AtomicBool>,
    tallies: Tallies,
}

type Tallies = Arc<Board>;

impl AuditLog {
    pub(super) fn start(sled: sled::Db, disk: Arc<Disk>) -> AuditLog {
        let (sender, receiver) = mpsc::channel();
        let broken = Arc::new(AtomicBool::new(false));
        let tallies = Tallies::default();
        let writer = Writer {
            sled,
            disk,
            heads: HashMap::new(),
            broken: broken.clone(),
            tallies: tallies.clone(),
        };
        let writer = std::thread::Builder::new()
            .name("skillbox-audit".into())
            .spawn(move || writer.run(receiver))
            .expect("the audit writer thread starts");
        AuditLog {
            sender: RwLock::new(Some(sender)),
            thread: writer.thread().clone(),
            writer: Mutex::new(Some(writer)),
            broken,
            tallies,
        }
    }

    /// A tally for the calls `agent` makes to `tools` (skill, tool).
    pub(super) fn tally<'a>(
        &self,
        agent: &AgentId,
        tools: impl IntoIterator<Item = (&'a Arc<str>, &'a str)>,
    ) -> Arc<Tally> {
        let mut by_skill: HashMap<Arc<str>, HashMap<Box<str>, Counter>> = HashMap::new();
        for (skill, tool) in tools {
            let counters = by_skill.entry(skill.clone()).or_default();
            counters.insert(tool.into(), Counter::default());
        }
        let tally = Arc::new(Tally {
            agent: agent.clone(),
            tools: by_skill,
            board: self.tallies.clone(),
        });
        let mut live = self.tallies.live.lock().unwrap_or_else(|e| e.into_inner());
        live.retain(|t| t.strong_count() > 0);
        live.push(Arc::downgrade(&tally));
        tally
    }

    fn send(&self, message: Message) -> bool {
        let sender = self.sender.read().unwrap_or_else(|e| e.into_inner());
        sender.as_ref().is_some_and(|s| s.send(message).is_ok())
    }

    /// Whether entries are being written; if not, why.
    pub(crate) fn healthy(&self) -> Result<(), String> {
        match self.broken.load(Ordering::Relaxed) {
            false => Ok(()),
            true => Err("the audit log cannot be written (see the host's log)".into()),
        }
    }

    /// Wait until everything queued so far is written (not yet flushed).
    pub(super) async fn settle(&self) -> Result<(), String> {
        let (sender, receiver) = tokio::sync::oneshot::channel();
        if !self.send(Message::Settle(sender)) {
            return Err("the audit writer has stopped".into());
        }
        self.thread.unpark();
        receiver
            .await
            .unwrap_or_else(|_| Err("the audit writer has stopped".into()))
    }

    /// Read `agent`'s head from disk again, after what is queued.
    pub(super) fn forget(&self, agent: &str) {
        self.send(Message::Forget(agent.to_owned()));
    }

    /// Stop the writer once it has written what is queued.
    pub(super) fn stop(&self) {
        self.sender
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        self.thread.unpark();
        let writer = self.writer.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(writer) = writer
            && writer.join().is_err()
        {
            tracing::error!("the audit writer panicked");
        }
    }
}

impl Drop for AuditLog {
    fn drop(&mut self) {
        self.stop();
    }
}

struct Writer {
    sled: sled::Db,
    disk: Arc<Disk>,
    /// The head of each chain written to since start; `None` for a chain
    /// still empty.
    heads: HashMap<String, Option<Head>>,
    broken: Arc<AtomicBool>,
    tallies: Tallies,
}

/// How long the writer sleeps when nobody waits on it.
const NAP: std::time::Duration = std::time::Duration::from_millis(50);

impl Writer {
    fn run(mut self, receiver: mpsc::Receiver<Message>) {
        loop {
            let mut messages = Vec::new();
            let open = loop {
                match receiver.try_recv() {
                    Ok(message) => messages.push(message),
                    Err(mpsc::TryRecvError::Empty) => break true,
                    Err(mpsc::TryRecvError::Disconnected) => break false,
                }
            };
            self.handle(messages);
            if !open {
                return;
            }
            std::thread::park_timeout(NAP);
        }
    }

    /// Write the tallies' counts, then what `messages` hold, in order, then
    /// answer who waits.
    fn handle(&mut self, messages: Vec<Message>) {
        let mut records = self.counted();
        let mut settles = Vec::new();
        let mut written = Ok(());
        for message in messages {
            match message {
                Message::Entry(entry) => records.push(*entry),
                Message::Settle(reply) => settles.push(reply),
                Message::Forget(agent) => {
                    written = written.and(self.write(std::mem::take(&mut records)));
                    self.heads.remove(&agent);
                }
            }
        }
        let written = written.and(self.write(records)).map_err(|e| {
            self.broken.store(true, Ordering::Relaxed);
            tracing::error!("cannot write the audit log: {e}");
            format!("cannot write the audit log: {e}")
        });
        for reply in settles {
            let _ = reply.send(written.clone());
        }
    }

    /// Entries for the calls the tallies counted since the last pass.
    fn counted(&self) -> Vec<AuditEntry> {
        let now = SystemTime::now();
        let left =
            std::mem::take(&mut *self.tallies.left.lock().unwrap_or_else(|e| e.into_inner()));
        let live: Vec<Arc<Tally>> = {
            let live = self.tallies.live.lock().unwrap_or_else(|e| e.into_inner());
            live.iter().filter_map(std::sync::Weak::upgrade).collect()
        };
        // A tally dropped here leaves its counts on the board, for next time.
        left.into_iter()
            .chain(live.iter().flat_map(|tally| tally.take(now)))
            .collect()
    }

    /// Append `entries` to their chains: one batch per agent.
    fn write(&mut self, entries: Vec<AuditEntry>) -> Result<(), sled::Error> {
        let mut by_agent: HashMap<String, Vec<AuditEntry>> = HashMap::new();
        for entry in entries {
            match by_agent.get_mut(&entry.agent) {
                Some(list) => list.push(entry),
                None => {
                    by_agent.insert(entry.agent.clone(), vec![entry]);
                }
            }
        }
        for (agent, entries) in by_agent {
            let tree = tree(&self.sled, &agent)?;
            let mut head = match self.heads.get(&agent) {
                Some(head) => head.clone(),
                None => self.load_head(&agent, &tree)?,
            };
            let mut batch = sled::Batch::default();
            for mut entry in entries {
                (entry.seq, entry.prev) = match &head {
                    None => (0, genesis(&agent)),
                    Some(Head { seq, hash }) => (seq + 1, hash.clone()),
                };
                head = Some(link(&mut batch, &entry));
            }
            batch.insert(HEAD, serde_json::to_vec(&head).expect("a head serializes"));
            {
                // sled 0.34: no batch while a flush is in flight.
                let _alone = self.disk.flushed.blocking_lock();
                tree.apply_batch(batch)?;
            }
            self.heads.insert(agent, head);
        }
        Ok(())
    }

    /// The head of `agent`'s chain: its last entry; `None` for an empty
    /// chain. Entries written before chaining (keyed by time, with no head
    /// key) are chained first, in their order.
    fn load_head(&self, agent: &str, tree: &sled::Tree) -> Result<Option<Head>, sled::Error> {
        if tree.get(HEAD)?.is_none() && !tree.is_empty() {
            return self.chain_legacy(agent, tree);
        }
        let Some((key, value)) = tree.range(..HEAD).next_back().transpose()? else {
            return Ok(None);
        };
        let seq = <[u8; 8]>::try_from(key.as_ref()).map_or(0, u64::from_be_bytes);
        Ok(Some(Head {
            seq,
            hash: hex::encode(Sha256::digest(&value)),
        }))
    }

    fn chain_legacy(&self, agent: &str, tree: &sled::Tree) -> Result<Option<Head>, sled::Error> {
        let legacy: Vec<_> = tree.iter().collect::<Result<_, _>>()?;
        let mut batch = sled::Batch::default();
        let mut head: Option<Head> = None;
        for (key, value) in legacy {
            batch.remove(key);
            let Ok(mut entry) = serde_json::from_slice::<AuditEntry>(&value) else {
                tracing::warn!(agent, "unreadable audit entry dropped while chaining");
                continue;
            };
            (entry.seq, entry.prev) = match &head {
                None => (0, genesis(agent)),
                Some(Head { seq, hash }) => (seq + 1, hash.clone()),
            };
            head = Some(link(&mut batch, &entry));
        }
        batch.insert(HEAD, serde_json::to_vec(&head).expect("a head serializes"));
        let _alone = self.disk.flushed.blocking_lock();
        tree.apply_batch(batch)?;
        Ok(head)
    }
}

/// Put `entry`, numbered and linked, in `batch`; its head.
fn link(batch: &mut sled::Batch, entry: &AuditEntry) -> Head {
    let bytes = serde_json::to_vec(entry).expect("an audit entry serializes");
    let hash = hex::encode(Sha256::digest(&bytes));
    batch.insert(&entry.seq.to_be_bytes(), bytes);
    Head {
        seq: entry.seq,
        hash,
    }
}

/// Append `entry` to its agent's log: queued, written soon, in order.
pub fn append(db: &Db, entry: AuditEntry) {
    if !db.audit.send(Message::Entry(Box::new(entry))) {
        tracing::error!("the audit writer has stopped; an entry is lost");
    }
}

/// Append `entry` and return once it is on disk.
pub async fn append_durably(db: &Db, entry: AuditEntry) -> Result<(), DbError> {
    append(db, entry);
    db.flush().await
}

/// The log of `agent`, oldest first, from `since` on.
pub async fn read(
    db: &Db,
    agent: &str,
    since: Option<SystemTime>,
) -> Result<Vec<AuditEntry>, DbError> {
    db.audit.settle().await.map_err(DbError::Audit)?;
    let mut entries = Vec::new();
    for item in tree(&db.sled, agent)?.iter() {
        let (key, value) = item?;
        if key.len() != 8 {
            continue;
        }
        match serde_json::from_slice::<AuditEntry>(&value) {
            Ok(entry) if since.is_none_or(|since| entry.time >= since) => entries.push(entry),
            Ok(_) => {}
            Err(e) => tracing::warn!(agent, "unreadable audit entry skipped: {e}"),
        }
    }
    Ok(entries)
}

/// What walking a chain found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "chain", rename_all = "kebab-case")]
pub enum Chain {
    /// Every link holds: `entries` entries, the last hashing to `head`.
    Intact { entries: u64, head: String },
    /// Entry `at` is the first that does not hold, for the reason `why`.
    Broken { at: u64, why: String },
}

/// Walk `agent`'s chain from its start and report the first broken link.
pub async fn verify(db: &Db, agent: &str) -> Result<Chain, DbError> {
    db.audit.settle().await.map_err(DbError::Audit)?;
    let tree = tree(&db.sled, agent)?;
    let mut hash = genesis(agent);
    let mut next = 0u64;
    let broken = |at, why: String| Ok(Chain::Broken { at, why });
    for item in tree.iter() {
        let (key, value) = item?;
        if key == HEAD {
            continue;
        }
        let Ok(number) = <[u8; 8]>::try_from(key.as_ref()) else {
            return broken(
                next,
                "a key that is not an entry number is in the log".into(),
            );
        };
        let seq = u64::from_be_bytes(number);
        if seq != next {
            return broken(next, format!("entry {next} is missing (the next is {seq})"));
        }
        let Ok(entry) = serde_json::from_slice::<AuditEntry>(&value) else {
            return broken(seq, "it is not an audit entry".into());
        };
        if entry.seq != seq {
            return broken(seq, format!("it says it is entry {}", entry.seq));
        }
        if entry.agent != agent {
            return broken(seq, format!("it is about agent '{}'", entry.agent));
        }
        if entry.prev != hash {
            return match seq {
                0 => broken(0, "it does not start this agent's chain".into()),
                _ => broken(
                    seq - 1,
                    format!("it was changed: entry {seq} holds a different hash for it"),
                ),
            };
        }
        hash = hex::encode(Sha256::digest(&value));
        next += 1;
    }
    let head: Option<Head> = match tree.get(HEAD)? {
        Some(bytes) => match serde_json::from_slice(&bytes) {
            Ok(head) => head,
            Err(_) => return broken(next, "the head of the log is unreadable".into()),
        },
        None => None,
    };
    let last = next.checked_sub(1);
    match head {
        None if last.is_none() => Ok(Chain::Intact {
            entries: 0,
            head: hash,
        }),
        Some(head) if Some(head.seq) == last && head.hash == hash => Ok(Chain::Intact {
            entries: next,
            head: hash,
        }),
        Some(head) if Some(head.seq) != last => broken(
            head.seq.min(next),
            format!(
                "the head says the log ends at entry {}, but it holds {next} entries",
                head.seq
            ),
        ),
        Some(_) => broken(
            next - 1,
            "it was changed: the head holds a different hash for it".into(),
        ),
        None => broken(next - 1, "the log has lost its head".into()),
    }
}
