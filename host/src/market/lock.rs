//! `skillbox.lock`, beside `skillbox.toml`: what was installed from a
//! registry, for which agent, exactly. A skill installed from a registry is
//! named in its agent's file as `installed = "<version>"`; the lockfile
//! says which package that is (its SHA-256, the registry, the key that
//! signed it and the signature), and a host checks the installed files
//! against it every time it loads the skill. It also records the version
//! of the registry's index each skill came from: the floor below which an
//! index of that skill is refused as rolled back.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::MarketError;
use crate::config::{AgentConfig, ConfigError, HostConfig, SkillSource};
use crate::vocab::AgentId;

pub const LOCK_FILE: &str = "skillbox.lock";

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lockfile {
    #[serde(default, rename = "skill")]
    pub skills: Vec<Locked>,
}

/// One installed skill of one agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Locked {
    pub agent: AgentId,
    pub name: String,
    pub version: semver::Version,
    /// SHA-256 of the package file; also names its place in the store.
    pub sha256: String,
    /// The registry's base URL.
    pub registry: String,
    pub key_id: String,
    /// Ed25519 over the manifest and component, base64.
    pub signature: String,
    /// The version of the registry's signed index it was installed from:
    /// an index of this skill from this registry older than the newest
    /// recorded is refused as a rollback.
    #[serde(default)]
    pub index_version: u64,
}

impl Lockfile {
    pub fn path(config_dir: &Path) -> PathBuf {
        config_dir.join(LOCK_FILE)
    }

    /// The lockfile of `config_dir`; empty if there is none.
    pub fn read(config_dir: &Path) -> Result<Lockfile, MarketError> {
        let path = Lockfile::path(config_dir);
        match std::fs::read_to_string(&path) {
            Ok(text) => toml::from_str(&text).map_err(|e| MarketError::malformed(&path, e)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Lockfile::default()),
            Err(error) => Err(MarketError::io(&path)(error)),
        }
    }

    /// Replace the lockfile whole.
    pub fn write(&self, config_dir: &Path) -> Result<(), MarketError> {
        let path = Lockfile::path(config_dir);
        let mut text = String::from(
            "# Written by `skillbox skill install`; every skill installed from a registry.\n",
        );
        text.push_str(&toml::to_string_pretty(self).expect("a lockfile serializes"));
        super::replace_file(&path, text.as_bytes())
    }

    pub fn get(&self, agent: &str, name: &str) -> Option<&Locked> {
        self.skills
            .iter()
            .find(|l| l.agent.as_str() == agent && l.name == name)
    }

    /// Record `locked`, replacing what was recorded for its agent and name.
    pub fn set(&mut self, locked: Locked) {
        self.remove(locked.agent.as_str(), &locked.name);
        self.skills.push(locked);
        self.skills
            .sort_by(|a, b| (&a.agent, &a.name).cmp(&(&b.agent, &b.name)));
    }

    /// The newest version of the index of skill `name` in the registry at
    /// `registry` that any agent's install recorded; 0 for none.
    pub fn index_seen(&self, registry: &str, name: &str) -> u64 {
        self.skills
            .iter()
            .filter(|l| l.name == name && super::same_registry(&l.registry, registry))
            .map(|l| l.index_version)
            .max()
            .unwrap_or(0)
    }

    pub fn remove(&mut self, agent: &str, name: &str) -> Option<Locked> {
        let at = self
            .skills
            .iter()
            .position(|l| l.agent.as_str() == agent && l.name == name)?;
        Some(self.skills.remove(at))
    }
}

/// Where a skill of an agent is.
#[derive(Debug, Clone)]
pub struct SkillLocation {
    /// The skill's directory: in the store, for an installed skill.
    pub dir: PathBuf,
    /// What the lockfile records of an installed skill; its files are
    /// checked against it before the skill is loaded.
    pub installed: Option<Locked>,
}

/// Where each skill of `agent` is, by name. A skill installed from a
/// registry must be in the lockfile at the version the agent's file names.
pub fn locate(
    host: &HostConfig,
    agent: &AgentConfig,
) -> Result<BTreeMap<String, SkillLocation>, ConfigError> {
    let mut lock = None;
    let mut located = BTreeMap::new();
    for (name, entry) in &agent.skills {
        let location = match &entry.source {
            SkillSource::Dir(dir) => SkillLocation {
                dir: dir.clone(),
                installed: None,
            },
            SkillSource::Installed(version) => {
                let error = |message: String| ConfigError {
                    file: agent.file.clone(),
                    line: Some(entry.line),
                    field: format!("skills.{name}.installed"),
                    message,
                };
                let lock = match &lock {
                    Some(lock) => lock,
                    None => {
                        lock.insert(Lockfile::read(&host.dir).map_err(|e| error(e.to_string()))?)
                    }
                };
                let locked = lock
                    .installed(&host.dir, agent.id.as_str(), name, version)
                    .map_err(error)?;
                SkillLocation {
                    dir: store_dir(&host.data_dir, &locked.sha256),
                    installed: Some(locked.clone()),
                }
            }
        };
        located.insert(name.clone(), location);
    }
    Ok(located)
}

impl Locked {
    /// The address of the registry it came from.
    pub fn registry_url(&self) -> Result<url::Url, MarketError> {
        self.registry.parse().map_err(|e| MarketError::Registry {
            url: self.registry.clone(),
            why: format!("{e}"),
        })
    }
}

impl Lockfile {
    /// The record of skill `name`, installed at `version` for `agent`.
    fn installed(
        &self,
        config_dir: &Path,
        agent: &str,
        name: &str,
        version: &semver::Version,
    ) -> Result<&Locked, String> {
        let path = Lockfile::path(config_dir);
        let locked = self.get(agent, name).ok_or_else(|| {
            format!(
                "{} has no entry for skill '{name}' of agent '{agent}': install it with `skillbox skill install`",
                path.display()
            )
        })?;
        if locked.version != *version {
            return Err(format!(
                "installed {version}, but {} records {}",
                path.display(),
                locked.version
            ));
        }
        Ok(locked)
    }
}

/// Where the store keeps the package `sha256` unpacked.
pub fn store_dir(data_dir: &Path, sha256: &str) -> PathBuf {
    data_dir.join("store").join(sha256)
}
