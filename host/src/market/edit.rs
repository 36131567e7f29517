//! The operator's files, edited in place: an agent's file gains or loses
//! an installed skill, and `skillbox.toml` pins a publisher key. Comments
//! and layout are kept (toml_edit), and each file is replaced whole.

use std::path::{Path, PathBuf};

use toml_edit::{DocumentMut, Item, Table};

use super::install::Plan;
use super::{MarketError, replace_file};
use crate::caps;
use crate::config::{HOST_FILE, Manifest, PublicKey};
use crate::vocab::{LimitOverrides, WrittenLimit};

/// A TOML file being edited.
pub(super) struct Edit {
    path: PathBuf,
    doc: DocumentMut,
}

impl Edit {
    /// The agent file of `agent` in `config_dir`.
    pub(super) fn agent(config_dir: &Path, agent: &str) -> Result<Edit, MarketError> {
        Edit::open(
            &config_dir.join("agents").join(format!("{agent}.toml")),
            false,
        )
    }

    /// `skillbox.toml` of `config_dir`, empty if there is none.
    pub(super) fn host(config_dir: &Path) -> Result<Edit, MarketError> {
        Edit::open(&config_dir.join(HOST_FILE), true)
    }

    fn open(path: &Path, may_be_missing: bool) -> Result<Edit, MarketError> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if may_be_missing && e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(error) => return Err(MarketError::io(path)(error)),
        };
        let doc = text.parse().map_err(|e| MarketError::malformed(path, e))?;
        Ok(Edit {
            path: path.to_owned(),
            doc,
        })
    }

    pub(super) fn path(&self) -> &Path {
        &self.path
    }

    pub(super) fn save(&self) -> Result<(), MarketError> {
        replace_file(&self.path, self.doc.to_string().as_bytes())
    }

    /// Whether the agent's skill `name` comes from a directory.
    pub(super) fn has_skill_dir(&self, name: &str) -> bool {
        let skill = self.doc.get("skills").and_then(|s| s.get(name));
        skill.and_then(|s| s.get("path")).is_some()
    }

    /// Name skill `name` as installed at `version`, with the grants an
    /// install gives and the limits the person agreed to, and allow its
    /// tools.
    pub(super) fn install(
        &mut self,
        name: &str,
        version: &semver::Version,
        plan: &Plan,
    ) -> Result<(), MarketError> {
        let mut entry = Table::new();
        entry["installed"] = toml_edit::value(version.to_string());
        entry["grants"] = Item::Table(caps::on_install(&plan.fetched.manifest.capabilities).0);
        if !plan.granted_limits.is_empty() {
            let mut limits = Table::new();
            raise(&mut limits, &plan.granted_limits);
            entry["limits"] = Item::Table(limits);
        }
        self.table("skills", true)?.insert(name, Item::Table(entry));
        let pattern = format!("{name}.*");
        let path = self.path.clone();
        let allow = self
            .table("tools", false)?
            .entry("allow")
            .or_insert_with(|| toml_edit::value(toml_edit::Array::new()))
            .as_array_mut()
            .ok_or_else(|| not_a(&path, "tools.allow", "list"))?;
        if !allow.iter().any(|p| p.as_str() == Some(&pattern)) {
            allow.push(pattern);
        }
        Ok(())
    }

    /// Move skill `name` from the version whose manifest was `old` to
    /// `version`, keeping what the operator wrote: narrowed grants stay
    /// narrow, mounts and secrets stay granted, the tool allowlist is left
    /// alone. Only what the new version newly asks for and an install
    /// grants is added, and grants of what it no longer asks for are taken
    /// out (they would not load). Limits it asks more of, agreed to, are
    /// raised.
    pub(super) fn upgrade(
        &mut self,
        name: &str,
        version: &semver::Version,
        old: &Manifest,
        plan: &Plan,
    ) -> Result<(), MarketError> {
        let path = self.path.clone();
        let field = |f: &str| format!("skills.{name}.{f}");
        let entry = self
            .table("skills", true)?
            .get_mut(name)
            .and_then(Item::as_table_like_mut)
            .ok_or_else(|| not_a(&path, &format!("skills.{name}"), "table"))?;
        entry.insert("installed", toml_edit::value(version.to_string()));
        let before = caps::on_install(&old.capabilities).0;
        let after = caps::on_install(&plan.fetched.manifest.capabilities).0;
        let grants = entry
            .entry("grants")
            .or_insert(Item::Table(Table::new()))
            .as_table_like_mut()
            .ok_or_else(|| not_a(&path, &field("grants"), "table"))?;
        for (key, asked) in after.iter() {
            match (before.get(key).and_then(Item::as_array), asked.as_array()) {
                // A list (hosts): the entries newly asked for join what the
                // operator granted.
                (Some(was), Some(now)) => {
                    let new: Vec<_> = now.iter().filter(|v| !contains(was, v)).cloned().collect();
                    if new.is_empty() {
                        continue;
                    }
                    let list = grants
                        .entry(key)
                        .or_insert(toml_edit::value(toml_edit::Array::new()))
                        .as_array_mut()
                        .ok_or_else(|| not_a(&path, &field(&format!("grants.{key}")), "list"))?;
                    new.into_iter().for_each(|v| list.push(v));
                }
                (None, _) if before.get(key).is_none() && !grants.contains_key(key) => {
                    grants.insert(key, asked.clone());
                }
                _ => {}
            }
        }
        for (key, was) in before.iter() {
            match (after.get(key), was.as_array()) {
                (None, _) => {
                    grants.remove(key);
                }
                (Some(now), Some(was)) => {
                    let now = now.as_array().cloned().unwrap_or_default();
                    let gone: Vec<_> = was.iter().filter(|v| !contains(&now, v)).collect();
                    if let Some(list) = grants.get_mut(key).and_then(Item::as_array_mut) {
                        list.retain(|v| !gone.iter().any(|g| same(g, v)));
                    }
                }
                _ => {}
            }
        }
        if !plan.limits_added.is_empty() {
            let limits = entry
                .entry("limits")
                .or_insert(Item::Table(Table::new()))
                .as_table_like_mut()
                .ok_or_else(|| not_a(&path, &field("limits"), "table"))?;
            raise(limits, &plan.grown_limits);
        }
        Ok(())
    }

    /// Take skill `name` and the pattern allowing its tools out.
    pub(super) fn uninstall(&mut self, name: &str) {
        if let Some(skills) = self.doc.get_mut("skills").and_then(|s| s.as_table_mut()) {
            skills.remove(name);
        }
        let pattern = format!("{name}.*");
        let allow = self.doc.get_mut("tools").and_then(|t| t.get_mut("allow"));
        if let Some(allow) = allow.and_then(|a| a.as_array_mut()) {
            allow.retain(|p| p.as_str() != Some(&pattern));
        }
    }

    /// Pin `key` as trusted for the registry at `url`, adding the registry
    /// if it is not configured.
    pub(super) fn trust_key(&mut self, url: &url::Url, key: &PublicKey) -> Result<(), MarketError> {
        let same = |u: &str| super::same_registry(u, url.as_str());
        let path = self.path.clone();
        let registries = self.table("registries", true)?;
        let existing = registries
            .iter()
            .find(|(_, r)| r.get("url").and_then(|u| u.as_str()).is_some_and(same))
            .map(|(name, _)| name.to_owned());
        let name = existing.unwrap_or_else(|| registry_name(url));
        let registry = registries
            .entry(&name)
            .or_insert_with(|| {
                let mut table = Table::new();
                table["url"] = toml_edit::value(url.to_string());
                Item::Table(table)
            })
            .as_table_mut()
            .ok_or_else(|| not_a(&path, &format!("registries.{name}"), "table"))?;
        let keys = registry
            .entry("keys")
            .or_insert_with(|| toml_edit::value(toml_edit::Array::new()))
            .as_array_mut()
            .ok_or_else(|| not_a(&path, &format!("registries.{name}.keys"), "list"))?;
        let mut pinned = toml_edit::InlineTable::new();
        pinned.insert("key_id", key.key_id.as_str().into());
        pinned.insert("publisher", key.publisher.as_str().into());
        pinned.insert("public_key", key.public_key.as_str().into());
        keys.push(pinned);
        Ok(())
    }

    /// The table `name` at the top, made if missing (`implicit`: written
    /// only through its subtables).
    fn table(&mut self, name: &str, implicit: bool) -> Result<&mut Table, MarketError> {
        let path = self.path.clone();
        self.doc
            .entry(name)
            .or_insert_with(|| {
                let mut table = Table::new();
                table.set_implicit(implicit);
                Item::Table(table)
            })
            .as_table_mut()
            .ok_or_else(|| not_a(&path, name, "table"))
    }
}

/// `field` of the file at `path` is not the kind of value an edit needs.
fn not_a(path: &Path, field: &str, what: &str) -> MarketError {
    MarketError::AgentFile {
        path: path.to_owned(),
        message: format!("{field} is not a {what}"),
    }
}

/// A registry's name in `skillbox.toml`, made from its host and port.
fn registry_name(url: &url::Url) -> String {
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
}

fn same(a: &toml_edit::Value, b: &toml_edit::Value) -> bool {
    a.as_str().is_some() && a.as_str() == b.as_str()
}

fn contains(list: &toml_edit::Array, value: &toml_edit::Value) -> bool {
    list.iter().any(|v| same(v, value))
}

/// Write every limit `limits` sets into `table` (a table or an inline one).
fn raise(table: &mut dyn toml_edit::TableLike, limits: &LimitOverrides) {
    for (name, value) in limits.written() {
        let value = match value {
            WrittenLimit::Text(text) => toml_edit::value(text),
            WrittenLimit::Count(n) => toml_edit::value(i64::try_from(n).unwrap_or(i64::MAX)),
        };
        table.insert(name, value);
    }
}
