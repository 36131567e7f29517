//! Reading what the operator and skill authors write: skill manifests now,
//! host and agent configuration as they arrive.

pub mod agent;
pub mod capabilities;
pub mod host;
pub mod inference;
pub mod manifest;
pub mod toml_file;

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::sync::Arc;

pub use agent::AgentConfig;
pub use capabilities::{Access, Capabilities, FsRequest, SecretRequest};
pub use host::HostConfig;
pub use manifest::{Manifest, ToolSpec};
pub use toml_file::{ConfigError, TomlFile};

/// A configuration directory: `skillbox.toml` and `agents/<id>.toml`.
#[derive(Debug, Clone)]
pub struct ConfigDir {
    pub host: HostConfig,
    pub agents: BTreeMap<AgentId, AgentConfig>,
}

impl ConfigDir {
    pub fn load(dir: &Path) -> Result<ConfigDir, ConfigError> {
        ConfigDir::load_with(dir, |host| host)
    }

    /// Like [`ConfigDir::load`], with the host settings changed by `adjust`
    /// (say, another data directory) before the agents are read.
    pub fn load_with(
        dir: &Path,
        adjust: impl FnOnce(HostConfig) -> HostConfig,
    ) -> Result<ConfigDir, ConfigError> {
        let host = adjust(HostConfig::load(dir)?);
        let agents_dir = host.dir.join("agents");
        let mut agents = BTreeMap::new();
        if agents_dir.exists() {
            let entries = std::fs::read_dir(&agents_dir).map_err(|e| ConfigError {
                file: agents_dir.clone(),
                line: None,
                field: String::new(),
                message: format!("cannot read: {e}"),
            })?;
            let mut files: Vec<_> = entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "toml"))
                .collect();
            files.sort();
            for file in files {
                let agent = AgentConfig::load(&file, &host)?;
                agents.insert(agent.id.clone(), agent);
            }
        }
        Ok(ConfigDir { host, agents })
    }

    pub fn agent(&self, id: &str) -> Result<&AgentConfig, String> {
        self.agents.get(id).ok_or_else(|| {
            let known: Vec<&str> = self.agents.keys().map(AgentId::as_str).collect();
            format!(
                "no agent '{id}' in {} (agents: {})",
                self.host.dir.join("agents").display(),
                if known.is_empty() {
                    "none".into()
                } else {
                    known.join(", ")
                }
            )
        })
    }
}

/// The id of an agent: `[a-z][a-z0-9-]{0,63}`. It names the agent's state,
/// so it can never hold a path separator.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(try_from = "String", into = "String")]
pub struct AgentId(Arc<str>);

impl TryFrom<String> for AgentId {
    type Error = String;

    fn try_from(id: String) -> Result<AgentId, String> {
        AgentId::new(&id)
    }
}

impl From<AgentId> for String {
    fn from(id: AgentId) -> String {
        id.0.to_string()
    }
}

impl std::borrow::Borrow<str> for AgentId {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl AgentId {
    pub fn new(id: &str) -> Result<AgentId, String> {
        if manifest::is_skill_name(id) {
            Ok(AgentId(id.into()))
        } else {
            Err(format!(
                "'{id}' is not an agent id: use a lowercase letter, then up to 63 lowercase \
                 letters, digits or '-'"
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AgentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
