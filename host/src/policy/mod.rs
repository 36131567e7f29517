//! Who may do what: the effective capabilities and limits of each skill in
//! an agent, decided once, when the agent is loaded, and handed to every
//! call as capabilities. This is the one place grants are decided.
//!
//! A skill gets what its manifest asks for AND its agent grants, nothing
//! else. A grant the manifest never asked for is an error, not a widening.

pub mod consent;
mod explain;
pub mod network;
mod secrets;
pub mod tools;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use crate::caps::CallCaps;
use crate::caps::consent::ConsentCap;
use crate::caps::fs::FsCap;
use crate::caps::http::HttpCap;
use crate::caps::inference::{InferenceAccess, InferenceCap};
use crate::caps::log::LogCap;
use crate::caps::memory::{MemoryCap, MemoryGrant};
use crate::config::agent::{AgentConfig, InferenceGrant, NetGrant};
use crate::config::{Access, AgentId, ConfigError, HostConfig, Manifest, ToolSpec};
use crate::db::{Db, Quota};
use crate::egress::{Egress, EgressRules, NetworkAccess, SecretBinding, SecretScanner};
use crate::inference::AgentClient;
use crate::prompt::Capability;

use crate::sandbox::Limits;
use consent::{CallConsent, ConsentSettings, Verdict};

pub use explain::asked;
pub use secrets::read as read_secret;
pub use tools::ToolRules;

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
    pub agent: AgentId,
    pub skill: Arc<str>,
    /// Whose memory the skill uses: the agent's, or for a local agent a
    /// space of its own (`local:<id>`), which no configured agent can name.
    memory_owner: Arc<str>,
    /// Its key/value namespace (`memory` import).
    pub memory: bool,
    /// Chat completions metered to the agent (`inference` import).
    pub inference: Option<InferenceGrant>,
    /// Outgoing HTTP, when any host is granted.
    pub network: Option<Arc<NetworkAccess>>,
    /// Directories preopened for every call, and their open handles.
    pub mounts: Vec<MountGrant>,
    fs: FsCap,
    /// Directories offered with `ask`: preopened for a call once a person
    /// allows it.
    pub offered_mounts: Vec<MountGrant>,
    pub limits: Limits,
    /// What the manifest asks for and the agent does not grant, in words.
    pub not_granted: Vec<String>,
}

/// What the allowlist says about a call.
pub enum Authorization<'a> {
    Granted(&'a SkillPolicy),
    /// Only with a person's consent, for this reason.
    NeedsConsent(&'a SkillPolicy, String),
    NoSuchSkill(String),
}

/// A host directory visible to a skill at `guest`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountGrant {
    pub host: PathBuf,
    pub guest: String,
    pub access: Access,
}

impl AgentPolicy {
    /// Intersect each configured skill's manifest with the agent's grants.
    /// `manifests` holds the manifest of every skill the agent configures.
    pub fn build(
        agent: &AgentConfig,
        host: &HostConfig,
        manifests: &BTreeMap<String, Manifest>,
        egress: &Egress,
    ) -> Result<AgentPolicy, ConfigError> {
        let error = |field: String, line: usize, message: String| ConfigError {
            file: agent.file.clone(),
            line: Some(line),
            field,
            message,
        };
        let ceiling = host.maxima.with(&agent.limits).capped_by(&host.maxima);

        // Secrets first: every request of every skill of the agent is
        // scanned for all of them.
        let mut bindings: BTreeMap<&str, Vec<SecretBinding>> = BTreeMap::new();
        for (name, entry) in &agent.skills {
            let manifest = &manifests[name];
            for (secret, source) in &entry.grants.secrets {
                let field = format!("skills.{name}.grants.secrets.{secret}");
                let Some(request) = manifest.capabilities.secrets.get(secret) else {
                    return Err(error(
                        field,
                        source.line,
                        format!("skill '{name}' does not ask for a secret {secret}"),
                    ));
                };
                let value = secrets::read(&source.value.source, &host.dir)
                    .map_err(|m| error(field, source.line, m))?;
                bindings.entry(name).or_default().push(SecretBinding {
                    name: secret.clone(),
                    value,
                    hosts: request.hosts.clone(),
                    header: request.header.clone(),
                    value_template: request.value_template.clone(),
                    ask: source.value.ask,
                });
            }
        }
        let scanner = Arc::new(SecretScanner::new(
            bindings.values().flatten().map(|b| b.value.as_str()),
        ));

        let mut skills = BTreeMap::new();
        for (name, entry) in &agent.skills {
            let manifest = &manifests[name];
            let asked = &manifest.capabilities;
            let grants = &entry.grants;
            let field = |what: &str| format!("skills.{name}.grants.{what}");
            let mut not_granted = Vec::new();

            for (granted, requested, what) in [
                (grants.memory, asked.memory, "memory"),
                (grants.inference.is_some(), asked.inference, "inference"),
            ] {
                if granted && !requested {
                    return Err(error(
                        field(what),
                        entry.line,
                        format!("grants {what}, which skill '{name}' does not ask for"),
                    ));
                }
                if requested && !granted {
                    not_granted.push(what.to_owned());
                }
            }

            if grants.inference.is_some() && agent.inference.is_none() {
                return Err(error(
                    field("inference"),
                    entry.line,
                    format!(
                        "grants inference, but agent '{}' has no [inference] model",
                        agent.id
                    ),
                ));
            }

            for (i, grant) in grants.network.iter().enumerate() {
                let NetGrant { pattern, .. } = &grant.value;
                if !asked.network.iter().any(|r| r.covers(pattern)) {
                    return Err(error(
                        field(&format!("network[{i}]")),
                        grant.line,
                        format!(
                            "grants {pattern}, which skill '{name}' does not ask for (it asks for: {})",
                            list(asked.network.iter())
                        ),
                    ));
                }
            }
            for request in &asked.network {
                if !grants
                    .network
                    .iter()
                    .any(|g| request.covers(&g.value.pattern))
                {
                    not_granted.push(format!("network {request}"));
                }
            }

            let mut mounts = Vec::new();
            let mut offered_mounts = Vec::new();
            for (i, grant) in grants.filesystem.iter().enumerate() {
                let g = &grant.value;
                let at = field(&format!("filesystem[{i}]"));
                let Some(mount) = agent.mounts.get(&g.mount) else {
                    return Err(error(
                        at,
                        grant.line,
                        format!("no mount '{}' in [mounts] of agent '{}'", g.mount, agent.id),
                    ));
                };
                let Some(request) = asked.filesystem.iter().find(|r| r.guest == g.guest) else {
                    return Err(error(
                        at,
                        grant.line,
                        format!("skill '{name}' does not ask for a directory at {}", g.guest),
                    ));
                };
                if g.access > request.access {
                    return Err(error(
                        at,
                        grant.line,
                        format!(
                            "grants {} at {}, but skill '{name}' asks for {} only",
                            g.access, g.guest, request.access
                        ),
                    ));
                }
                if g.access > mount.value.access {
                    return Err(error(
                        at,
                        grant.line,
                        format!(
                            "grants {} on mount '{}', which is {}",
                            g.access, g.mount, mount.value.access
                        ),
                    ));
                }
                let granted = MountGrant {
                    host: mount.value.path.clone(),
                    guest: g.guest.clone(),
                    access: g.access,
                };
                if g.ask {
                    offered_mounts.push(granted);
                } else {
                    mounts.push(granted);
                }
            }
            for request in &asked.filesystem {
                let granted = mounts.iter().chain(&offered_mounts);
                match granted.clone().find(|m| m.guest == request.guest) {
                    None => {
                        not_granted.push(format!("filesystem {} {}", request.access, request.guest))
                    }
                    Some(m) if m.access < request.access => not_granted.push(format!(
                        "filesystem {} {} (granted {})",
                        request.access, request.guest, m.access
                    )),
                    Some(_) => {}
                }
            }
            for secret in asked.secrets.keys() {
                if !grants.secrets.contains_key(secret) {
                    not_granted.push(format!("secret {secret}"));
                }
            }

            let fs = FsCap::open(&mounts).map_err(|m| error(field("filesystem"), entry.line, m))?;
            let limits = host.defaults.with(&manifest.limits).capped_by(&ceiling);
            // Without grants, a skill still reaches the network when a person
            // may allow hosts its manifest asks for.
            let may_ask = !asked.network.is_empty() && agent.consent.mode != consent::Mode::Deny;
            let network = (!grants.network.is_empty() || may_ask).then(|| {
                Arc::new(egress.network_access(EgressRules {
                    agent: agent.id.clone(),
                    skill: name.clone(),
                    allow: grants.network.iter().map(|g| g.value.clone()).collect(),
                    requested: asked.network.clone(),
                    secrets: bindings.remove(name.as_str()).unwrap_or_default(),
                    scanner: scanner.clone(),
                }))
            });
            skills.insert(
                name.clone(),
                SkillPolicy {
                    agent: agent.id.clone(),
                    skill: name.as_str().into(),
                    memory_owner: agent.id.as_str().into(),
                    memory: grants.memory,
                    inference: grants.inference,
                    network,
                    mounts,
                    fs,
                    offered_mounts,
                    limits,
                    not_granted,
                },
            );
        }

        let rules = ToolRules {
            allow: agent.allow.iter().map(|p| p.value.clone()).collect(),
            deny: agent.deny.iter().map(|p| p.value.clone()).collect(),
        };
        for (list, which) in [(&agent.allow, "allow"), (&agent.deny, "deny")] {
            for (i, pattern) in list.iter().enumerate() {
                let names_a_tool = manifests.iter().any(|(skill, m)| {
                    m.tools
                        .iter()
                        .any(|t| pattern.value.matches(skill, &t.name))
                });
                if !names_a_tool {
                    return Err(error(
                        format!("tools.{which}[{i}]"),
                        pattern.line,
                        format!(
                            "'{}' matches no tool of agent '{}' (its skills: {})",
                            pattern.value,
                            agent.id,
                            list_keys(manifests)
                        ),
                    ));
                }
            }
        }

        Ok(AgentPolicy {
            agent: agent.id.clone(),
            consent: Arc::new(agent.consent.clone()),
            secrets: scanner,
            tools: rules,
            skills,
        })
    }

    /// A one-skill agent for running a skill directly: it grants what the
    /// manifest asks for among memory and inference, and nothing that
    /// reaches outside the host (network, directories, secrets).
    pub fn local(agent: &AgentId, manifest: &Manifest, host: &HostConfig) -> AgentPolicy {
        let asked = &manifest.capabilities;
        let mut not_granted: Vec<String> = asked
            .network
            .iter()
            .map(|r| format!("network {r}"))
            .collect();
        not_granted.extend(
            asked
                .filesystem
                .iter()
                .map(|r| format!("filesystem {} {}", r.access, r.guest)),
        );
        not_granted.extend(asked.secrets.keys().map(|s| format!("secret {s}")));
        let skill = SkillPolicy {
            agent: agent.clone(),
            skill: manifest.name.as_str().into(),
            memory_owner: format!("local:{agent}").into(),
            memory: asked.memory,
            inference: asked.inference.then_some(InferenceGrant::DEFAULT),
            network: None,
            mounts: Vec::new(),
            fs: FsCap::default(),
            offered_mounts: Vec::new(),
            limits: host.defaults.with(&manifest.limits).capped_by(&host.maxima),
            not_granted,
        };
        let all = tools::ToolPattern::parse(&format!("{}.*", manifest.name))
            .expect("a skill name makes a valid pattern");
        AgentPolicy {
            agent: agent.clone(),
            consent: Arc::new(ConsentSettings::default()),
            secrets: Arc::new(SecretScanner::new([])),
            tools: ToolRules {
                allow: vec![all],
                deny: Vec::new(),
            },
            skills: BTreeMap::from([(manifest.name.clone(), skill)]),
        }
    }

    /// Whether the agent may call `tool` of `skill`: by its allowlist, or
    /// with a person's consent.
    pub fn authorize(&self, skill: &str, tool: &str) -> Authorization<'_> {
        let Some(policy) = self.skills.get(skill) else {
            return Authorization::NoSuchSkill(format!(
                "agent '{}' has no skill '{skill}'",
                self.agent
            ));
        };
        if !self.tools.allows(skill, tool) {
            let why = format!("not allowed for agent '{}'", self.agent);
            return Authorization::NeedsConsent(policy, why);
        }
        if self.consent.mode == consent::Mode::Always {
            let why = format!("agent '{}' asks before every tool call", self.agent);
            return Authorization::NeedsConsent(policy, why);
        }
        Authorization::Granted(policy)
    }

    /// Every tool the agent may call, as (skill, tool): skills by name, tools
    /// in manifest order.
    pub fn allowed_tools<'a>(
        &self,
        manifests: &'a BTreeMap<String, Manifest>,
    ) -> Vec<(&'a str, &'a ToolSpec)> {
        manifests
            .iter()
            .filter(|(name, _)| self.skills.contains_key(name.as_str()))
            .flat_map(|(name, m)| m.tools.iter().map(move |t| (name.as_str(), t)))
            .filter(|(skill, tool)| self.tools.allows(skill, &tool.name))
            .collect()
    }

    pub fn explain(&self, manifests: &BTreeMap<String, Manifest>) -> String {
        explain::explain(self, manifests)
    }
}

impl SkillPolicy {
    /// The directories of one call: those granted, and those offered that
    /// a person allows.
    pub async fn mounts_for(&self, consent: &CallConsent) -> Result<FsCap, String> {
        if self.offered_mounts.is_empty() {
            return Ok(self.fs.clone());
        }
        let mut mounts = self.mounts.clone();
        for offered in &self.offered_mounts {
            let capability = Capability::Filesystem {
                access: offered.access,
                guest: offered.guest.clone(),
            };
            let reason = "the agent lends this directory only with a person's consent";
            if consent.decide(capability, reason).await == Verdict::Allowed {
                mounts.push(offered.clone());
            }
        }
        FsCap::open(&mounts)
    }

    /// The capabilities of one call; `models` is the agent's access to
    /// inference, if it has any.
    pub fn call_caps(
        &self,
        db: &Db,
        consent: CallConsent,
        fs: FsCap,
        models: Option<&AgentClient>,
    ) -> CallCaps {
        let skill = &self.skill;
        let memory = self.memory.then(|| MemoryGrant {
            db: db.clone(),
            owner: self.memory_owner.clone(),
            skill: skill.clone(),
            quota: Quota {
                bytes: self.limits.memory_quota.as_u64(),
                keys: self.limits.memory_keys,
            },
        });
        CallCaps {
            log: LogCap::new(usize::try_from(self.limits.log.as_u64()).unwrap_or(usize::MAX)),
            memory: MemoryCap::new(skill.clone(), memory),
            inference: InferenceCap::new(
                skill.clone(),
                self.inference
                    .zip(models)
                    .map(|(grant, client)| InferenceAccess {
                        client: client.clone(),
                        consent: consent.clone(),
                        max_tokens: grant.max_tokens,
                    }),
            ),
            http: HttpCap::new(
                &self.agent,
                skill.clone(),
                self.network.clone(),
                &self.limits,
                consent.clone(),
            ),
            consent: ConsentCap::new(consent),
            fs,
        }
    }
}

fn list<T: std::fmt::Display>(items: impl Iterator<Item = T>) -> String {
    let items: Vec<String> = items.map(|i| i.to_string()).collect();
    if items.is_empty() {
        "nothing".into()
    } else {
        items.join(", ")
    }
}

fn list_keys<V>(map: &BTreeMap<String, V>) -> String {
    list(map.keys())
}
