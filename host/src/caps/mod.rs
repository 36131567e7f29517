//! Host capabilities: one module for each thing a skill may be granted.
//!
//! Every capability has the same parts, in the shape of wasmtime-wasi's
//! views and Spin's factors:
//!
//! - its **grant type**: what a skill holds in an agent;
//! - [`HostCapability::grant`], the **load-time decision**: what the skill's
//!   manifest asks for ∩ what the agent's file grants. A grant the manifest
//!   never asked for is an error naming the field, never a widening;
//! - its **words for people** ([`HostCapability::asked`], `granted`,
//!   `not_granted`, `on_install`), used by `agent explain`, the install
//!   review and errors alike;
//! - [`HostCapability::prepare`], the **state of one call**, made from the
//!   grant alone;
//! - `add_to_linker`, over a **view trait** of its own, so that no
//!   capability names the sandbox's store type.
//!
//! A capability only uses the grant it was handed, and refuses with
//! `denied` when it was handed none. Adding one is a module here and its
//! WIT; its line in [`SkillGrants`] (decide, granted, not_granted),
//! [`asked`], [`on_install`], [`CallCaps`] and [`add_to_linker`]; and, if it
//! has an import, its view in [`CallView`], which the sandbox's store
//! implements.

mod bindings;
pub(crate) mod consent;
pub(crate) mod fs;
pub(crate) mod http;
pub(crate) mod inference;
pub(crate) mod log;
pub(crate) mod memory;
pub(crate) mod secrets;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;

use wasmtime::component::{HasSelf, Linker};

use crate::config::{AgentConfig, Capabilities, ConfigError, HostConfig, Manifest, SkillEntry};
use crate::consent::CallConsent;
use crate::db::Db;
use crate::egress::Egress;
use crate::inference::AgentClient;
use crate::redact::SecretScanner;
use crate::vocab::{AgentId, Limits, MemoryBudget};

pub(crate) use bindings::skillbox::skill::types;

/// The shape every host capability has.
pub(crate) trait HostCapability {
    /// What a skill holds in an agent: decided once, when the agent loads.
    type Grant;
    /// What one call holds.
    type State;

    /// What the manifest asks for ∩ what the agent's file grants; `None`
    /// when the agent grants nothing of it.
    fn grant(cx: &GrantContext<'_>) -> Result<Option<Self::Grant>, ConfigError>;

    /// What a manifest asks for of this capability, in words.
    fn asked(_asks: &Capabilities) -> Vec<Words> {
        Vec::new()
    }

    /// What a grant gives, in words.
    fn granted(_grant: &Self::Grant) -> Vec<String> {
        Vec::new()
    }

    /// What the manifest asks for and the grant does not give, in words.
    fn not_granted(_asks: &Capabilities, _grant: Option<&Self::Grant>) -> Vec<String> {
        Vec::new()
    }

    /// What installing a skill that asks for `asks` grants of this
    /// capability in the agent's file.
    fn on_install(_asks: &Capabilities) -> OnInstall {
        OnInstall::Nothing
    }

    /// The state of one call, from the skill's grant (if any).
    fn prepare(
        grant: Option<&Self::Grant>,
        call: &CallContext<'_>,
    ) -> impl Future<Output = Result<Self::State, CapError>> + Send;
}

/// What an install writes into an agent's file for one capability.
pub(crate) enum OnInstall {
    /// The manifest does not ask for it, or it needs no grant.
    Nothing,
    /// `key = value` under `[skills.<name>.grants]`.
    Grant(&'static str, toml_edit::Item),
    /// What only the operator can choose (a mount, where a secret comes
    /// from), in words saying what to add.
    Left(Vec<String>),
}

/// What a load-time decision looks at: one skill of one agent.
pub(crate) struct GrantContext<'a> {
    pub agent: &'a AgentConfig,
    pub host: &'a HostConfig,
    pub skill: &'a str,
    /// The skill's entry in the agent's file: what it grants.
    pub entry: &'a SkillEntry,
    /// The skill's manifest: what it asks for.
    pub manifest: &'a Manifest,
    /// A local agent, running one skill directly with no configuration:
    /// its state is its own, and nothing it has reaches outside the host.
    pub local: bool,
    /// The way out a network grant opens.
    pub egress: &'a Egress,
    /// The secrets of every skill of the agent, decided before anything
    /// else: each skill's requests are scanned for all of them.
    pub secrets: &'a AgentSecrets,
}

impl GrantContext<'_> {
    /// An error about `field` of the skill's grants, on `line` of the
    /// agent's file.
    pub(crate) fn error(
        &self,
        field: &str,
        line: usize,
        message: impl Into<String>,
    ) -> ConfigError {
        ConfigError {
            file: self.agent.file.clone(),
            line: Some(line),
            field: format!("skills.{}.grants.{field}", self.skill),
            message: message.into(),
        }
    }
}

/// The secrets of an agent: each skill's, and one scanner for all.
#[derive(Default)]
pub(crate) struct AgentSecrets {
    by_skill: BTreeMap<String, secrets::SecretsGrant>,
    pub scanner: Arc<SecretScanner>,
}

impl AgentSecrets {
    /// The secrets bound to `skill`.
    pub(crate) fn of(&self, skill: &str) -> Option<&secrets::SecretsGrant> {
        self.by_skill.get(skill)
    }
}

/// What preparing one call looks at.
pub(crate) struct CallContext<'a> {
    pub agent: &'a AgentId,
    pub skill: &'a Arc<str>,
    pub limits: &'a Limits,
    pub consent: &'a CallConsent,
    /// The call's memory budget, which what the host holds is drawn from.
    pub budget: &'a Arc<MemoryBudget>,
    /// The agent's secrets, to mask in what the call leaves behind.
    pub secrets: &'a Arc<SecretScanner>,
    pub db: &'a Db,
    /// The agent's access to inference, if it has models.
    pub models: Option<&'a AgentClient>,
}

/// A call's capability could not be prepared.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CapError {
    #[error(transparent)]
    Mount(#[from] fs::MountError),
}

/// One thing a manifest asks for, in words: a term for lists
/// (`network https://api.github.com`) and a sentence for a person deciding
/// whether to install (`may send HTTPS requests to api.github.com`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Words {
    pub term: String,
    pub sentence: String,
}

/// What one skill holds in one agent, capability by capability.
#[derive(Debug)]
pub(crate) struct SkillGrants {
    pub log: Option<()>,
    pub memory: Option<memory::MemoryGrant>,
    pub inference: Option<inference::InferenceGrant>,
    pub consent: Option<()>,
    pub network: Option<http::NetworkGrant>,
    pub fs: Option<fs::FsGrant>,
    pub secrets: Option<secrets::SecretsGrant>,
}

impl SkillGrants {
    /// Decide what every capability grants each skill of `agent`, whose
    /// manifests are `manifests`: secrets first (every skill's requests are
    /// scanned for all of them), then the rest, skill by skill.
    pub(crate) fn decide_all(
        agent: &AgentConfig,
        host: &HostConfig,
        manifests: &BTreeMap<String, Manifest>,
        egress: &Egress,
        local: bool,
    ) -> Result<(BTreeMap<String, SkillGrants>, Arc<SecretScanner>), ConfigError> {
        let cx = |skill: &'_ str, secrets| {
            let (skill, entry) = agent
                .skills
                .get_key_value(skill)
                .expect("a configured skill");
            GrantContext {
                agent,
                host,
                skill,
                entry,
                manifest: &manifests[skill],
                local,
                egress,
                secrets,
            }
        };
        let none = AgentSecrets::default();
        let mut by_skill = BTreeMap::new();
        for skill in agent.skills.keys() {
            if let Some(grant) = secrets::Secrets::grant(&cx(skill, &none))? {
                by_skill.insert(skill.clone(), grant);
            }
        }
        let values = by_skill.values().flat_map(|s| &s.bindings);
        let scanner = Arc::new(SecretScanner::new(values.map(|b| b.value.as_str())));
        let secrets = AgentSecrets { by_skill, scanner };
        let mut decided = BTreeMap::new();
        for skill in agent.skills.keys() {
            decided.insert(skill.clone(), SkillGrants::decide(&cx(skill, &secrets))?);
        }
        Ok((decided, secrets.scanner))
    }

    /// Decide every capability of the skill in `cx`, its secrets being
    /// decided already.
    fn decide(cx: &GrantContext<'_>) -> Result<SkillGrants, ConfigError> {
        Ok(SkillGrants {
            log: log::Log::grant(cx)?,
            memory: memory::Memory::grant(cx)?,
            inference: inference::Inference::grant(cx)?,
            consent: consent::Consent::grant(cx)?,
            network: http::Http::grant(cx)?,
            fs: fs::Fs::grant(cx)?,
            secrets: cx.secrets.of(cx.skill).cloned(),
        })
    }

    /// What these grants give, in words. Secrets are listed with the
    /// network access they travel by.
    pub(crate) fn granted(&self) -> Vec<String> {
        let mut words = Vec::new();
        words.extend(self.memory.iter().flat_map(memory::Memory::granted));
        let models = self.inference.iter();
        words.extend(models.flat_map(inference::Inference::granted));
        if let Some(network) = &self.network {
            words.extend(http::Http::granted(network));
            words.extend(self.secrets.iter().flat_map(secrets::Secrets::granted));
        }
        words.extend(self.fs.iter().flat_map(fs::Fs::granted));
        words
    }

    /// What `asks` holds that these grants do not give, in words.
    pub(crate) fn not_granted(&self, asks: &Capabilities) -> Vec<String> {
        let mut words = memory::Memory::not_granted(asks, self.memory.as_ref());
        let models = self.inference.as_ref();
        words.extend(inference::Inference::not_granted(asks, models));
        words.extend(http::Http::not_granted(asks, self.network.as_ref()));
        words.extend(fs::Fs::not_granted(asks, self.fs.as_ref()));
        words.extend(secrets::Secrets::not_granted(asks, self.secrets.as_ref()));
        words
    }
}

/// What a manifest asks for, in words, capability by capability.
pub(crate) fn asked(asks: &Capabilities) -> Vec<Words> {
    let mut words = memory::Memory::asked(asks);
    words.extend(inference::Inference::asked(asks));
    words.extend(http::Http::asked(asks));
    words.extend(fs::Fs::asked(asks));
    words.extend(secrets::Secrets::asked(asks));
    words
}

/// What installing a skill that asks for `asks` writes into the agent's
/// file: the grants (`[skills.<name>.grants]`), and what is left to the
/// operator, in words.
pub(crate) fn on_install(asks: &Capabilities) -> (toml_edit::Table, Vec<String>) {
    let mut grants = toml_edit::Table::new();
    let mut left = Vec::new();
    for decided in [
        memory::Memory::on_install(asks),
        inference::Inference::on_install(asks),
        http::Http::on_install(asks),
        fs::Fs::on_install(asks),
        secrets::Secrets::on_install(asks),
    ] {
        match decided {
            OnInstall::Nothing => {}
            OnInstall::Grant(key, value) => grants[key] = value,
            OnInstall::Left(words) => left.extend(words),
        }
    }
    (grants, left)
}

/// The capabilities of one call.
pub struct CallCaps {
    pub log: log::LogCap,
    pub memory: memory::MemoryCap,
    pub inference: inference::InferenceCap,
    pub consent: consent::ConsentCap,
    pub http: http::HttpCap,
    pub fs: fs::FsCap,
    /// The call's memory, shared by the guest and what the host holds.
    pub budget: Arc<MemoryBudget>,
}

impl CallCaps {
    /// Prepare every capability of one call from the skill's grants.
    pub(crate) async fn prepare(
        grants: &SkillGrants,
        call: &CallContext<'_>,
    ) -> Result<CallCaps, CapError> {
        Ok(CallCaps {
            log: log::Log::prepare(grants.log.as_ref(), call).await?,
            memory: memory::Memory::prepare(grants.memory.as_ref(), call).await?,
            inference: inference::Inference::prepare(grants.inference.as_ref(), call).await?,
            consent: consent::Consent::prepare(grants.consent.as_ref(), call).await?,
            http: http::Http::prepare(grants.network.as_ref(), call).await?,
            fs: fs::Fs::prepare(grants.fs.as_ref(), call).await?,
            budget: call.budget.clone(),
        })
    }
}

/// The view of a call's store that the linker needs: WASI, outgoing HTTP
/// and every skillbox interface.
pub(crate) trait CallView:
    wasmtime_wasi::WasiView
    + wasmtime_wasi_http::WasiHttpView
    + types::Host
    + log::LogView
    + memory::MemoryView
    + inference::InferenceView
    + consent::ConsentView
    + fs::FsView
    + Send
    + 'static
{
}

/// Link every host import into `linker`: WASI 0.2 (sandboxed by the
/// per-call `WasiCtx`), outgoing HTTP, and the skillbox interfaces.
pub(crate) fn add_to_linker<T: CallView>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    wasmtime_wasi::p2::add_to_linker_async(linker)?;
    fs::add_to_linker(linker)?;
    http::add_to_linker(linker)?;
    types::add_to_linker::<T, HasSelf<T>>(linker, |state| state)?;
    log::add_to_linker(linker)?;
    memory::add_to_linker(linker)?;
    inference::add_to_linker(linker)?;
    consent::add_to_linker(linker)?;
    Ok(())
}
