//! A loaded agent: its policy, the skills it may use, its models and
//! prompts; and its conversations ([`turn`]).

pub mod turn;

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::config::inference::Prompts;
use crate::config::{AgentConfig, AgentId, ConfigError, Manifest, ToolSpec};
use crate::inference::AgentClient;
use crate::policy::AgentPolicy;
use crate::skill::Skill;

pub use turn::{OnEvent, TurnError, TurnEvent, TurnReport};

pub struct Agent {
    pub policy: AgentPolicy,
    pub skills: BTreeMap<String, Arc<Skill>>,
    /// Its access to the inference service, if it has models.
    pub inference: Option<AgentClient>,
    pub prompts: Prompts,
}

impl Agent {
    pub fn id(&self) -> &AgentId {
        &self.policy.agent
    }

    /// The manifests of the agent's skills, by name.
    pub fn manifests(&self) -> BTreeMap<String, Manifest> {
        self.skills
            .iter()
            .map(|(name, skill)| (name.clone(), skill.manifest.clone()))
            .collect()
    }

    /// Every tool the agent may call, as (skill, tool).
    pub fn tools(&self) -> Vec<(String, ToolSpec)> {
        let manifests = self.manifests();
        self.policy
            .allowed_tools(&manifests)
            .into_iter()
            .map(|(skill, tool)| (skill.to_owned(), tool.clone()))
            .collect()
    }
}

/// The manifests of the skills `config` names, each checked to be the skill
/// its entry names.
pub fn read_manifests(config: &AgentConfig) -> Result<BTreeMap<String, Manifest>, ConfigError> {
    let mut manifests = BTreeMap::new();
    for (name, entry) in &config.skills {
        let manifest = Manifest::load(&entry.path)?;
        if manifest.name != *name {
            return Err(ConfigError {
                file: config.file.clone(),
                line: Some(entry.line),
                field: format!("skills.{name}.path"),
                message: format!(
                    "{} holds the skill '{}', not '{name}'",
                    entry.path.display(),
                    manifest.name
                ),
            });
        }
        manifests.insert(name.clone(), manifest);
    }
    Ok(manifests)
}
