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
use crate::config::Manifest;

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
pub fn lookalikes<'a>(listings: &'a [Listing], listing: &Listing) -> Vec<&'a Listing> {
    listings
        .iter()
        .filter(|other| {
            other.name != listing.name
                && other.key_id != listing.key_id
                && strsim::levenshtein(&other.name, &listing.name) <= 2
        })
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
pub fn read_manifest(package: &Package) -> anyhow::Result<Manifest> {
    let dir = tempfile::tempdir()?;
    std::fs::write(dir.path().join(MANIFEST_FILE), &package.manifest)?;
    std::fs::write(dir.path().join(&package.component_name), &package.component)?;
    Manifest::load(dir.path()).map_err(|e| anyhow::anyhow!("{e}"))
}

/// The `[capabilities]` table of a manifest, as JSON.
fn capabilities(package: &Package) -> anyhow::Result<serde_json::Value> {
    let table: toml::Table = toml::from_str(std::str::from_utf8(&package.manifest)?)?;
    let capabilities = table
        .get("capabilities")
        .cloned()
        .unwrap_or(toml::Value::Table(toml::Table::new()));
    Ok(serde_json::to_value(capabilities)?)
}

/// Add the package file `bytes` to the registry directory `dir`, signed
/// with `key`. Re-publishing a version is refused.
pub fn publish(dir: &Path, bytes: &[u8], key: &KeyPair) -> anyhow::Result<Release> {
    let package = Package::unpack(bytes)?;
    let manifest = read_manifest(&package)?;
    let name = manifest.name.clone();
    std::fs::create_dir_all(dir.join("index"))?;
    std::fs::create_dir_all(dir.join("packages"))?;
    let index_path = dir.join("index").join(format!("{name}.json"));
    let mut index: Index = match std::fs::read(&index_path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map_err(|e| anyhow::anyhow!("{}: {e}", index_path.display()))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Index {
            name: name.clone(),
            versions: Vec::new(),
        },
        Err(e) => anyhow::bail!("{}: {e}", index_path.display()),
    };
    if index.versions.iter().any(|r| r.version == manifest.version) {
        anyhow::bail!(
            "{name} {} is already published; publish a new version",
            manifest.version
        );
    }
    let release = Release {
        version: manifest.version.clone(),
        description: manifest.description.clone(),
        sha256: sha256_hex(bytes),
        key_id: key.key_id.clone(),
        publisher: key.publisher.clone(),
        signature: key.sign(&package)?,
        yanked: false,
        capabilities: capabilities(&package)?,
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
    write_replacing(&index_path, &serde_json::to_vec_pretty(&index)?)?;

    write_names(dir)?;

    let keys_path = dir.join("keys.json");
    let mut keys: Keys = match std::fs::read(&keys_path) {
        Ok(bytes) => serde_json::from_slice(&bytes)?,
        Err(_) => Keys::default(),
    };
    let public = key.public()?;
    if !keys.keys.iter().any(|k| k.key_id == public.key_id) {
        keys.keys.push(public);
        write_replacing(&keys_path, &serde_json::to_vec_pretty(&keys)?)?;
    }
    Ok(release)
}

fn write_new(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    file.write_all(bytes)?;
    Ok(())
}

/// Replace `path` whole: readers see the old file or the new one.
fn write_replacing(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let temp = tempfile::NamedTempFile::new_in(dir)?;
    std::fs::write(temp.path(), bytes)?;
    temp.persist(path)?;
    Ok(())
}

/// Mark `name` `version` yanked: kept for lockfiles, never chosen again.
pub fn yank(dir: &Path, name: &str, version: &semver::Version) -> anyhow::Result<()> {
    let index_path = dir.join("index").join(format!("{name}.json"));
    let mut index: Index = serde_json::from_slice(&std::fs::read(&index_path)?)?;
    let release = index
        .versions
        .iter_mut()
        .find(|r| r.version == *version)
        .ok_or_else(|| anyhow::anyhow!("{name} {version} is not published"))?;
    release.yanked = true;
    write_replacing(&index_path, &serde_json::to_vec_pretty(&index)?)?;
    write_names(dir)
}

/// Rewrite `names.json` from the indexes: each skill's newest version
/// that is not yanked.
fn write_names(dir: &Path) -> anyhow::Result<()> {
    let mut listings = Vec::new();
    for entry in std::fs::read_dir(dir.join("index"))? {
        let path = entry?.path();
        if path.extension().is_none_or(|x| x != "json") {
            continue;
        }
        let index: Index = serde_json::from_slice(&std::fs::read(&path)?)?;
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
    write_replacing(
        &dir.join("names.json"),
        &serde_json::to_vec_pretty(&listings)?,
    )
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
