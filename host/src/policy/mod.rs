//! Who may do what: the effective capabilities and limits of a skill in an
//! agent, decided once, before any call, and handed to the sandbox as
//! capabilities. This is the one place grants are decided.
//!
//! A skill gets what its manifest asks for, within the host's maxima; the
//! agent's configuration narrows it further. Whatever is not granted here is
//! denied by the capability that would have used it.

use crate::caps::CallCaps;
use crate::caps::consent::ConsentCap;
use crate::caps::http::HttpCap;
use crate::caps::inference::InferenceCap;
use crate::caps::log::LogCap;
use crate::caps::memory::{MemoryCap, MemoryGrant};
use crate::config::{AgentId, Manifest};
use crate::db::{Db, Quota};
use crate::sandbox::Limits;

/// What a skill may use in an agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkillPolicy {
    pub skill: String,
    /// Its key/value namespace (`memory` import).
    pub memory: bool,
    pub limits: Limits,
}

impl SkillPolicy {
    /// The policy of `manifest`'s skill: what it asks for, with the limits
    /// its manifest requests (defaults otherwise), none above `ceiling`.
    pub fn new(manifest: &Manifest, ceiling: &Limits) -> SkillPolicy {
        SkillPolicy {
            skill: manifest.name.clone(),
            memory: manifest.capabilities.memory,
            limits: Limits::DEFAULT.with(&manifest.limits).capped_by(ceiling),
        }
    }

    /// The capabilities of one call of this skill in `agent`.
    pub fn call_caps(&self, agent: &AgentId, db: &Db) -> CallCaps {
        let skill = self.skill.as_str();
        let memory = self.memory.then(|| MemoryGrant {
            db: db.clone(),
            agent: agent.as_str().to_owned(),
            skill: skill.to_owned(),
            quota: Quota {
                bytes: self.limits.memory_quota.as_u64(),
                keys: self.limits.memory_keys,
            },
        });
        CallCaps {
            log: LogCap::new(usize::try_from(self.limits.log.as_u64()).unwrap_or(usize::MAX)),
            memory: MemoryCap::new(skill, memory),
            inference: InferenceCap::new(skill),
            consent: ConsentCap::new(skill),
            http: HttpCap::new(skill),
        }
    }
}
