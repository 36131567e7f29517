//! The host runtime of one data directory: the sandbox engine (with its
//! compile cache) and the database, and the path of a tool call through
//! policy, checks and sandbox.

use std::path::{Path, PathBuf};

use crate::config::AgentId;
use crate::db::Db;
use crate::policy::SkillPolicy;
use crate::sandbox::{Call, CallError, CallReport, Limits, Sandbox, SandboxConfig};
use crate::skill::{self, LoadError, Skill};

pub struct Runtime {
    sandbox: Sandbox,
    db: Db,
    data_dir: PathBuf,
}

impl Runtime {
    /// Open the runtime of `data_dir`, creating it if needed: compiled
    /// components go to `cache/`, durable state to `db/`.
    pub fn open(data_dir: &Path) -> anyhow::Result<Runtime> {
        Self::with_config(
            data_dir,
            SandboxConfig {
                cache_dir: Some(data_dir.join("cache").join("components")),
                ..SandboxConfig::default()
            },
        )
    }

    pub fn with_config(data_dir: &Path, config: SandboxConfig) -> anyhow::Result<Runtime> {
        std::fs::create_dir_all(data_dir).map_err(|e| {
            anyhow::anyhow!("cannot create the data dir {}: {e}", data_dir.display())
        })?;
        let db = Db::open(&data_dir.join("db"))?;
        Ok(Runtime {
            sandbox: Sandbox::new(&config)?,
            db,
            data_dir: data_dir.to_owned(),
        })
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    pub fn sandbox(&self) -> &Sandbox {
        &self.sandbox
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    pub fn load_skill(&self, dir: &Path) -> Result<Skill, LoadError> {
        Skill::load(&self.sandbox, dir)
    }

    /// Call `tool` of `skill` for `agent` with the host's maxima as ceiling.
    pub async fn call(
        &self,
        agent: &AgentId,
        skill: &Skill,
        tool: &str,
        input: &str,
    ) -> CallReport {
        let policy = SkillPolicy::new(&skill.manifest, &Limits::MAXIMUM);
        self.call_with(agent, skill, &policy, tool, input).await
    }

    /// Call `tool` of `skill` for `agent` under `policy`.
    pub async fn call_with(
        &self,
        agent: &AgentId,
        skill: &Skill,
        policy: &SkillPolicy,
        tool: &str,
        input: &str,
    ) -> CallReport {
        let refused = |kind| CallReport {
            result: Err(CallError {
                skill: skill.name().to_owned(),
                tool: tool.to_owned(),
                kind,
            }),
            logs: Vec::new(),
        };
        if let Err(kind) = skill.check_input(tool, input, &policy.limits) {
            return refused(kind);
        }
        let mut report = self
            .sandbox
            .run(
                skill.prepared(),
                Call {
                    skill: skill.name(),
                    tool,
                    input,
                    limits: policy.limits,
                    caps: policy.call_caps(agent, &self.db),
                },
            )
            .await;
        if let Ok(output) = &report.result
            && let Err(kind) = skill::check_output(output)
        {
            report.result = Err(CallError {
                skill: skill.name().to_owned(),
                tool: tool.to_owned(),
                kind,
            });
        }
        report
    }
}
