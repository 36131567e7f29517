//! `skillbox agent explain`: what each skill of an agent may do, in words.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::{AgentPolicy, SkillPolicy};
use crate::caps;
use crate::config::Manifest;

/// Where continued lines of a field start.
const INDENT: &str = "\n               ";

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
                if policy.tools.denies(name, &t.name) {
                    format!("{} (denied)", t.name)
                } else if policy.tools.allows(name, &t.name) {
                    t.name.clone()
                } else {
                    format!("{} (not allowed)", t.name)
                }
            })
            .collect();
        let _ = writeln!(out, "  tools        {}", tools.join(", "));
        let _ = writeln!(out, "  asks for     {}", asked(manifest).join(INDENT));
        let mut granted = skill.grants.granted();
        if granted.is_empty() {
            granted.push("nothing".into());
        }
        let _ = writeln!(out, "  granted      {}", granted.join(INDENT));
        if !skill.not_granted.is_empty() {
            let _ = writeln!(out, "  not granted  {}", skill.not_granted.join(INDENT));
        }
        let _ = writeln!(out, "  limits       {}", limits(skill).join(INDENT));
    }
    out
}

/// What a manifest asks for, one term each.
pub(crate) fn asked(manifest: &Manifest) -> Vec<String> {
    let asked: Vec<String> = caps::asked(&manifest.capabilities)
        .into_iter()
        .map(|words| words.term)
        .collect();
    match asked.is_empty() {
        true => vec!["nothing".to_owned()],
        false => asked,
    }
}

fn limits(skill: &SkillPolicy) -> Vec<String> {
    let l = &skill.limits;
    let mut limits = vec![format!(
        "memory {}, fuel {}, timeout {}, output {}, log {}",
        l.memory,
        l.fuel,
        humantime::format_duration(l.timeout),
        l.output,
        l.log
    )];
    if skill.grants.memory.is_some() {
        limits.push(format!(
            "memory quota {} in {} keys",
            l.memory_quota, l.memory_keys
        ));
    }
    if skill.grants.network.is_some() {
        limits.push(format!(
            "http: {} requests a call, responses up to {}, {} each",
            l.http_requests,
            l.http_response,
            humantime::format_duration(l.http_timeout)
        ));
    }
    limits
}
