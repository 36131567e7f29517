//! `skillbox agent explain`: what each skill of an agent may do, in words.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::AgentPolicy;
use crate::config::Manifest;

pub(super) fn explain(policy: &AgentPolicy, manifests: &BTreeMap<String, Manifest>) -> String {
    let mut out = String::new();
    let consent = &policy.consent;
    let _ = writeln!(
        out,
        "agent {} (consent mode {}, prompts wait {}, with no one to ask: {})",
        policy.agent,
        format!("{:?}", consent.mode).to_lowercase(),
        humantime::format_duration(consent.timeout),
        format!("{:?}", consent.fallback).to_lowercase()
    );
    for (name, skill) in &policy.skills {
        let manifest = &manifests[name];
        let _ = writeln!(out, "\nskill {name} {}", manifest.version);

        let tools: Vec<String> = manifest
            .tools
            .iter()
            .map(|t| {
                let mark = if policy.tools.allows(name, &t.name) {
                    ""
                } else {
                    " (not allowed)"
                };
                format!("{}{mark}", t.name)
            })
            .collect();
        let _ = writeln!(out, "  tools        {}", tools.join(", "));
        let _ = writeln!(
            out,
            "  asks for     {}",
            asked(manifest).join("\n               ")
        );

        let mut granted = Vec::new();
        if skill.memory {
            granted.push("memory (its own namespace in this agent)".to_owned());
        }
        if let Some(grant) = skill.inference {
            granted.push(format!(
                "inference (up to {} tokens a call)",
                grant.max_tokens
            ));
        }
        if let Some(network) = &skill.network {
            for grant in &network.rules().allow {
                let private = if grant.allow_private {
                    ", private addresses allowed"
                } else {
                    ""
                };
                granted.push(format!("network {}{private}", grant.pattern));
            }
            for secret in &network.rules().secrets {
                let hosts: Vec<String> = secret.hosts.iter().map(ToString::to_string).collect();
                let ask = if secret.ask {
                    " (each use asks a person)"
                } else {
                    ""
                };
                granted.push(format!(
                    "secret {} as header '{}' to {}{ask}",
                    secret.name,
                    secret.header,
                    hosts.join(", ")
                ));
            }
        }
        let offered = skill
            .offered_mounts
            .iter()
            .map(|m| (m, " (each call asks a person)"));
        for (mount, ask) in skill.mounts.iter().map(|m| (m, "")).chain(offered) {
            granted.push(format!(
                "filesystem {} {} (host {}){ask}",
                mount.access,
                mount.guest,
                mount.host.display()
            ));
        }
        if granted.is_empty() {
            granted.push("nothing".into());
        }
        let _ = writeln!(out, "  granted      {}", granted.join("\n               "));
        if !skill.not_granted.is_empty() {
            let _ = writeln!(
                out,
                "  not granted  {}",
                skill.not_granted.join("\n               ")
            );
        }
        let l = &skill.limits;
        let mut limits = vec![format!(
            "memory {}, fuel {}, timeout {}, output {}, log {}",
            l.memory,
            l.fuel,
            humantime::format_duration(l.timeout),
            l.output,
            l.log
        )];
        if skill.memory {
            limits.push(format!(
                "memory quota {} in {} keys",
                l.memory_quota, l.memory_keys
            ));
        }
        if skill.network.is_some() {
            limits.push(format!(
                "http: {} requests a call, responses up to {}, {} each",
                l.http_requests,
                l.http_response,
                humantime::format_duration(l.http_timeout)
            ));
        }
        let _ = writeln!(out, "  limits       {}", limits.join("\n               "));
    }
    out
}

/// What a manifest asks for, one line each.
pub fn asked(manifest: &Manifest) -> Vec<String> {
    let caps = &manifest.capabilities;
    let mut asked = Vec::new();
    if caps.memory {
        asked.push("memory".to_owned());
    }
    if caps.inference {
        asked.push("inference".to_owned());
    }
    asked.extend(caps.network.iter().map(|p| format!("network {p}")));
    asked.extend(
        caps.filesystem
            .iter()
            .map(|r| format!("filesystem {} {}", r.access, r.guest)),
    );
    asked.extend(caps.secrets.iter().map(|(name, s)| {
        let hosts: Vec<String> = s.hosts.iter().map(ToString::to_string).collect();
        format!(
            "secret {name} as header '{}' to {}",
            s.header,
            hosts.join(", ")
        )
    }));
    if asked.is_empty() {
        asked.push("nothing".to_owned());
    }
    asked
}
