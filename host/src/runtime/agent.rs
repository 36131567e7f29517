//! A loaded agent: its policy, the skills it may use, its models and
//! prompts.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::config::{AgentConfig, ConfigError, Manifest, Prompts, ToolSpec};
use crate::inference::AgentClient;
use crate::market::SkillLocation;
use crate::policy::AgentPolicy;
use crate::skill::Skill;
use crate::vocab::AgentId;

pub struct Agent {
    pub policy: AgentPolicy,
    pub skills: BTreeMap<String, Arc<Skill>>,
    /// Its access to the inference service, if it has models.
    pub inference: Option<AgentClient>,
    pub prompts: Prompts,
    /// Its share of the instance pool, the same for every load of the
    /// agent in a runtime.
    pub share: Arc<tokio::sync::Semaphore>,
    /// Its calls allowed by configuration, counted for the audit.
    pub(crate) tally: Arc<crate::db::audit::Tally>,
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

    /// What the agent may do, in words: `skillbox agent explain`.
    pub fn explain(&self) -> String {
        self.policy.explain(&self.manifests())
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

/// The manifests of the skills of `config`, found where `located` says,
/// each checked to be the skill its entry names.
pub(crate) fn read_manifests(
    config: &AgentConfig,
    located: &BTreeMap<String, SkillLocation>,
) -> Result<BTreeMap<String, Manifest>, ConfigError> {
    let mut manifests = BTreeMap::new();
    for (name, location) in located {
        let manifest = Manifest::load(&location.dir)?;
        if manifest.name != *name {
            return Err(ConfigError {
                file: config.file.clone(),
                line: Some(config.skills[name].line),
                field: format!("skills.{name}.path"),
                message: format!(
                    "{} holds the skill '{}', not '{name}'",
                    location.dir.display(),
                    manifest.name
                ),
            });
        }
        manifests.insert(name.clone(), manifest);
    }
    Ok(manifests)
}
