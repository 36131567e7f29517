//! `skillbox.lock`, beside `skillbox.toml`: what was installed from a
//! registry, for which agent, exactly. A skill installed from a registry is
//! named in its agent's file as `installed = "<version>"`; the lockfile
//! says which package that is (its SHA-256, the registry, the key that
//! signed it and the signature), and a host checks the installed files
//! against it every time it loads the skill.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub const LOCK_FILE: &str = "skillbox.lock";

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lockfile {
    #[serde(default, rename = "skill")]
    pub skills: Vec<Locked>,
}

/// One installed skill of one agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Locked {
    pub agent: String,
    pub name: String,
    pub version: semver::Version,
    /// SHA-256 of the package file; also names its place in the store.
    pub sha256: String,
    /// The registry's base URL.
    pub registry: String,
    pub key_id: String,
    /// Ed25519 over the manifest and component, base64.
    pub signature: String,
}

impl Lockfile {
    pub fn path(config_dir: &Path) -> PathBuf {
        config_dir.join(LOCK_FILE)
    }

    /// The lockfile of `config_dir`; empty if there is none.
    pub fn read(config_dir: &Path) -> Result<Lockfile, String> {
        let path = Lockfile::path(config_dir);
        match std::fs::read_to_string(&path) {
            Ok(text) => toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Lockfile::default()),
            Err(e) => Err(format!("{}: {e}", path.display())),
        }
    }

    /// Replace the lockfile whole.
    pub fn write(&self, config_dir: &Path) -> anyhow::Result<()> {
        let path = Lockfile::path(config_dir);
        let mut text = String::from(
            "# Written by `skillbox skill install`; every skill installed from a registry.\n",
        );
        text.push_str(&toml::to_string_pretty(self)?);
        let temp = tempfile::NamedTempFile::new_in(config_dir)?;
        std::fs::write(temp.path(), text)?;
        temp.persist(&path)?;
        Ok(())
    }

    pub fn get(&self, agent: &str, name: &str) -> Option<&Locked> {
        self.skills
            .iter()
            .find(|l| l.agent == agent && l.name == name)
    }

    /// Record `locked`, replacing what was recorded for its agent and name.
    pub fn set(&mut self, locked: Locked) {
        self.remove(&locked.agent, &locked.name);
        self.skills.push(locked);
        self.skills
            .sort_by(|a, b| (&a.agent, &a.name).cmp(&(&b.agent, &b.name)));
    }

    pub fn remove(&mut self, agent: &str, name: &str) -> Option<Locked> {
        let at = self
            .skills
            .iter()
            .position(|l| l.agent == agent && l.name == name)?;
        Some(self.skills.remove(at))
    }
}

/// Where the store keeps the package `sha256` unpacked.
pub fn store_dir(data_dir: &Path, sha256: &str) -> PathBuf {
    data_dir.join("store").join(sha256)
}
