//! Reading what the operator and skill authors write: `skill.toml`,
//! `skillbox.toml` and `agents/<id>.toml`, into the words of [`vocab`], with
//! errors that name the file, the field and the line. Reading only: what a
//! skill gets of what it asks for is decided by the capabilities.
//!
//! [`vocab`]: crate::vocab

mod agent;
mod capabilities;
mod host;
mod inference;
mod manifest;
mod schema;
mod secrets;
mod toml_file;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::vocab::AgentId;

pub(crate) use agent::{
    AgentConfig, Grants, InferenceGrant, Located, NetGrant, SkillEntry, SkillSource,
};
pub(crate) use capabilities::{Capabilities, FsRequest, SecretRequest};
pub(crate) use host::RegistryConfig;
pub(crate) use host::{HOST_FILE, ServerConfig};
pub use host::{HostConfig, PublicKey, SandboxConfig};
pub(crate) use inference::{BackendConfig, BackendKind, Budget, InferenceSettings, Prompts};
pub use manifest::Manifest;
pub(crate) use manifest::ToolSpec;
pub(crate) use secrets::read_secret;
pub use toml_file::{ConfigError, TomlFile};

/// No agent of that id in a configuration directory.
#[derive(Debug, thiserror::Error)]
#[error("no agent '{id}' in {} (agents: {})", dir.display(), if known.is_empty() { "none".to_owned() } else { known.join(", ") })]
pub struct NoSuchAgent {
    pub id: String,
    pub dir: PathBuf,
    pub known: Vec<String>,
}

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

    pub fn agent(&self, id: &str) -> Result<&AgentConfig, NoSuchAgent> {
        self.agents.get(id).ok_or_else(|| NoSuchAgent {
            id: id.to_owned(),
            dir: self.host.dir.join("agents"),
            known: self.agents.keys().map(|a| a.to_string()).collect(),
        })
    }
}
