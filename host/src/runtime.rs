//! The host runtime of one data directory: the sandbox engine (with its
//! compile cache), the database and the egress layer, loaded skills and
//! agents, and the path of a tool call through policy, checks and sandbox.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::agent::{self, Agent};
use crate::config::{AgentConfig, AgentId, ConfigError, HostConfig};
use crate::db::Db;
use crate::egress::Egress;
use crate::policy::AgentPolicy;
use crate::sandbox::{Call, CallError, CallErrorKind, CallReport, Sandbox};
use crate::skill::{self, LoadError, Skill};

pub struct Runtime {
    host: HostConfig,
    sandbox: Sandbox,
    db: Db,
    egress: Egress,
    /// Skills by canonical directory, loaded once and shared by agents.
    skills: Mutex<HashMap<PathBuf, Arc<Skill>>>,
}

/// Why an agent could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Skill(#[from] LoadError),
}

impl Runtime {
    /// Open the runtime of `host`'s data directory, creating it if needed:
    /// compiled components go to `cache/`, durable state to `db/`.
    pub fn open(host: &HostConfig) -> anyhow::Result<Runtime> {
        let data_dir = &host.data_dir;
        std::fs::create_dir_all(data_dir).map_err(|e| {
            anyhow::anyhow!("cannot create the data dir {}: {e}", data_dir.display())
        })?;
        let db = Db::open(&data_dir.join("db"))?;
        Ok(Runtime {
            sandbox: Sandbox::new(&host.sandbox)?,
            db,
            egress: Egress::new(host.hosts.clone()),
            host: host.clone(),
            skills: Mutex::new(HashMap::new()),
        })
    }

    pub fn host(&self) -> &HostConfig {
        &self.host
    }

    pub fn data_dir(&self) -> &Path {
        &self.host.data_dir
    }

    pub fn sandbox(&self) -> &Sandbox {
        &self.sandbox
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    /// The skill in `dir`, loaded (and compiled) once per runtime.
    pub fn load_skill(&self, dir: &Path) -> Result<Arc<Skill>, LoadError> {
        let key = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_owned());
        if let Some(skill) = self.lock_skills().get(&key) {
            return Ok(skill.clone());
        }
        let skill = Arc::new(Skill::load(&self.sandbox, dir)?);
        self.lock_skills().insert(key, skill.clone());
        Ok(skill)
    }

    /// Load the skills `config` names and decide what each may do.
    pub fn load_agent(&self, config: &AgentConfig) -> Result<Agent, AgentError> {
        let manifests = agent::read_manifests(config)?;
        let policy = AgentPolicy::build(config, &self.host, &manifests, &self.egress)?;
        let mut skills = BTreeMap::new();
        for (name, entry) in &config.skills {
            skills.insert(name.clone(), self.load_skill(&entry.path)?);
        }
        Ok(Agent { policy, skills })
    }

    /// A one-skill agent for running `skill` directly (see
    /// [`AgentPolicy::local`]).
    pub fn local_agent(&self, id: &AgentId, skill: Arc<Skill>) -> Agent {
        Agent {
            policy: AgentPolicy::local(id, &skill.manifest, &self.host),
            skills: BTreeMap::from([(skill.name().to_owned(), skill)]),
        }
    }

    /// Call `tool` of `skill` for `agent`. A tool the agent may not call is
    /// refused before any sandbox exists.
    pub async fn call(&self, agent: &Agent, skill: &str, tool: &str, input: &str) -> CallReport {
        let refused = |kind| CallReport {
            result: Err(CallError {
                skill: skill.to_owned(),
                tool: tool.to_owned(),
                kind,
            }),
            logs: Vec::new(),
        };
        let policy = match agent.policy.authorize(skill, tool) {
            Ok(policy) => policy,
            Err(why) => return refused(CallErrorKind::Denied(why)),
        };
        let loaded = &agent.skills[skill];
        if let Err(kind) = loaded.check_input(tool, input, &policy.limits) {
            return refused(kind);
        }
        let mut report = self
            .sandbox
            .run(
                loaded.prepared(),
                Call {
                    skill,
                    tool,
                    input,
                    limits: policy.limits,
                    caps: policy.call_caps(&self.db),
                },
            )
            .await;
        if let Ok(output) = &report.result
            && let Err(kind) = skill::check_output(output)
        {
            report.result = Err(CallError {
                skill: skill.to_owned(),
                tool: tool.to_owned(),
                kind,
            });
        }
        report
    }

    fn lock_skills(&self) -> std::sync::MutexGuard<'_, HashMap<PathBuf, Arc<Skill>>> {
        self.skills.lock().unwrap_or_else(|e| e.into_inner())
    }
}
