//! Who may do what in an agent: which tools it may call ([`tools`]) and,
//! for each of its skills, what every capability grants it and its limits.
//! Decided once, when the agent is loaded, by asking each capability
//! (`caps/`) for its decision, and handed to every call.
//!
//! A skill gets what its manifest asks for AND its agent grants, nothing
//! else. A grant the manifest never asked for is an error, not a widening.

mod explain;
mod tools;

use std::collections::BTreeMap;
use std::sync::Arc;

use std::path::Path;

use crate::caps::SkillGrants;
use crate::config::{
    AgentConfig, ConfigError, Grants, HostConfig, Located, Manifest, Prompts, SkillEntry,
    SkillSource,
};
use crate::egress::Egress;
use crate::redact::SecretScanner;
use crate::vocab::{AgentId, ConsentSettings, LimitOverrides, Limits, ToolPattern};

pub(crate) use explain::asked;
pub(crate) use tools::{Authorization, ToolRules};

/// Everything an agent may do.
#[derive(Debug)]
pub struct AgentPolicy {
    pub agent: AgentId,
    pub consent: Arc<ConsentSettings>,
    /// Every secret of the agent, to find in requests and mask in prompts.
    pub secrets: Arc<SecretScanner>,
    pub tools: ToolRules,
    pub(crate) skills: BTreeMap<String, SkillPolicy>,
}

/// What one skill may use in one agent.
#[derive(Debug)]
pub(crate) struct SkillPolicy {
    pub skill: Arc<str>,
    pub grants: SkillGrants,
    pub limits: Limits,
    /// What the manifest asks for and the agent does not grant, in words.
    pub not_granted: Vec<String>,
}

impl AgentPolicy {
    /// Decide, for each skill `agent` configures, what every capability
    /// grants it. `manifests` holds the manifest of each of those skills.
    pub(crate) fn build(
        agent: &AgentConfig,
        host: &HostConfig,
        manifests: &BTreeMap<String, Manifest>,
        egress: &Egress,
    ) -> Result<AgentPolicy, ConfigError> {
        Self::decide(agent, host, manifests, egress, false)
    }

    /// A one-skill agent for running a skill directly: it allows every tool
    /// of the skill and grants the memory its manifest asks for (a space of
    /// its own, which no configured agent can name), and nothing that
    /// reaches outside the host: network, directories, secrets.
    pub(crate) fn local(
        agent: &AgentId,
        manifest: &Manifest,
        host: &HostConfig,
        egress: &Egress,
    ) -> AgentPolicy {
        let config = local_config(agent, manifest);
        let manifests = BTreeMap::from([(manifest.name.clone(), manifest.clone())]);
        Self::decide(&config, host, &manifests, egress, true)
            .expect("a local agent is granted nothing its manifest did not ask for")
    }

    fn decide(
        agent: &AgentConfig,
        host: &HostConfig,
        manifests: &BTreeMap<String, Manifest>,
        egress: &Egress,
        local: bool,
    ) -> Result<AgentPolicy, ConfigError> {
        let (decided, scanner) = SkillGrants::decide_all(agent, host, manifests, egress, local)?;
        // The operator's limits: the host's defaults, raised or narrowed by
        // the agent, then by the skill's entry; never past the maxima. A
        // manifest asks within them.
        let agent_ceiling = host.defaults.with(&agent.limits).capped_by(&host.maxima);
        let skills = decided
            .into_iter()
            .map(|(name, grants)| {
                let manifest = &manifests[&name];
                let entry = &agent.skills[&name];
                let ceiling = agent_ceiling.with(&entry.limits).capped_by(&host.maxima);
                let asked = host.defaults.with(&manifest.limits);
                let limits = asked.capped_by(&ceiling);
                let mut not_granted = grants.not_granted(&manifest.capabilities);
                not_granted.extend(limits.shortfall(&asked));
                let policy = SkillPolicy {
                    skill: name.as_str().into(),
                    not_granted,
                    limits,
                    grants,
                };
                (name, policy)
            })
            .collect();
        Ok(AgentPolicy {
            agent: agent.id.clone(),
            consent: Arc::new(agent.consent.clone()),
            secrets: scanner,
            tools: ToolRules::new(agent, manifests)?,
            skills,
        })
    }

    pub(crate) fn explain(&self, manifests: &BTreeMap<String, Manifest>) -> String {
        explain::explain(self, manifests)
    }
}

/// The configuration of a local agent: the skill of `manifest`, every tool
/// of it allowed, and no grants written: what it gets is the capabilities'
/// decision for a local agent.
fn local_config(id: &AgentId, manifest: &Manifest) -> AgentConfig {
    let dir = manifest.path.parent().unwrap_or(Path::new(".")).to_owned();
    let all = ToolPattern::parse(&format!("{}.*", manifest.name))
        .expect("a skill name makes a valid pattern");
    // Whoever runs a skill on its own is its operator: it gets the limits
    // it asks for, within the host's maxima.
    let entry = SkillEntry {
        source: SkillSource::Dir(dir),
        line: 0,
        grants: Grants::default(),
        limits: manifest.limits.clone(),
    };
    AgentConfig {
        id: id.clone(),
        description: String::new(),
        consent: ConsentSettings::default(),
        file: manifest.path.clone(),
        allow: vec![Located {
            value: all,
            line: 0,
        }],
        deny: Vec::new(),
        mounts: BTreeMap::new(),
        skills: BTreeMap::from([(manifest.name.clone(), entry)]),
        limits: LimitOverrides::default(),
        inference: None,
        prompts: Prompts::default(),
    }
}
