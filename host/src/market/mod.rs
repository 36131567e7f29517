//! The skill marketplace: signed packages ([`package`], [`signing`]) in
//! static registries ([`registry`], served by [`serve`]), read through the
//! egress layer ([`client`]), and what a host does with them: installing,
//! upgrading, syncing and removing as plans a person reads before they are
//! committed ([`install`]), the lockfile ([`lock`]), and the store whose
//! files are checked every time a skill loads ([`store`]).

pub mod client;
mod edit;
pub mod install;
pub mod lock;
pub mod package;
pub mod registry;
pub mod serve;
pub mod signing;
pub mod store;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::config::{ConfigError, PublicKey, RegistryConfig};

pub use lock::{SkillLocation, locate};
pub use store::verify;

/// What went wrong in the marketplace, named by file, registry, skill and
/// version.
#[derive(Debug, thiserror::Error)]
pub enum MarketError {
    #[error("{}: {error}", path.display())]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    /// A file of a registry, the lockfile or a key pair that does not parse.
    #[error("{}: {message}", path.display())]
    Malformed { path: PathBuf, message: String },
    /// An operator's file (an agent's, `skillbox.toml`) that an install
    /// cannot edit.
    #[error("{}: {message}", path.display())]
    AgentFile { path: PathBuf, message: String },
    #[error(transparent)]
    Package(#[from] package::PackageError),
    #[error("cannot write the audit log: {0}")]
    Audit(#[from] crate::db::DbError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("{url}: {why}")]
    Registry { url: String, why: String },
    #[error("'{name}' {version}: {error}")]
    Unpack {
        name: String,
        version: semver::Version,
        error: package::PackageError,
    },
    #[error(transparent)]
    Key(#[from] signing::SignatureError),
    #[error("'{name}' {version}: {error}")]
    Signature {
        name: String,
        version: semver::Version,
        error: signing::SignatureError,
    },
    #[error("'{0}' is not a skill name")]
    BadName(String),
    #[error("'{text}' is not a version requirement: {why}")]
    BadRequirement { text: String, why: String },
    #[error("no version of '{name}' matches {requirement} (yanked versions are never chosen)")]
    NoMatch {
        name: String,
        requirement: semver::VersionReq,
    },
    #[error("the registry no longer has '{name}' {version} with sha256 {sha256}")]
    Withdrawn {
        name: String,
        version: semver::Version,
        sha256: String,
    },
    #[error("'{name}' {version}: the package's sha256 is {actual}, the index says {expected}")]
    HashMismatch {
        name: String,
        version: semver::Version,
        actual: String,
        expected: String,
    },
    #[error(transparent)]
    UntrustedKey(Box<UntrustedKey>),
    #[error(
        "the index of '{name}' in {registry} is signed by key {key_id} (publisher {publisher} \
         by the registry's word), which this host does not trust for it; check the publisher, \
         then pass --trust-new-key to pin it (only a key that signed the release too is pinned)"
    )]
    UntrustedIndex {
        name: String,
        key_id: String,
        /// The name the registry's `keys.json` gives, unverified.
        publisher: String,
        registry: String,
    },
    #[error("the index of '{name}' in {registry}: {error}")]
    BadIndex {
        name: String,
        registry: String,
        error: registry::VerifyError,
    },
    /// An index past its expiry: the registry may be frozen, or a copy
    /// served in place of the current one.
    #[error(
        "the index of '{name}' in {registry} expired at {expires}; refused, since an index \
         nobody re-signs may hide newer versions and yanks (its publisher re-signs it with \
         `skillbox registry refresh {name}`)"
    )]
    IndexExpired {
        name: String,
        registry: String,
        expires: String,
    },
    /// An index older than one the host installed from: a rollback.
    #[error(
        "the index of '{name}' in {registry} is version {version}, older than version {seen} \
         that this host installed from (skillbox.lock); refused, since an older index may \
         bring back yanked versions"
    )]
    IndexRolledBack {
        name: String,
        registry: String,
        version: u64,
        seen: u64,
    },
    #[error(transparent)]
    Downgrade(Box<Downgrade>),
    #[error("the registry lists no key {0}")]
    UnknownKey(String),
    #[error("the package of '{name}' {version} holds '{holds}'")]
    WrongPackage {
        name: String,
        version: semver::Version,
        holds: String,
    },
    #[error("'{name}' {version} is already published; publish a new version")]
    AlreadyPublished {
        name: String,
        version: semver::Version,
    },
    #[error("{name} {version} is not published")]
    NotPublished {
        name: String,
        version: semver::Version,
    },
    #[error("{} is not a registry: it has no index/", .0.display())]
    NotARegistry(PathBuf),
    #[error("agent '{agent}' already has a skill '{name}' from a directory ({}); remove it first", file.display())]
    FromDirectory {
        agent: String,
        name: String,
        file: PathBuf,
    },
    #[error("agent '{agent}' has no skill '{name}' installed from a registry")]
    NotInstalled { agent: String, name: String },
    #[error("{0}; run `skillbox skill sync` first")]
    NotSynced(ConfigError),
    #[error(
        "not installed: {0} (run in a terminal to be asked, or pass --yes after reading the above)"
    )]
    NotAgreed(String),
    #[error("no randomness for a key: {0}")]
    Randomness(String),
}

/// A package signed by a key the host does not trust for its registry.
#[derive(Debug, thiserror::Error)]
#[error(
    "'{name}' {version} is signed by key {key_id} (publisher {publisher} by the registry's \
     word), which this host does not trust for {registry}; check the publisher, then pass \
     --trust-new-key to pin it"
)]
pub struct UntrustedKey {
    pub name: String,
    pub version: semver::Version,
    pub key_id: String,
    /// The name the registry gives, unverified.
    pub publisher: String,
    pub registry: String,
}

/// A version older than the one installed, which the person did not allow.
#[derive(Debug, thiserror::Error)]
#[error(
    "agent '{agent}' has '{name}' {installed} installed, and the newest version that matches \
     in {registry} is the older {offered}; refused as a downgrade (pass --allow-downgrade to \
     review it)"
)]
pub struct Downgrade {
    pub agent: String,
    pub name: String,
    pub installed: semver::Version,
    pub offered: semver::Version,
    pub registry: String,
}

impl MarketError {
    /// An I/O error about `path`.
    fn io(path: &Path) -> impl FnOnce(std::io::Error) -> MarketError + '_ {
        move |error| MarketError::Io {
            path: path.to_owned(),
            error,
        }
    }

    /// A file at `path` that does not parse.
    fn malformed(path: &Path, message: impl ToString) -> MarketError {
        MarketError::Malformed {
            path: path.to_owned(),
            message: message.to_string(),
        }
    }
}

/// The publisher keys trusted for the registry at `url`, among
/// `registries` (a host's `[registries]`).
pub fn trusted_keys(registries: &BTreeMap<String, RegistryConfig>, url: &str) -> Vec<PublicKey> {
    registries
        .values()
        .filter(|r| same_registry(r.url.as_str(), url))
        .flat_map(|r| r.keys.iter().cloned())
        .collect()
}

fn same_registry(a: &str, b: &str) -> bool {
    a.trim_end_matches('/') == b.trim_end_matches('/')
}

/// Replace the file at `path` whole: written beside it and renamed into
/// place, so that a reader sees the old file or the new one, never half.
fn replace_file(path: &Path, bytes: &[u8]) -> Result<(), MarketError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let write = || -> std::io::Result<()> {
        let temp = tempfile::NamedTempFile::new_in(dir)?;
        std::fs::write(temp.path(), bytes)?;
        temp.persist(path).map_err(|e| e.error)?;
        Ok(())
    };
    write().map_err(MarketError::io(path))
}
