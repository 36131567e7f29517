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
//!   `not_granted`), used by `agent explain`, the install review and
//!   errors alike;
//! - [`HostCapability::prepare`], the **state of one call**;
//! - `add_to_linker`, over a **view trait** of its own, so that no
//!   capability names the sandbox's store type.
//!
//! A capability only uses the grant it was handed, and refuses with
//! `denied` when it was handed none. Adding one is a module here, its WIT,
//! and its line in [`SkillGrants`], [`CallCaps`] and [`add_to_linker`].

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

use std::future::Future;
use std::sync::Arc;

use wasmtime::component::{HasSelf, Linker};

use crate::config::{AgentConfig, Capabilities, ConfigError, HostConfig, Manifest, SkillEntry};
use crate::consent::CallConsent;
use crate::db::Db;
use crate::egress::NetworkAccess;
use crate::inference::AgentClient;
use crate::vocab::{AgentId, Limits};

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

    /// The state of one call, from the skill's grant (if any).
    fn prepare(
        grant: Option<&Self::Grant>,
        call: &CallContext<'_>,
    ) -> impl Future<Output = Result<Self::State, PrepareError>> + Send;
}

/// What a load-time decision looks at: one skill of one agent.
pub struct GrantContext<'a> {
    pub agent: &'a AgentConfig,
    pub host: &'a HostConfig,
    pub skill: &'a str,
    /// The skill's entry in the agent's file: what it grants.
    pub entry: &'a SkillEntry,
    /// The skill's manifest: what it asks for.
    pub manifest: &'a Manifest,
    /// A local agent, running one skill directly: its state is its own,
    /// apart from every configured agent's.
    pub local: bool,
}

impl GrantContext<'_> {
    /// An error about `field` of the skill's grants, on `line` of the
    /// agent's file.
    pub fn error(&self, field: &str, line: usize, message: impl Into<String>) -> ConfigError {
        ConfigError {
            file: self.agent.file.clone(),
            line: Some(line),
            field: format!("skills.{}.grants.{field}", self.skill),
            message: message.into(),
        }
    }
}

/// What preparing one call looks at.
pub struct CallContext<'a> {
    pub agent: &'a AgentId,
    pub skill: &'a Arc<str>,
    pub limits: &'a Limits,
    pub consent: &'a CallConsent,
    pub db: &'a Db,
    /// The agent's access to inference, if it has models.
    pub models: Option<&'a AgentClient>,
    /// The skill's way out to the network, if it has one.
    pub network: Option<&'a Arc<NetworkAccess>>,
}

/// A call's capability could not be prepared.
#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
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
pub struct SkillGrants {
    pub memory: Option<memory::MemoryGrant>,
    pub inference: Option<inference::InferenceGrant>,
    pub network: Option<http::NetworkGrant>,
    pub fs: Option<fs::FsGrant>,
    pub secrets: Option<secrets::SecretsGrant>,
}

impl SkillGrants {
    /// Decide every capability of the skill in `cx`.
    pub fn decide(cx: &GrantContext<'_>) -> Result<SkillGrants, ConfigError> {
        Ok(SkillGrants {
            memory: memory::Memory::grant(cx)?,
            inference: inference::Inference::grant(cx)?,
            network: http::Http::grant(cx)?,
            fs: fs::Fs::grant(cx)?,
            secrets: secrets::Secrets::grant(cx)?,
        })
    }

    /// What these grants give, in words.
    pub fn granted(&self) -> Vec<String> {
        let mut words = Vec::new();
        words.extend(self.memory.iter().flat_map(memory::Memory::granted));
        words.extend(
            self.inference
                .iter()
                .flat_map(inference::Inference::granted),
        );
        words.extend(self.network.iter().flat_map(http::Http::granted));
        words.extend(self.secrets.iter().flat_map(secrets::Secrets::granted));
        words.extend(self.fs.iter().flat_map(fs::Fs::granted));
        words
    }

    /// What `asks` holds that these grants do not give, in words.
    pub fn not_granted(&self, asks: &Capabilities) -> Vec<String> {
        let mut words = memory::Memory::not_granted(asks, self.memory.as_ref());
        words.extend(inference::Inference::not_granted(
            asks,
            self.inference.as_ref(),
        ));
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

/// The capabilities of one call.
pub struct CallCaps {
    pub log: log::LogCap,
    pub memory: memory::MemoryCap,
    pub inference: inference::InferenceCap,
    pub consent: consent::ConsentCap,
    pub http: http::HttpCap,
    pub fs: fs::FsCap,
}

impl CallCaps {
    /// Prepare every capability of one call from the skill's grants.
    pub async fn prepare(
        grants: &SkillGrants,
        call: &CallContext<'_>,
    ) -> Result<CallCaps, PrepareError> {
        Ok(CallCaps {
            log: log::Log::prepare(Some(&()), call).await?,
            memory: memory::Memory::prepare(grants.memory.as_ref(), call).await?,
            inference: inference::Inference::prepare(grants.inference.as_ref(), call).await?,
            consent: consent::Consent::prepare(Some(&()), call).await?,
            http: http::Http::prepare(grants.network.as_ref(), call).await?,
            fs: fs::Fs::prepare(grants.fs.as_ref(), call).await?,
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
    + Send
    + 'static
{
}

/// Link every host import into `linker`: WASI 0.2 (sandboxed by the
/// per-call `WasiCtx`), outgoing HTTP, and the skillbox interfaces.
pub(crate) fn add_to_linker<T: CallView>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    wasmtime_wasi::p2::add_to_linker_async(linker)?;
    http::add_to_linker(linker)?;
    types::add_to_linker::<T, HasSelf<T>>(linker, |state| state)?;
    log::add_to_linker(linker)?;
    memory::add_to_linker(linker)?;
    inference::add_to_linker(linker)?;
    consent::add_to_linker(linker)?;
    Ok(())
}
