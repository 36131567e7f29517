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

use crate::caps::http::Http;
use crate::caps::{GrantContext, SkillGrants};
use crate::config::{AgentConfig, ConfigError, HostConfig, Manifest};
use crate::egress::{Egress, NetworkAccess};
use crate::redact::SecretScanner;
use crate::vocab::{AgentId, ConsentSettings, Limits};

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
    pub skills: BTreeMap<String, SkillPolicy>,
}

/// What one skill may use in one agent.
#[derive(Debug)]
pub struct SkillPolicy {
    pub skill: Arc<str>,
    pub grants: SkillGrants,
    /// Its way out to the network, when it may reach any host.
    pub network: Option<Arc<NetworkAccess>>,
    pub limits: Limits,
    /// What the manifest asks for and the agent does not grant, in words.
    pub not_granted: Vec<String>,
}

impl AgentPolicy {
    /// Decide, for each skill `agent` configures, what every capability
    /// grants it. `manifests` holds the manifest of each of those skills.
    pub fn build(
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
    pub fn local(
        agent: &AgentId,
        manifest: &Manifest,
        host: &HostConfig,
        egress: &Egress,
    ) -> AgentPolicy {
        let config = AgentConfig::local(agent, manifest);
        let manifests = BTreeMap::from([(manifest.name.clone(), manifest.clone())]);
        Self::decide(&config, host, &manifests, egress, true)
            .expect("a local agent grants only what its manifest asks for")
    }

    fn decide(
        agent: &AgentConfig,
        host: &HostConfig,
        manifests: &BTreeMap<String, Manifest>,
        egress: &Egress,
        local: bool,
    ) -> Result<AgentPolicy, ConfigError> {
        let ceiling = host.maxima.with(&agent.limits).capped_by(&host.maxima);
        let mut decided = Vec::new();
        for (name, entry) in &agent.skills {
            let manifest = &manifests[name];
            let cx = GrantContext {
                agent,
                host,
                skill: name,
                entry,
                manifest,
                local,
            };
            let limits = host.defaults.with(&manifest.limits).capped_by(&ceiling);
            decided.push((name, manifest, SkillGrants::decide(&cx)?, limits));
        }
        // Every request of every skill of the agent is scanned for all of
        // its secrets.
        let values = decided.iter().flat_map(|(_, _, grants, _)| {
            let bindings = grants.secrets.iter().flat_map(|s| &s.bindings);
            bindings.map(|b| b.value.as_str())
        });
        let scanner = Arc::new(SecretScanner::new(values));
        let skills = decided
            .into_iter()
            .map(|(name, manifest, grants, limits)| {
                let network = grants.network.as_ref().map(|network| {
                    let secrets = grants.secrets.as_ref();
                    Http::open(egress, &agent.id, name, network, secrets, &scanner)
                });
                let policy = SkillPolicy {
                    skill: name.as_str().into(),
                    not_granted: grants.not_granted(&manifest.capabilities),
                    grants,
                    network,
                    limits,
                };
                (name.clone(), policy)
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

    pub fn explain(&self, manifests: &BTreeMap<String, Manifest>) -> String {
        explain::explain(self, manifests)
    }
}
