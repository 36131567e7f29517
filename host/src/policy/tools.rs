//! Which tools an agent may call: `allow` and `deny` patterns over
//! `skill.tool` names, where `*` matches any run of characters. Deny always
//! wins: a denied tool is refused before any prompt, whatever the consent
//! mode and whatever answers are remembered. What no pattern names is for
//! the consent mode to decide. This is where a tool call is first checked,
//! before its input is read and before any sandbox exists.

use std::collections::BTreeMap;

use super::{AgentPolicy, SkillPolicy};
use crate::config::{AgentConfig, ConfigError, Manifest, ToolSpec};
use crate::vocab::{Mode, ToolPattern};

/// An agent's tool allowlist.
#[derive(Debug, Clone, Default)]
pub struct ToolRules {
    pub allow: Vec<ToolPattern>,
    pub deny: Vec<ToolPattern>,
}

/// What the allowlist says about a call.
pub(crate) enum Authorization<'a> {
    Granted(&'a SkillPolicy),
    /// Only with a person's consent, for this reason.
    NeedsConsent(&'a SkillPolicy, String),
    /// Denied by the agent: nobody is asked.
    Denied(&'a SkillPolicy, String),
    NoSuchSkill(String),
}

impl ToolRules {
    /// The rules of `agent`, whose skills' manifests are `manifests`. A
    /// pattern that matches no tool is an error: it is almost always a typo
    /// that would silently allow (or deny) nothing.
    pub fn new(
        agent: &AgentConfig,
        manifests: &BTreeMap<String, Manifest>,
    ) -> Result<ToolRules, ConfigError> {
        for (list, which) in [(&agent.allow, "allow"), (&agent.deny, "deny")] {
            for (i, pattern) in list.iter().enumerate() {
                let names_a_tool = manifests.iter().any(|(skill, m)| {
                    m.tools
                        .iter()
                        .any(|t| pattern.value.matches(skill, &t.name))
                });
                if !names_a_tool {
                    let skills: Vec<&str> = manifests.keys().map(String::as_str).collect();
                    return Err(ConfigError {
                        file: agent.file.clone(),
                        line: Some(pattern.line),
                        field: format!("tools.{which}[{i}]"),
                        message: format!(
                            "'{}' matches no tool of agent '{}' (its skills: {})",
                            pattern.value,
                            agent.id,
                            if skills.is_empty() {
                                "nothing".into()
                            } else {
                                skills.join(", ")
                            }
                        ),
                    });
                }
            }
        }
        Ok(ToolRules {
            allow: agent.allow.iter().map(|p| p.value.clone()).collect(),
            deny: agent.deny.iter().map(|p| p.value.clone()).collect(),
        })
    }

    pub fn allows(&self, skill: &str, tool: &str) -> bool {
        !self.denies(skill, tool) && self.allow.iter().any(|p| p.matches(skill, tool))
    }

    pub fn denies(&self, skill: &str, tool: &str) -> bool {
        self.deny.iter().any(|p| p.matches(skill, tool))
    }
}

impl AgentPolicy {
    /// Whether the agent may call `tool` of `skill`: by its allowlist, or
    /// with a person's consent.
    pub(crate) fn authorize(&self, skill: &str, tool: &str) -> Authorization<'_> {
        let Some(policy) = self.skills.get(skill) else {
            return Authorization::NoSuchSkill(format!(
                "agent '{}' has no skill '{skill}'",
                self.agent
            ));
        };
        if self.tools.denies(skill, tool) {
            let why = format!("denied for agent '{}' (tools.deny)", self.agent);
            return Authorization::Denied(policy, why);
        }
        if !self.tools.allows(skill, tool) {
            let why = format!("not allowed for agent '{}'", self.agent);
            return Authorization::NeedsConsent(policy, why);
        }
        if self.consent.mode == Mode::Always {
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
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(allow: &[&str], deny: &[&str]) -> ToolRules {
        let patterns = |list: &[&str]| {
            list.iter()
                .map(|p| ToolPattern::parse(p).unwrap())
                .collect()
        };
        ToolRules {
            allow: patterns(allow),
            deny: patterns(deny),
        }
    }

    #[test]
    fn deny_wins_and_nothing_is_allowed_by_default() {
        let r = rules(&["text.*", "web.fetch", "files.*"], &["files.delete"]);
        assert!(r.allows("text", "word_count"));
        assert!(r.allows("web", "fetch"));
        assert!(!r.allows("web", "post"));
        assert!(r.allows("files", "read"));
        assert!(!r.allows("files", "delete"));
        assert!(!r.allows("texts", "x"));
        assert!(!ToolRules::default().allows("text", "word_count"));
        assert!(rules(&["*"], &[]).allows("any", "thing"));
    }
}
