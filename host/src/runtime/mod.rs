//! The host runtime of one data directory: the sandbox engine (with its
//! compile cache), the database and the egress layer, loaded skills and
//! agents, and the path of a tool call through policy, checks and sandbox.

mod agent;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use crate::caps::{CallCaps, CallContext};
use crate::config::{
    AgentConfig, ConfigError, HostConfig, Manifest, NetGrant, RegistryConfig, read_secret,
};
use crate::consent::{CallConsent, ConsentBroker, Session, Verdict};
use crate::db::{Db, DbError, audit};
use crate::egress::{Egress, EgressRules};
use crate::inference::Inference;
use crate::market::{self, SkillLocation};
use crate::metrics::{AgentLabels, Metrics};
use crate::policy::{AgentPolicy, Authorization, SkillPolicy};
use crate::prompt::{PromptQueue, Webhook};
use crate::redact::SecretScanner;
use crate::sandbox::{Call, CallError, CallErrorKind, CallReport, Sandbox, SandboxError};
use crate::skill::{self, LoadError, Skill};
use crate::vocab::{AgentId, Capability, Deadline, MemoryBudget, Mode, NetPattern};

pub use agent::Agent;
pub(crate) use agent::read_manifests;

/// A skill once loaded; locked while it loads.
type SkillSlot = Arc<Mutex<Option<Arc<Skill>>>>;

pub struct Runtime {
    host: HostConfig,
    sandbox: Sandbox,
    db: Db,
    egress: Egress,
    consent: Arc<ConsentBroker>,
    inference: Arc<Inference>,
    metrics: Arc<Metrics>,
    /// Skills by canonical directory, loaded once and shared by agents.
    skills: Mutex<HashMap<PathBuf, SkillSlot>>,
    /// The registries and keys installed skills are checked against: the
    /// host's, then those of each configuration reloaded since, since an
    /// install through a running server may trust a new key.
    registries: RwLock<Arc<BTreeMap<String, RegistryConfig>>>,
    /// Each agent's share of the instance pool, by agent.
    shares: Mutex<HashMap<AgentId, Arc<tokio::sync::Semaphore>>>,
}

/// Why an agent could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Skill(#[from] LoadError),
}

/// Why the runtime of a data directory could not open.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("cannot create the data dir {}: {error}", dir.display())]
    DataDir { dir: PathBuf, error: std::io::Error },
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Sandbox(#[from] SandboxError),
}

/// What agent `config` may do, and its skills' manifests: every check of
/// loading it, without compiling a component or checking installed files.
pub(crate) fn decide(
    host: &HostConfig,
    egress: &Egress,
    config: &AgentConfig,
) -> Result<(AgentPolicy, BTreeMap<String, Manifest>), ConfigError> {
    let located = market::locate(host, config)?;
    decide_located(host, egress, config, &located)
}

/// What agent `config` may do, its skills being where `located` says.
fn decide_located(
    host: &HostConfig,
    egress: &Egress,
    config: &AgentConfig,
    located: &BTreeMap<String, SkillLocation>,
) -> Result<(AgentPolicy, BTreeMap<String, Manifest>), ConfigError> {
    let manifests = read_manifests(config, located)?;
    let policy = AgentPolicy::build(config, host, &manifests, egress)?;
    Ok((policy, manifests))
}

impl Runtime {
    /// Open the runtime of `host`'s data directory, creating it if needed:
    /// compiled components go to `cache/`, durable state to `db/`.
    pub fn open(host: &HostConfig) -> Result<Runtime, OpenError> {
        let data_dir = &host.data_dir;
        std::fs::create_dir_all(data_dir).map_err(|error| OpenError::DataDir {
            dir: data_dir.clone(),
            error,
        })?;
        let db = Db::in_data_dir(data_dir)?;
        let egress = Egress::new(host.hosts.clone());
        let metrics = Arc::new(Metrics::new(host.server.metrics_agent_labels));
        Ok(Runtime {
            sandbox: Sandbox::new(&host.sandbox)?,
            consent: Arc::new(ConsentBroker::new(db.clone(), metrics.clone())),
            inference: Arc::new(Inference::new(host, &egress, db.clone(), metrics.clone())),
            metrics,
            db,
            egress,
            host: host.clone(),
            skills: Mutex::new(HashMap::new()),
            registries: RwLock::new(Arc::new(host.registries.clone())),
            shares: Mutex::new(HashMap::new()),
        })
    }

    /// Check installed skills against `registries` from now on.
    pub(crate) fn trust(&self, registries: BTreeMap<String, RegistryConfig>) {
        *self.registries.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(registries);
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

    /// The consent broker; attach a prompt channel to it to ask people.
    pub fn consent(&self) -> &Arc<ConsentBroker> {
        &self.consent
    }

    /// The shared inference service.
    pub fn inference(&self) -> &Arc<Inference> {
        &self.inference
    }

    /// What the runtime counts.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    pub fn egress(&self) -> &Egress {
        &self.egress
    }

    /// The prompt webhook the host configuration names, if any; prompts it
    /// does not answer at once wait in `queue`. The operator named its URL,
    /// so it may be a private address. An error if its secret is unreadable.
    pub fn webhook(&self, queue: Arc<PromptQueue>) -> Result<Option<Webhook>, ConfigError> {
        let Some(webhook) = &self.host.consent_webhook else {
            return Ok(None);
        };
        let secret = read_secret(&webhook.secret, &self.host.dir).map_err(|e| ConfigError {
            file: self.host.dir.join(crate::config::HOST_FILE),
            line: None,
            field: "consent.webhook_secret".into(),
            message: e.to_string(),
        })?;
        let pattern = NetPattern::parse(&webhook.url.origin().ascii_serialization())
            .expect("checked when the configuration was read");
        let access = self.egress.network_access(EgressRules {
            agent: AgentId::new("host").expect("a valid id"),
            skill: "consent-webhook".into(),
            allow: vec![NetGrant {
                pattern,
                allow_private: true,
            }],
            requested: Vec::new(),
            secrets: Vec::new(),
            scanner: Arc::new(SecretScanner::new([])),
        });
        Ok(Some(Webhook::new(
            webhook.url.to_string(),
            &secret,
            webhook.trust_answers,
            Arc::new(access),
            queue,
        )))
    }

    /// The skill in `dir`, loaded (and compiled) once per runtime: callers
    /// that ask for it at once wait for the one load.
    pub fn load_skill(&self, dir: &Path) -> Result<Arc<Skill>, LoadError> {
        let key = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_owned());
        let slot = self.lock_skills().entry(key).or_default().clone();
        let mut slot = slot.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(skill) = &*slot {
            return Ok(skill.clone());
        }
        let skill = Arc::new(Skill::load(&self.sandbox, dir)?);
        *slot = Some(skill.clone());
        Ok(skill)
    }

    /// Load the skills `config` names and decide what each may do.
    pub fn load_agent(&self, config: &AgentConfig) -> Result<Agent, AgentError> {
        let located = market::locate(&self.host, config)?;
        // Installed skills are checked against their signatures before any
        // of their files is read for use.
        let registries = self
            .registries
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        for (name, location) in &located {
            if let Some(locked) = &location.installed {
                let verified = market::verify(&self.host.data_dir, &registries, &self.db, locked);
                verified.map_err(|why| ConfigError {
                    file: config.file.clone(),
                    line: Some(config.skills[name].line),
                    field: format!("skills.{name}.installed"),
                    message: why.to_string(),
                })?;
            }
        }
        let (policy, _) = decide_located(&self.host, &self.egress, config, &located)?;
        let mut skills = BTreeMap::new();
        for (name, SkillLocation { dir, .. }) in &located {
            skills.insert(name.clone(), self.load_skill(dir)?);
        }
        let inference = config
            .inference
            .clone()
            .map(|settings| self.inference.client(&config.id, settings));
        Ok(Agent {
            tally: self.tally(&config.id, &skills),
            policy,
            skills,
            inference,
            prompts: config.prompts.clone(),
            share: self.share_of(&config.id),
        })
    }

    /// A one-skill agent for running `skill` directly (see
    /// [`AgentPolicy::local`]).
    pub fn local_agent(&self, id: &AgentId, skill: Arc<Skill>) -> Agent {
        let skills = BTreeMap::from([(skill.name().to_owned(), skill.clone())]);
        Agent {
            policy: AgentPolicy::local(id, &skill.manifest, &self.host, &self.egress),
            tally: self.tally(id, &skills),
            skills,
            inference: None,
            prompts: Default::default(),
            share: self.share_of(id),
        }
    }

    /// A tally of `id`'s calls to the tools of `skills`, for the audit.
    fn tally(&self, id: &AgentId, skills: &BTreeMap<String, Arc<Skill>>) -> Arc<audit::Tally> {
        let names: Vec<(Arc<str>, &str)> = skills
            .iter()
            .flat_map(|(name, skill)| {
                let name: Arc<str> = name.as_str().into();
                skill
                    .manifest
                    .tools
                    .iter()
                    .map(move |tool| (name.clone(), tool.name.as_str()))
            })
            .collect();
        self.db
            .tally(id, names.iter().map(|(skill, tool)| (skill, *tool)))
    }

    /// Agent `id`'s share of the instance pool: `max_calls_per_agent`
    /// calls at once.
    fn share_of(&self, id: &AgentId) -> Arc<tokio::sync::Semaphore> {
        let calls = usize::try_from(self.host.sandbox.max_calls_per_agent).unwrap_or(usize::MAX);
        self.shares
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(id.clone())
            .or_insert_with(|| Arc::new(tokio::sync::Semaphore::new(calls)))
            .clone()
    }

    /// Call `tool` of `skill` for `agent`, in `session`. A tool the agent
    /// may not call is refused (or, with consent mode `ask`, asked about)
    /// before any sandbox exists.
    pub async fn call(
        &self,
        agent: &Agent,
        session: &Session,
        skill: &str,
        tool: &str,
        input: &str,
    ) -> CallReport {
        let started = std::time::Instant::now();
        let report = self.checked_call(agent, session, skill, tool, input).await;
        let outcome = match &report.result {
            Ok(_) => "ok",
            Err(e) => e.kind.outcome(),
        };
        // Names the agent has, not whatever a caller or model sent: the
        // series stay bounded.
        let known = agent
            .skills
            .get(skill)
            .is_some_and(|s| s.manifest.tools.iter().any(|t| t.name == tool));
        let (skill, tool) = if known {
            (skill, tool)
        } else {
            ("_unknown", "_unknown")
        };
        self.metrics
            .tool_call(agent.id(), skill, tool, outcome, started.elapsed());
        report
    }

    async fn checked_call(
        &self,
        agent: &Agent,
        session: &Session,
        skill: &str,
        tool: &str,
        input: &str,
    ) -> CallReport {
        let refused = |kind| CallReport {
            result: Err(CallError {
                skill: skill.to_owned(),
                tool: tool.to_owned(),
                kind,
            }),
            logs: Vec::new(),
        };
        let (policy, consent, deadline) = match self.admit(agent, session, skill, tool, input).await
        {
            Ok(admitted) => admitted,
            Err(kind) => return refused(kind),
        };
        let loaded = &agent.skills[skill];
        let budget = Arc::new(MemoryBudget::new(policy.limits.memory.as_u64()));
        let call = CallContext {
            agent: agent.id(),
            budget: &budget,
            skill: &policy.skill,
            limits: &policy.limits,
            consent: &consent,
            secrets: &agent.policy.secrets,
            db: &self.db,
            models: agent.inference.as_ref(),
        };
        let caps = match CallCaps::prepare(&policy.grants, &call).await {
            Ok(caps) => caps,
            Err(e) => return refused(CallErrorKind::Failed(e.to_string())),
        };
        self.metrics
            .sandboxes
            .get_or_create(&AgentLabels {
                agent: self.metrics.agent(agent.id()),
            })
            .inc();
        let mut report = self
            .sandbox
            .run(
                loaded.prepared(),
                Call {
                    skill,
                    tool,
                    input,
                    limits: policy.limits,
                    caps,
                    deadline,
                    share: agent.share.clone(),
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

    /// Whether the call may run: the agent allows the tool, or a person
    /// does, and the input is what the tool accepts. A refused tool is
    /// refused before its input is read; a person is asked only about input
    /// the tool accepts.
    async fn admit<'a>(
        &self,
        agent: &'a Agent,
        session: &Session,
        skill: &str,
        tool: &str,
        input: &str,
    ) -> Result<(&'a SkillPolicy, CallConsent, Deadline), CallErrorKind> {
        let (policy, needs_consent, denied) = match agent.policy.authorize(skill, tool) {
            Authorization::Granted(policy) => (policy, None, None),
            Authorization::NeedsConsent(policy, why) => (policy, Some(why), None),
            Authorization::Denied(policy, why) => (policy, None, Some(why)),
            Authorization::NoSuchSkill(why) => return Err(CallErrorKind::Denied(why)),
        };
        let deadline = Deadline::after(policy.limits.timeout);
        let consent = CallConsent::new(
            self.consent.clone(),
            agent.id().clone(),
            agent.policy.consent.clone(),
            session.clone(),
            policy.skill.clone(),
            tool,
            input,
            agent.policy.secrets.clone(),
            deadline.clone(),
        );
        let capability = || Capability::Tool {
            tool: format!("{skill}.{tool}"),
        };
        if let Some(why) = denied {
            // On record, and nobody asked.
            consent.refuse(&capability().to_string(), why.clone());
            return Err(CallErrorKind::Denied(why));
        }
        let ask = |why: String| {
            let capability = capability();
            let consent = &consent;
            async move { consent.decide(capability, &why).await }
        };
        if let Some(why) = &needs_consent
            && consent.mode() == Mode::Deny
            && let Verdict::Denied(why) = ask(why.clone()).await
        {
            return Err(CallErrorKind::Denied(why));
        }
        agent.skills[skill].check_input(tool, input, &policy.limits)?;
        match needs_consent {
            Some(why) if consent.mode() != Mode::Deny => {
                if let Verdict::Denied(why) = ask(why).await {
                    return Err(CallErrorKind::Denied(why));
                }
            }
            Some(_) => {}
            // Nothing is allowed unrecorded.
            None => {
                self.db
                    .audit_healthy()
                    .map_err(|e| CallErrorKind::Denied(e.to_string()))?;
                agent.tally.count(skill, tool);
            }
        }
        Ok((policy, consent, deadline))
    }

    fn lock_skills(&self) -> std::sync::MutexGuard<'_, HashMap<PathBuf, SkillSlot>> {
        self.skills.lock().unwrap_or_else(|e| e.into_inner())
    }
}
