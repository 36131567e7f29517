//! The content-addressed store of installed skills: `<data dir>/store/
//! <sha256 of the package>/` holds its `skill.toml`, component and README,
//! written whole or not at all. Before a host loads an installed skill it
//! checks the files against the lockfile's signature; a skill that fails is
//! moved to `<data dir>/quarantine/`, recorded in the agent's audit log,
//! and never run.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::lock::{Locked, store_dir};
use super::package::{MANIFEST_FILE, Package, README_FILE};
use super::{MarketError, signing, trusted_keys};
use crate::config::RegistryConfig;
use crate::db::Db;
use crate::db::audit::{self, AuditEntry, Event};

/// Put `package` (whose file hashes to `sha256`) in the store; its
/// directory. Written beside and renamed into place: no partial skill is
/// ever in the store.
pub fn add(data_dir: &Path, sha256: &str, package: &Package) -> Result<PathBuf, MarketError> {
    let dir = store_dir(data_dir, sha256);
    if dir.join(MANIFEST_FILE).exists() {
        return Ok(dir);
    }
    let store = data_dir.join("store");
    let write = || -> std::io::Result<()> {
        std::fs::create_dir_all(&store)?;
        let staging = tempfile::Builder::new()
            .prefix(".staging-")
            .tempdir_in(&store)?;
        for (name, bytes) in [
            (MANIFEST_FILE, &package.manifest),
            (package.component_name.as_str(), &package.component),
            (README_FILE, &package.readme),
        ] {
            std::fs::write(staging.path().join(name), bytes)?;
        }
        std::fs::rename(staging.keep(), &dir)
    };
    write().map_err(MarketError::io(&store))?;
    Ok(dir)
}

/// An installed skill whose files fail their check: it is never run.
#[derive(Debug, thiserror::Error)]
#[error("installed skill '{name}' {version} failed its check ({why}); {whereabouts}")]
pub struct Tampered {
    pub name: String,
    pub version: semver::Version,
    pub why: String,
    /// Where its files are now.
    pub whereabouts: String,
}

/// Check the installed skill `locked` against its signature, with the keys
/// `registries` trust for its registry. A skill that fails is quarantined
/// (in `data_dir`) and recorded in the audit log.
pub fn verify(
    data_dir: &Path,
    registries: &BTreeMap<String, RegistryConfig>,
    db: &Db,
    locked: &Locked,
) -> Result<(), Tampered> {
    let dir = store_dir(data_dir, &locked.sha256);
    let checked = (|| -> Result<(), String> {
        let package = Package::from_dir(&dir).map_err(|e| e.to_string())?;
        let keys = trusted_keys(registries, &locked.registry);
        signing::verify(&package, &locked.key_id, &locked.signature, &keys)
            .map_err(|e| e.to_string())
    })();
    let Err(why) = checked else {
        return Ok(());
    };
    let whereabouts = if dir.exists() {
        quarantine(data_dir, &dir, &locked.sha256)
            .map(|to| format!("moved to {}", to.display()))
            .unwrap_or_else(|e| format!("could not be moved aside: {e}"))
    } else {
        "not in the store: run `skillbox skill sync`".to_owned()
    };
    let tampered = Tampered {
        name: locked.name.clone(),
        version: locked.version.clone(),
        why,
        whereabouts,
    };
    let reason = tampered.to_string();
    let entry = AuditEntry {
        skill: locked.name.clone(),
        capability: "load installed skill".into(),
        reason: reason.clone(),
        ..AuditEntry::new(Event::Quarantine, locked.agent.as_str(), "quarantined")
    };
    audit::append(db, entry);
    tracing::error!(agent = %locked.agent, skill = %locked.name, "{reason}");
    Err(tampered)
}

fn quarantine(data_dir: &Path, dir: &Path, sha256: &str) -> std::io::Result<PathBuf> {
    let quarantine = data_dir.join("quarantine");
    std::fs::create_dir_all(&quarantine)?;
    let stamp = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let to = quarantine.join(format!("{sha256}-{stamp}"));
    std::fs::rename(dir, &to)?;
    Ok(to)
}
