//! Reading what the operator and skill authors write: skill manifests now,
//! host and agent configuration as they arrive.

pub mod manifest;
pub mod toml_file;

use std::fmt;

pub use manifest::{Capabilities, Manifest, ToolSpec};
pub use toml_file::{ConfigError, TomlFile};

/// The id of an agent: `[a-z][a-z0-9-]{0,63}`. It names the agent's state,
/// so it can never hold a path separator.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AgentId(String);

impl AgentId {
    pub fn new(id: &str) -> Result<AgentId, String> {
        if manifest::is_skill_name(id) {
            Ok(AgentId(id.to_owned()))
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
