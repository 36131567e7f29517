//! `skillbox:skill/memory`: the skill's key/value namespace in its agent.
//!
//! The namespace is fixed by the host when the call starts: the guest names
//! keys, never agents or skills, so it cannot reach another namespace.

use std::sync::Arc;

use wasmtime::component::{HasSelf, Linker};

use super::bindings::skillbox::skill::memory as wit;
use super::bindings::skillbox::skill::types::Error;
use super::{CallContext, CapError, GrantContext, HostCapability, OnInstall, Words};
use crate::config::{Capabilities, ConfigError};
use crate::db::{Db, KvError, Namespace, Quota};

/// The memory capability.
pub(crate) struct Memory;

/// Memory granted to a skill: its own namespace in `owner`.
#[derive(Debug, Clone)]
pub(crate) struct MemoryGrant {
    /// Whose memory it is: an agent id, or `local:<id>` for a local agent,
    /// which no configured agent can name.
    pub owner: Arc<str>,
}

impl HostCapability for Memory {
    type Grant = MemoryGrant;
    type State = MemoryCap;

    fn grant(cx: &GrantContext<'_>) -> Result<Option<MemoryGrant>, ConfigError> {
        let asked = cx.manifest.capabilities.memory;
        // A local agent's memory is its own: what the manifest asks for.
        let granted = match cx.local {
            true => asked,
            false => cx.entry.grants.memory,
        };
        if granted && !asked {
            return Err(cx.error(
                "memory",
                cx.entry.line,
                format!("grants memory, which skill '{}' does not ask for", cx.skill),
            ));
        }
        let owner = match cx.local {
            true => format!("local:{}", cx.agent.id).into(),
            false => cx.agent.id.as_str().into(),
        };
        Ok(granted.then_some(MemoryGrant { owner }))
    }

    fn asked(asks: &Capabilities) -> Vec<Words> {
        asks.memory
            .then(|| Words {
                term: "memory".into(),
                sentence: "may keep data in its own storage in this agent".into(),
            })
            .into_iter()
            .collect()
    }

    fn on_install(asks: &Capabilities) -> OnInstall {
        match asks.memory {
            true => OnInstall::Grant("memory", toml_edit::value(true)),
            false => OnInstall::Nothing,
        }
    }

    fn granted(_grant: &MemoryGrant) -> Vec<String> {
        vec!["memory (its own namespace in this agent)".into()]
    }

    fn not_granted(asks: &Capabilities, grant: Option<&MemoryGrant>) -> Vec<String> {
        match (asks.memory, grant) {
            (true, None) => vec!["memory".into()],
            _ => Vec::new(),
        }
    }

    async fn prepare(
        grant: Option<&MemoryGrant>,
        call: &CallContext<'_>,
    ) -> Result<MemoryCap, CapError> {
        let quota = Quota {
            bytes: call.limits.memory_quota.as_u64(),
            keys: call.limits.memory_keys,
        };
        Ok(MemoryCap {
            open: grant.map(|grant| Open {
                db: call.db.clone(),
                owner: grant.owner.clone(),
                quota,
            }),
            skill: call.skill.clone(),
            namespace: None,
        })
    }
}

/// The memory capability of one call.
pub struct MemoryCap {
    /// How to open the namespace, when memory is granted.
    open: Option<Open>,
    skill: Arc<str>,
    /// Opened on first use, so calls that never touch memory pay nothing.
    namespace: Option<Namespace>,
}

struct Open {
    db: Db,
    owner: Arc<str>,
    quota: Quota,
}

impl MemoryCap {
    fn namespace(&mut self) -> Result<&Namespace, Error> {
        if self.namespace.is_none() {
            let Some(open) = &self.open else {
                return Err(Error::Denied(format!(
                    "memory is not granted to skill '{}' (its skill.toml must ask for it \
                     with `memory = true` under [capabilities])",
                    self.skill
                )));
            };
            let namespace = open
                .db
                .namespace(&open.owner, &self.skill, open.quota)
                .map_err(|e| Error::Failed(e.to_string()))?;
            self.namespace = Some(namespace);
        }
        Ok(self.namespace.as_ref().expect("opened above"))
    }
}

impl From<KvError> for Error {
    fn from(e: KvError) -> Self {
        match e {
            KvError::Invalid(m) => Error::Invalid(m),
            KvError::LimitExceeded(m) => Error::LimitExceeded(m),
            KvError::Failed(m) => Error::Failed(m),
        }
    }
}

type Reply<T> = wasmtime::Result<Result<T, Error>>;

impl wit::Host for MemoryCap {
    async fn get(&mut self, key: String) -> Reply<Option<Vec<u8>>> {
        Ok(self.namespace().and_then(|ns| Ok(ns.get(&key)?)))
    }

    async fn set(&mut self, key: String, value: Vec<u8>) -> Reply<()> {
        Ok(match self.namespace() {
            Ok(ns) => ns.set(&key, &value).await.map_err(Error::from),
            Err(e) => Err(e),
        })
    }

    async fn delete(&mut self, key: String) -> Reply<bool> {
        Ok(match self.namespace() {
            Ok(ns) => ns.delete(&key).await.map_err(Error::from),
            Err(e) => Err(e),
        })
    }

    async fn list_keys(&mut self, prefix: String) -> Reply<Vec<String>> {
        Ok(self.namespace().and_then(|ns| Ok(ns.list(&prefix)?)))
    }
}

/// A store whose calls may use memory.
pub(crate) trait MemoryView: Send {
    fn memory(&mut self) -> &mut MemoryCap;
}

pub(crate) fn add_to_linker<T: MemoryView + 'static>(
    linker: &mut Linker<T>,
) -> wasmtime::Result<()> {
    wit::add_to_linker::<T, HasSelf<MemoryCap>>(linker, T::memory)
}
