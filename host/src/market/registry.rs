//! A registry: static files any web server can serve (docs/registry.md).
//!
//! ```text
//! keys.json                      the publishers' public keys
//! names.json                     every skill's newest version, for search
//! index/<name>.json              a skill's versions, signed
//! packages/<name>-<version>.skill
//! ```
//!
//! An index entry records what a user must see before installing (the
//! publisher, the tools, every capability requested) and what the package
//! must match (its SHA-256 and the signature of its manifest and component).
//! The index itself is signed, numbered and dated, so that a host can tell
//! an old copy from the current one: see [`SignedIndex`].

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use super::package::{MANIFEST_FILE, Package, sha256_hex};
use super::signing::{self, KeyPair, PublicKey, SignatureError};
use super::{MarketError, replace_file};
use crate::config::Manifest;
use crate::vocab::is_skill_name;

/// How long a signed index is good for: 30 days. A host refuses an index
/// past its expiry, so a registry that stops changing (frozen, or a
/// mirror serving an old copy) is noticed within this time; its publisher
/// re-signs it before then, with `skillbox registry refresh`, even when
/// nothing was published.
pub const INDEX_LIFETIME: Duration = Duration::from_secs(30 * 24 * 60 * 60);

/// `index/<name>.json` as stored: the [`Index`] and the signature of the
/// key that last published, yanked or refreshed it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SignedIndex {
    /// The index, as JSON: the signature covers it as received.
    pub signed: serde_json::Value,
    pub key_id: String,
    /// Ed25519, base64, over the canonical JSON of `signed` ([`signing`]).
    pub signature: String,
}

/// A skill's versions: the signed part of `index/<name>.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Index {
    pub name: String,
    /// The index's own version, one more at every publish, yank and
    /// refresh: a host refuses an index older than one it installed from.
    pub version: u64,
    /// When a host stops accepting it (RFC 3339, UTC).
    #[serde(with = "humantime_serde")]
    pub expires: SystemTime,
    pub versions: Vec<Release>,
}

/// One version of a skill.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Release {
    pub version: semver::Version,
    pub description: String,
    /// SHA-256 of the package file.
    pub sha256: String,
    pub key_id: String,
    pub publisher: String,
    /// Ed25519, base64, over the manifest and the component.
    pub signature: String,
    #[serde(default)]
    pub yanked: bool,
    /// `[capabilities]` of the manifest, as JSON.
    pub capabilities: serde_json::Value,
    pub tools: Vec<ToolSummary>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolSummary {
    pub name: String,
    pub description: String,
}

/// One line of `names.json`: a skill, its newest version and publisher,
/// for search.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Listing {
    pub name: String,
    pub version: semver::Version,
    pub description: String,
    pub publisher: String,
    pub key_id: String,
}

/// The skills of `listings` whose names are a letter or two from
/// `listing`'s but which another key signed: what a typosquat looks like
/// from the user's side, shown so the publisher can be told apart.
///
/// Only skill names are compared, at most 64 characters: an edit distance
/// takes time in the product of the two lengths, and a registry's
/// `names.json` may hold any text (no such skill can be installed).
pub fn lookalikes<'a>(listings: &'a [Listing], listing: &Listing) -> Vec<&'a Listing> {
    if !is_skill_name(&listing.name) {
        return Vec::new();
    }
    listings
        .iter()
        .filter(|other| {
            other.name != listing.name
                && other.key_id != listing.key_id
                && is_skill_name(&other.name)
                && strsim::levenshtein(&other.name, &listing.name) <= 2
        })
        .collect()
}

/// The skills of `listings` whose name or description holds `text`, each
/// with its look-alikes.
pub fn search<'a>(listings: &'a [Listing], text: &str) -> Vec<(&'a Listing, Vec<&'a Listing>)> {
    let needle = text.to_lowercase();
    listings
        .iter()
        .filter(|l| l.name.contains(&needle) || l.description.to_lowercase().contains(&needle))
        .map(|listing| (listing, lookalikes(listings, listing)))
        .collect()
}

/// Who published with the key `key_id`, as this host can vouch for it:
/// the name it trusts the key under, or else the name the registry gives
/// (`claimed`), marked unverified.
pub fn publisher(key_id: &str, claimed: &str, trusted: &[PublicKey]) -> String {
    match trusted.iter().find(|k| k.key_id == key_id) {
        Some(key) => key.publisher.clone(),
        None => format!("{claimed}, unverified"),
    }
}

/// `keys.json`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Keys {
    pub keys: Vec<PublicKey>,
}

impl Release {
    /// The package file's name in `packages/`.
    pub fn file_name(name: &str, version: &semver::Version) -> String {
        format!("{name}-{version}.skill")
    }
}

impl Index {
    /// The index of a skill not yet published: version 0, signed as 1.
    fn new(name: &str) -> Index {
        Index {
            name: name.to_owned(),
            version: 0,
            expires: SystemTime::UNIX_EPOCH,
            versions: Vec::new(),
        }
    }
}

impl SignedIndex {
    /// `index`, signed by `key`.
    pub fn sign(index: &Index, key: &KeyPair) -> Result<SignedIndex, SignatureError> {
        let signed = serde_json::to_value(index).expect("an index serializes");
        Ok(SignedIndex {
            signature: key.sign_index(&signed)?,
            key_id: key.key_id.clone(),
            signed,
        })
    }

    /// The index, if `key` signed it; `key` must be the key of `key_id`.
    pub fn verify(self, key: &PublicKey) -> Result<Index, VerifyError> {
        signing::verify_index(
            &self.signed,
            &self.key_id,
            &self.signature,
            std::slice::from_ref(key),
        )
        .map_err(VerifyError::Signature)?;
        serde_json::from_value(self.signed).map_err(VerifyError::Malformed)
    }

    /// The index, its signature unchecked: for the publisher's tools,
    /// which work on their own registry directory.
    fn unchecked(self) -> Result<Index, serde_json::Error> {
        serde_json::from_value(self.signed)
    }
}

/// Why a signed index is refused.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error(transparent)]
    Signature(SignatureError),
    #[error("the signed index does not parse: {0}")]
    Malformed(serde_json::Error),
}

/// The manifest of `package`, checked as any skill's would be: read from a
/// private directory, so that its relative component path resolves.
pub fn read_manifest(package: &Package) -> Result<Manifest, MarketError> {
    let temp = std::env::temp_dir();
    let dir = tempfile::tempdir().map_err(MarketError::io(&temp))?;
    for (name, bytes) in [
        (MANIFEST_FILE, &package.manifest),
        (package.component_name.as_str(), &package.component),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).map_err(MarketError::io(&path))?;
    }
    Ok(Manifest::load(dir.path())?)
}

/// The `[capabilities]` table of a manifest (already read whole by
/// [`read_manifest`]), as JSON.
fn capabilities(package: &Package) -> serde_json::Value {
    let table: toml::Table = std::str::from_utf8(&package.manifest)
        .ok()
        .and_then(|text| toml::from_str(text).ok())
        .unwrap_or_default();
    let capabilities = table
        .get("capabilities")
        .cloned()
        .unwrap_or(toml::Value::Table(toml::Table::new()));
    serde_json::to_value(capabilities).expect("TOML values convert to JSON")
}

/// Add the package file `bytes` to the registry directory `dir`, signed
/// with `key`, and sign the skill's index anew. Re-publishing a version is
/// refused.
pub fn publish(dir: &Path, bytes: &[u8], key: &KeyPair) -> Result<Release, MarketError> {
    let package = Package::unpack(bytes)?;
    let manifest = read_manifest(&package)?;
    let name = manifest.name.clone();
    for sub in ["index", "packages"] {
        let path = dir.join(sub);
        std::fs::create_dir_all(&path).map_err(MarketError::io(&path))?;
    }
    let index_path = index_path(dir, &name);
    let mut index = match index_path.exists() {
        true => read_index(&index_path)?,
        false => Index::new(&name),
    };
    if index.versions.iter().any(|r| r.version == manifest.version) {
        return Err(MarketError::AlreadyPublished {
            name,
            version: manifest.version,
        });
    }
    let release = Release {
        version: manifest.version.clone(),
        description: manifest.description.clone(),
        sha256: sha256_hex(bytes),
        key_id: key.key_id.clone(),
        publisher: key.publisher.clone(),
        signature: key.sign(&package)?,
        yanked: false,
        capabilities: capabilities(&package),
        tools: manifest
            .tools
            .iter()
            .map(|t| ToolSummary {
                name: t.name.clone(),
                description: t.description.clone(),
            })
            .collect(),
    };
    let package_path = dir
        .join("packages")
        .join(Release::file_name(&name, &manifest.version));
    write_new(&package_path, bytes)?;
    index.versions.push(release.clone());
    index.versions.sort_by(|a, b| a.version.cmp(&b.version));
    write_index(dir, index, key)?;
    Ok(release)
}

/// Sign `index` with `key` as its next version, good for
/// [`INDEX_LIFETIME`] from now, and write it, `names.json` and the key.
fn write_index(dir: &Path, mut index: Index, key: &KeyPair) -> Result<Index, MarketError> {
    index.version += 1;
    let expires = SystemTime::now() + INDEX_LIFETIME;
    let seconds = expires
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    index.expires = SystemTime::UNIX_EPOCH + Duration::from_secs(seconds);
    let signed = SignedIndex::sign(&index, key)?;
    replace_file(&index_path(dir, &index.name), &to_json(&signed))?;
    write_names(dir)?;
    add_key(dir, key.public()?)?;
    Ok(index)
}

fn index_path(dir: &Path, name: &str) -> PathBuf {
    dir.join("index").join(format!("{name}.json"))
}

/// The index of the skill `name` in the registry directory `dir`, its
/// signature unchecked.
fn read_named(dir: &Path, name: &str) -> Result<Index, MarketError> {
    if !is_skill_name(name) {
        return Err(MarketError::BadName(name.to_owned()));
    }
    read_index(&index_path(dir, name))
}

/// The index at `path`, its signature unchecked (see
/// [`SignedIndex::unchecked`]).
fn read_index(path: &Path) -> Result<Index, MarketError> {
    let bytes = std::fs::read(path).map_err(MarketError::io(path))?;
    let file: SignedIndex = read_json(path, &bytes)?;
    file.unchecked()
        .map_err(|e| MarketError::malformed(path, e))
}

/// Sign the index of `name` anew with `key`, unchanged but for its version
/// and expiry: what keeps a registry with nothing new to publish from
/// expiring. The new index.
pub fn refresh(dir: &Path, name: &str, key: &KeyPair) -> Result<Index, MarketError> {
    let index = read_named(dir, name)?;
    write_index(dir, index, key)
}

/// List `key` in the registry's `keys.json`, unless it is there.
fn add_key(dir: &Path, key: PublicKey) -> Result<(), MarketError> {
    let path = dir.join("keys.json");
    let mut keys: Keys = match std::fs::read(&path) {
        Ok(bytes) => read_json(&path, &bytes)?,
        Err(_) => Keys::default(),
    };
    if !keys.keys.iter().any(|k| k.key_id == key.key_id) {
        keys.keys.push(key);
        replace_file(&path, &to_json(&keys))?;
    }
    Ok(())
}

fn write_new(path: &Path, bytes: &[u8]) -> Result<(), MarketError> {
    use std::io::Write;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .and_then(|mut file| file.write_all(bytes))
        .map_err(MarketError::io(path))
}

/// Mark `name` `version` yanked, and sign the index anew with `key`: kept
/// for lockfiles, never chosen again.
pub fn yank(
    dir: &Path,
    name: &str,
    version: &semver::Version,
    key: &KeyPair,
) -> Result<(), MarketError> {
    let mut index = read_named(dir, name)?;
    let release = index
        .versions
        .iter_mut()
        .find(|r| r.version == *version)
        .ok_or_else(|| MarketError::NotPublished {
            name: name.to_owned(),
            version: version.clone(),
        })?;
    release.yanked = true;
    write_index(dir, index, key)?;
    Ok(())
}

/// Rewrite `names.json` from the indexes: each skill's newest version
/// that is not yanked.
fn write_names(dir: &Path) -> Result<(), MarketError> {
    let index_dir = dir.join("index");
    let mut listings = Vec::new();
    let entries = std::fs::read_dir(&index_dir).map_err(MarketError::io(&index_dir))?;
    for entry in entries {
        let path = entry.map_err(MarketError::io(&index_dir))?.path();
        if path.extension().is_none_or(|x| x != "json") {
            continue;
        }
        let index = read_index(&path)?;
        let newest = choose(&index, &semver::VersionReq::STAR);
        if let Some(release) = newest {
            listings.push(Listing {
                name: index.name.clone(),
                version: release.version.clone(),
                description: release.description.clone(),
                publisher: release.publisher.clone(),
                key_id: release.key_id.clone(),
            });
        }
    }
    listings.sort_by(|a, b| a.name.cmp(&b.name));
    replace_file(&dir.join("names.json"), &to_json(&listings))
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path, bytes: &[u8]) -> Result<T, MarketError> {
    serde_json::from_slice(bytes).map_err(|e| MarketError::malformed(path, e))
}

fn to_json(value: &impl Serialize) -> Vec<u8> {
    serde_json::to_vec_pretty(value).expect("registry files serialize")
}

/// The newest version of `index` that `requirement` accepts, never a
/// yanked one.
pub fn choose<'a>(index: &'a Index, requirement: &semver::VersionReq) -> Option<&'a Release> {
    index
        .versions
        .iter()
        .filter(|r| !r.yanked && requirement.matches(&r.version))
        .max_by(|a, b| a.version.cmp(&b.version))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listing(name: &str, key_id: &str) -> Listing {
        Listing {
            name: name.into(),
            version: semver::Version::new(0, 1, 0),
            description: "A skill".into(),
            publisher: key_id.into(),
            key_id: key_id.into(),
        }
    }

    #[test]
    fn lookalikes_are_skill_names_a_letter_or_two_apart_under_another_key() {
        let long = "a".repeat(100);
        let listings = [
            listing("text", "one"),
            listing("tezt", "two"),
            listing("texts", "one"),
            listing(&long, "one"),
            listing(&format!("{long}b"), "two"),
        ];
        let names = |found: Vec<&Listing>| -> Vec<String> {
            found.into_iter().map(|l| l.name.clone()).collect()
        };
        assert_eq!(names(lookalikes(&listings, &listings[0])), ["tezt"]);
        assert!(lookalikes(&listings, &listings[3]).is_empty());
        assert!(lookalikes(&listings, &listings[4]).is_empty());
    }
}
