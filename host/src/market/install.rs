//! Installing from a registry: fetch and verify a release, say in plain
//! words what it may do, and once a person agreed, put it in the store and
//! write it into the agent's configuration and the lockfile.
//!
//! Every check comes before anything is written: a package that fails one
//! leaves no trace but the error.

use std::path::Path;

use super::client::RegistryClient;
use super::lock::{Locked, Lockfile};
use super::package::{Package, sha256_hex};
use super::registry::{self, Release};
use super::signing::{self, PublicKey};
use super::{replace_file, store};
use crate::config::{HOST_FILE, Manifest};
use crate::vocab::Access;

/// A release, downloaded and checked.
pub struct Fetched {
    pub name: String,
    pub release: Release,
    pub package: Package,
    pub manifest: Manifest,
    /// The key that signed it, and whether the host trusted it already.
    pub key: PublicKey,
    pub key_is_new: bool,
}

/// Which release to fetch.
pub enum Wanted<'a> {
    /// The newest that is not yanked and matches.
    Matching(&'a semver::VersionReq),
    /// Exactly this one (yanked or not), as a lockfile records it.
    Locked(&'a Locked),
}

/// Download `name` from `client` and check it: the package's hash against
/// the index, its contents, and its signature against `trusted`, or, with
/// `trust_new_key`, against the registry's key of that id.
pub async fn fetch(
    client: &RegistryClient,
    trusted: &[PublicKey],
    name: &str,
    wanted: Wanted<'_>,
    trust_new_key: bool,
) -> anyhow::Result<Fetched> {
    let index = client.index(name).await?;
    let release = match wanted {
        Wanted::Matching(requirement) => registry::choose(&index, requirement)
            .ok_or_else(|| {
                anyhow::anyhow!("no version of '{name}' matches {requirement} (yanked versions are never chosen)")
            })?
            .clone(),
        Wanted::Locked(locked) => index
            .versions
            .iter()
            .find(|r| r.version == locked.version)
            .filter(|r| r.sha256 == locked.sha256)
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "the registry no longer has '{name}' {} with sha256 {}",
                    locked.version,
                    locked.sha256
                )
            })?
            .clone(),
    };
    let bytes = client.package(name, &release).await?;
    let sha256 = sha256_hex(&bytes);
    if sha256 != release.sha256 {
        anyhow::bail!(
            "'{name}' {}: the package's sha256 is {sha256}, the index says {}",
            release.version,
            release.sha256
        );
    }
    let package = Package::unpack(&bytes)
        .map_err(|e| anyhow::anyhow!("'{name}' {}: {e}", release.version))?;
    let (key, key_is_new) = match trusted.iter().find(|k| k.key_id == release.key_id) {
        Some(key) => (key.clone(), false),
        None if trust_new_key => {
            let keys = client.keys().await?;
            let key = keys
                .keys
                .into_iter()
                .find(|k| k.key_id == release.key_id)
                .ok_or_else(|| anyhow::anyhow!("the registry lists no key {}", release.key_id))?;
            (key, true)
        }
        None => anyhow::bail!(
            "'{name}' {} is signed by key {} ({}), which this host does not trust for {}; \
             check the publisher, then pass --trust-new-key to pin it",
            release.version,
            release.key_id,
            release.publisher,
            client.url()
        ),
    };
    signing::verify(
        &package,
        &release.key_id,
        &release.signature,
        std::slice::from_ref(&key),
    )
    .map_err(|e| anyhow::anyhow!("'{name}' {}: {e}", release.version))?;
    let manifest = registry::read_manifest(&package)?;
    if manifest.name != name || manifest.version != release.version {
        anyhow::bail!(
            "the package of '{name}' {} holds '{}' {}",
            release.version,
            manifest.name,
            manifest.version
        );
    }
    Ok(Fetched {
        name: name.to_owned(),
        release,
        package,
        manifest,
        key,
        key_is_new,
    })
}

/// What a skill's manifest asks for, one plain sentence each.
pub fn capabilities(manifest: &Manifest) -> Vec<String> {
    let caps = &manifest.capabilities;
    let mut lines = Vec::new();
    if caps.memory {
        lines.push("may keep data in its own storage in this agent".to_owned());
    }
    if caps.inference {
        lines.push(
            "may use inference, metered to this agent, up to the agent's max_tokens per call"
                .to_owned(),
        );
    }
    for pattern in &caps.network {
        let shown = pattern.to_string();
        let target = match shown.split_once("://").map_or("", |(_, host)| host) {
            "*" => "any host".to_owned(),
            "*:*" => "any host, on any port".to_owned(),
            host => host.to_owned(),
        };
        lines.push(format!(
            "may send {} requests to {target}",
            pattern.scheme.as_str().to_uppercase()
        ));
    }
    for fs in &caps.filesystem {
        let access = match fs.access {
            Access::ReadOnly => "read",
            Access::ReadWrite => "read and write",
        };
        lines.push(format!(
            "may {access} the directory {} (a mount the agent lends)",
            fs.guest
        ));
    }
    for (name, secret) in &caps.secrets {
        let hosts: Vec<String> = secret.hosts.iter().map(ToString::to_string).collect();
        lines.push(format!(
            "may have the secret {name} sent to {}",
            hosts.join(", ")
        ));
    }
    if lines.is_empty() {
        lines.push("asks for no capability: pure computation".to_owned());
    }
    lines
}

/// The grants an install writes: what the manifest asks for, except
/// mounts and secrets, which name things only the operator can choose.
fn grants(manifest: &Manifest) -> toml_edit::Table {
    let caps = &manifest.capabilities;
    let mut grants = toml_edit::Table::new();
    if caps.memory {
        grants["memory"] = toml_edit::value(true);
    }
    if caps.inference {
        grants["inference"] = toml_edit::value(true);
    }
    if !caps.network.is_empty() {
        let list: toml_edit::Array = caps.network.iter().map(|p| p.to_string()).collect();
        grants["network"] = toml_edit::value(list);
    }
    grants
}

/// What the install leaves to the operator to grant.
pub fn not_granted(manifest: &Manifest) -> Vec<String> {
    let caps = &manifest.capabilities;
    let mut left = Vec::new();
    for fs in &caps.filesystem {
        left.push(format!(
            "filesystem {}: add a grant naming one of the agent's mounts",
            fs.guest
        ));
    }
    for name in caps.secrets.keys() {
        left.push(format!(
            "secret {name}: add a grant naming where its value comes from"
        ));
    }
    left
}

/// Put `fetched` in the store and write it into `agent`'s configuration
/// file and the lockfile of `config_dir`.
pub fn apply(
    config_dir: &Path,
    data_dir: &Path,
    agent: &str,
    registry_url: &url::Url,
    fetched: &Fetched,
) -> anyhow::Result<()> {
    let name = &fetched.name;
    let agent_file = config_dir.join("agents").join(format!("{agent}.toml"));
    let text = std::fs::read_to_string(&agent_file)
        .map_err(|e| anyhow::anyhow!("{}: {e}", agent_file.display()))?;
    let mut doc: toml_edit::DocumentMut = text
        .parse()
        .map_err(|e| anyhow::anyhow!("{}: {e}", agent_file.display()))?;
    if doc
        .get("skills")
        .and_then(|s| s.get(name))
        .and_then(|s| s.get("path"))
        .is_some()
    {
        anyhow::bail!(
            "agent '{agent}' already has a skill '{name}' from a directory ({}); remove it first",
            agent_file.display()
        );
    }

    store::add(data_dir, &fetched.release.sha256, &fetched.package)?;

    let mut entry = toml_edit::Table::new();
    entry["installed"] = toml_edit::value(fetched.release.version.to_string());
    entry["grants"] = toml_edit::Item::Table(grants(&fetched.manifest));
    let skills = doc
        .entry("skills")
        .or_insert_with(|| {
            let mut table = toml_edit::Table::new();
            table.set_implicit(true);
            toml_edit::Item::Table(table)
        })
        .as_table_mut()
        .ok_or_else(|| anyhow::anyhow!("{}: skills is not a table", agent_file.display()))?;
    skills.insert(name, toml_edit::Item::Table(entry));
    let pattern = format!("{name}.*");
    let tools = doc
        .entry("tools")
        .or_insert_with(|| toml_edit::Item::Table(toml_edit::Table::new()))
        .as_table_mut()
        .ok_or_else(|| anyhow::anyhow!("{}: tools is not a table", agent_file.display()))?;
    let allow = tools
        .entry("allow")
        .or_insert_with(|| toml_edit::value(toml_edit::Array::new()))
        .as_array_mut()
        .ok_or_else(|| anyhow::anyhow!("{}: tools.allow is not a list", agent_file.display()))?;
    if !allow.iter().any(|p| p.as_str() == Some(&pattern)) {
        allow.push(pattern);
    }

    let mut lock = Lockfile::read(config_dir).map_err(anyhow::Error::msg)?;
    lock.set(Locked {
        agent: agent.to_owned(),
        name: name.clone(),
        version: fetched.release.version.clone(),
        sha256: fetched.release.sha256.clone(),
        registry: registry_url.to_string(),
        key_id: fetched.release.key_id.clone(),
        signature: fetched.release.signature.clone(),
    });
    // The lockfile first: an agent file naming a version the lockfile does
    // not know would not load.
    lock.write(config_dir)?;
    Ok(replace_file(&agent_file, doc.to_string().as_bytes())?)
}

/// Take `name` out of `agent`'s configuration and the lockfile.
pub fn remove(config_dir: &Path, agent: &str, name: &str) -> anyhow::Result<Locked> {
    let mut lock = Lockfile::read(config_dir).map_err(anyhow::Error::msg)?;
    let locked = lock.remove(agent, name).ok_or_else(|| {
        anyhow::anyhow!("agent '{agent}' has no skill '{name}' installed from a registry")
    })?;
    let agent_file = config_dir.join("agents").join(format!("{agent}.toml"));
    let mut doc: toml_edit::DocumentMut = std::fs::read_to_string(&agent_file)?
        .parse()
        .map_err(|e| anyhow::anyhow!("{}: {e}", agent_file.display()))?;
    if let Some(skills) = doc.get_mut("skills").and_then(|s| s.as_table_mut()) {
        skills.remove(name);
    }
    let pattern = format!("{name}.*");
    if let Some(allow) = doc
        .get_mut("tools")
        .and_then(|t| t.get_mut("allow"))
        .and_then(|a| a.as_array_mut())
    {
        allow.retain(|p| p.as_str() != Some(&pattern));
    }
    // The agent file first: it must not name what the lockfile forgot.
    replace_file(&agent_file, doc.to_string().as_bytes())?;
    lock.write(config_dir)?;
    Ok(locked)
}

/// Pin `key` as trusted for the registry at `url` in `skillbox.toml`,
/// adding the registry if it is not configured.
pub fn trust_key(config_dir: &Path, url: &url::Url, key: &PublicKey) -> anyhow::Result<()> {
    let path = config_dir.join(HOST_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => anyhow::bail!("{}: {e}", path.display()),
    };
    let mut doc: toml_edit::DocumentMut = text
        .parse()
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let registries = doc
        .entry("registries")
        .or_insert_with(|| {
            let mut table = toml_edit::Table::new();
            table.set_implicit(true);
            toml_edit::Item::Table(table)
        })
        .as_table_mut()
        .ok_or_else(|| anyhow::anyhow!("{}: registries is not a table", path.display()))?;
    let same = |u: &str| u.trim_end_matches('/') == url.as_str().trim_end_matches('/');
    let existing = registries
        .iter()
        .find(|(_, r)| r.get("url").and_then(|u| u.as_str()).is_some_and(same))
        .map(|(name, _)| name.to_owned());
    let name = existing.unwrap_or_else(|| {
        let host: String = url
            .host_str()
            .unwrap_or("registry")
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        match url.port() {
            Some(port) => format!("{host}-{port}"),
            None => host,
        }
    });
    let registry = registries
        .entry(&name)
        .or_insert_with(|| {
            let mut table = toml_edit::Table::new();
            table["url"] = toml_edit::value(url.to_string());
            toml_edit::Item::Table(table)
        })
        .as_table_mut()
        .ok_or_else(|| anyhow::anyhow!("{}: registries.{name} is not a table", path.display()))?;
    let keys = registry
        .entry("keys")
        .or_insert_with(|| toml_edit::value(toml_edit::Array::new()))
        .as_array_mut()
        .ok_or_else(|| {
            anyhow::anyhow!("{}: registries.{name}.keys is not a list", path.display())
        })?;
    let mut pinned = toml_edit::InlineTable::new();
    pinned.insert("key_id", key.key_id.as_str().into());
    pinned.insert("publisher", key.publisher.as_str().into());
    pinned.insert("public_key", key.public_key.as_str().into());
    keys.push(pinned);
    Ok(replace_file(&path, doc.to_string().as_bytes())?)
}
