//! `skillbox:skill/memory`: the skill's key/value namespace in its agent.
//!
//! The namespace is fixed by the host when the call starts: the guest names
//! keys, never agents or skills, so it cannot reach another namespace.

use std::sync::Arc;

use wasmtime::component::{HasSelf, Linker};

use crate::db::{Db, KvError, Namespace, Quota};
use crate::sandbox::CallState;
use crate::sandbox::bindings::skillbox::skill::memory as wit;
use crate::sandbox::bindings::skillbox::skill::types::Error;

/// Access to one (agent, skill) namespace, handed out by policy when the
/// skill asked for memory and the agent granted it.
#[derive(Clone)]
pub struct MemoryGrant {
    pub db: Db,
    /// Whose memory it is: an agent id, or `local:<id>` for a local agent.
    pub owner: Arc<str>,
    pub skill: Arc<str>,
    pub quota: Quota,
}

/// The memory capability of one call.
pub struct MemoryCap {
    grant: Option<MemoryGrant>,
    skill: Arc<str>,
    /// Opened on first use, so calls that never touch memory pay nothing.
    namespace: Option<Namespace>,
}

impl MemoryCap {
    pub fn new(skill: Arc<str>, grant: Option<MemoryGrant>) -> Self {
        Self {
            grant,
            skill,
            namespace: None,
        }
    }

    fn namespace(&mut self) -> Result<&Namespace, Error> {
        if self.namespace.is_none() {
            let Some(grant) = &self.grant else {
                return Err(Error::Denied(format!(
                    "memory is not granted to skill '{}' (its skill.toml must ask for it \
                     with `memory = true` under [capabilities])",
                    self.skill
                )));
            };
            let namespace = grant
                .db
                .namespace(&grant.owner, &grant.skill, grant.quota)
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

pub fn link(linker: &mut Linker<CallState>) -> wasmtime::Result<()> {
    wit::add_to_linker::<CallState, HasSelf<MemoryCap>>(linker, |state| &mut state.caps.memory)
}
