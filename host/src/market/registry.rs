//! A registry: static files any web server can serve (docs/registry.md).
//!
//! ```text
//! keys.json                      the publishers' public keys
//! index/<name>.json              a skill's versions
//! packages/<name>-<version>.skill
//! ```
//!
//! An index entry records what a user must see before installing (the
//! publisher, the tools, every capability requested) and what the package
//! must match (its SHA-256 and the signature of its manifest and component).

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::package::{MANIFEST_FILE, Package, sha256_hex};
use super::signing::{KeyPair, PublicKey};
use super::{MarketError, replace_file};
use crate::config::Manifest;
use crate::vocab::is_skill_name;

/// `index/<name>.json`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Index {
    pub name: String,
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
/// with `key`. Re-publishing a version is refused.
pub fn publish(dir: &Path, bytes: &[u8], key: &KeyPair) -> Result<Release, MarketError> {
    let package = Package::unpack(bytes)?;
    let manifest = read_manifest(&package)?;
    let name = manifest.name.clone();
    for sub in ["index", "packages"] {
        let path = dir.join(sub);
        std::fs::create_dir_all(&path).map_err(MarketError::io(&path))?;
    }
    let index_path = dir.join("index").join(format!("{name}.json"));
    let mut index: Index = match std::fs::read(&index_path) {
        Ok(bytes) => read_json(&index_path, &bytes)?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Index {
            name: name.clone(),
            versions: Vec::new(),
        },
        Err(error) => return Err(MarketError::io(&index_path)(error)),
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
    replace_file(&index_path, &to_json(&index))?;
    write_names(dir)?;
    add_key(dir, key.public()?)?;
    Ok(release)
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

/// Mark `name` `version` yanked: kept for lockfiles, never chosen again.
pub fn yank(dir: &Path, name: &str, version: &semver::Version) -> Result<(), MarketError> {
    let index_path = dir.join("index").join(format!("{name}.json"));
    let bytes = std::fs::read(&index_path).map_err(MarketError::io(&index_path))?;
    let mut index: Index = read_json(&index_path, &bytes)?;
    let release = index
        .versions
        .iter_mut()
        .find(|r| r.version == *version)
        .ok_or_else(|| MarketError::NotPublished {
            name: name.to_owned(),
            version: version.clone(),
        })?;
    release.yanked = true;
    replace_file(&index_path, &to_json(&index))?;
    write_names(dir)
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
        let bytes = std::fs::read(&path).map_err(MarketError::io(&path))?;
        let index: Index = read_json(&path, &bytes)?;
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
