//! What `skillbox serve` serves: the runtime of one data directory and the
//! agents of one configuration directory.
//!
//! Agents are read at start and on reload, but loaded (skills, policy,
//! model client) only when first used: an idle agent is its parsed
//! configuration, and its state stays in sled. A reload is checked whole
//! before it replaces anything; turns already running finish with the
//! agent they started with.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::auth::Strikes;
use super::error::ApiError;
use super::tokens::Tokens;
use crate::config::{AgentConfig, ConfigDir, ConfigError, HOST_FILE, ServerConfig};
use crate::prompt::PromptQueue;
use crate::runtime::{self, Agent, Runtime};
use crate::vocab::AgentId;

pub(crate) struct Served {
    pub runtime: Runtime,
    pub queue: Arc<PromptQueue>,
    pub tokens: Tokens,
    pub strikes: Strikes,
    pub settings: ServerConfig,
    config_dir: PathBuf,
    /// `skillbox.toml` as the runtime was opened with it.
    host_file: Option<String>,
    config: RwLock<Arc<ConfigDir>>,
    loaded: Mutex<HashMap<AgentId, Arc<Agent>>>,
    turns: Arc<Semaphore>,
    /// One change of the tokens at a time.
    pub(crate) token_changes: tokio::sync::Mutex<()>,
    /// One install, upgrade or removal at a time.
    pub(crate) skill_changes: tokio::sync::Mutex<()>,
    agent_turns: Mutex<HashMap<AgentId, Arc<Semaphore>>>,
    stopping: AtomicBool,
}

/// A turn (or direct tool call) in flight: holds its places.
pub(crate) struct TurnPermit {
    _host: OwnedSemaphorePermit,
    _agent: OwnedSemaphorePermit,
    gauge: prometheus_client::metrics::gauge::Gauge,
}

impl Drop for TurnPermit {
    fn drop(&mut self) {
        self.gauge.dec();
    }
}

impl Served {
    /// Serve `config` (read from `config_dir`) from `runtime`, asking people
    /// through `queue`.
    pub(crate) fn new(
        runtime: Runtime,
        config_dir: &Path,
        config: ConfigDir,
        queue: Arc<PromptQueue>,
    ) -> Served {
        let settings = config.host.server.clone();
        Served {
            tokens: Tokens::new(runtime.data_dir()),
            strikes: Strikes::new(settings.auth_failures, settings.auth_lockout),
            turns: Arc::new(Semaphore::new(settings.max_turns)),
            token_changes: tokio::sync::Mutex::new(()),
            skill_changes: tokio::sync::Mutex::new(()),
            settings,
            host_file: std::fs::read_to_string(config_dir.join(HOST_FILE)).ok(),
            config_dir: config_dir.to_owned(),
            config: RwLock::new(Arc::new(config)),
            loaded: Mutex::new(HashMap::new()),
            agent_turns: Mutex::new(HashMap::new()),
            stopping: AtomicBool::new(false),
            queue,
            runtime,
        }
    }

    pub(crate) fn config(&self) -> Arc<ConfigDir> {
        self.config
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The configuration of agent `id`.
    pub(crate) fn agent_config(&self, id: &str) -> Result<AgentConfig, ApiError> {
        let config = self.config();
        config
            .agents
            .get(id)
            .cloned()
            .ok_or_else(|| ApiError::not_found(format!("no agent '{id}'")))
    }

    /// Agent `id`, loaded on first use.
    pub(crate) fn agent(&self, id: &str) -> Result<Arc<Agent>, ApiError> {
        let config = self.agent_config(id)?;
        if let Some(agent) = self.lock_loaded().get(&config.id) {
            return Ok(agent.clone());
        }
        // Loading may compile a skill not in the cache: keep the other
        // requests of this worker thread moving meanwhile.
        let agent = tokio::task::block_in_place(|| self.runtime.load_agent(&config))
            .map_err(|e| ApiError::internal(format!("cannot load agent '{id}': {e}")))?;
        let agent = Arc::new(agent);
        self.lock_loaded()
            .entry(config.id.clone())
            .or_insert(agent.clone());
        Ok(agent)
    }

    /// The agents loaded so far.
    pub(crate) fn loaded(&self) -> Vec<Arc<Agent>> {
        self.lock_loaded().values().cloned().collect()
    }

    /// Re-read the configuration directory. A configuration with any error
    /// is refused whole, and the running one keeps serving. Returns
    /// warnings: settings that only a restart applies.
    pub(crate) fn reload(&self) -> Result<Vec<String>, ConfigError> {
        // The data directory is the one the runtime opened.
        let running = self.runtime.host();
        let config = ConfigDir::load_with(&self.config_dir, |mut host| {
            host.data_dir = running.data_dir.clone();
            host.sandbox.cache_dir = running.sandbox.cache_dir.clone();
            host
        })?;
        for agent in config.agents.values() {
            runtime::decide(self.runtime.host(), self.runtime.egress(), agent)?;
        }
        let mut warnings = Vec::new();
        if std::fs::read_to_string(self.config_dir.join(HOST_FILE)).ok() != self.host_file {
            warnings.push(format!(
                "{HOST_FILE} changed: agents and [registries] are reloaded, other host \
                 settings apply after a restart"
            ));
        }
        let agents = config.agents.len();
        // Installs through the server pin new keys here.
        self.runtime.trust(config.host.registries.clone());
        *self.config.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(config);
        self.lock_loaded().clear();
        tracing::info!(agents, "configuration reloaded");
        Ok(warnings)
    }

    /// A place for a turn of agent `id`, or 429 when the agent or the host
    /// runs as many as it may.
    pub(crate) fn begin_turn(&self, id: &AgentId) -> Result<TurnPermit, ApiError> {
        let busy = |what: String| {
            ApiError::too_many(
                "busy",
                format!("{what}; try again shortly"),
                Duration::from_secs(1),
            )
        };
        let agent_turns = self
            .agent_turns
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(id.clone())
            .or_insert_with(|| Arc::new(Semaphore::new(self.settings.max_turns_per_agent)))
            .clone();
        let agent = agent_turns.try_acquire_owned().map_err(|_| {
            busy(format!(
                "agent '{id}' already runs {} turns (server.max_turns_per_agent)",
                self.settings.max_turns_per_agent
            ))
        })?;
        let host = self.turns.clone().try_acquire_owned().map_err(|_| {
            busy(format!(
                "the host already runs {} turns (server.max_turns)",
                self.settings.max_turns
            ))
        })?;
        let gauge = self.runtime.metrics().turns_in_flight.clone();
        gauge.inc();
        Ok(TurnPermit {
            _host: host,
            _agent: agent,
            gauge,
        })
    }

    /// Ready for traffic: not shutting down.
    pub(crate) fn is_ready(&self) -> bool {
        !self.stopping.load(Ordering::Relaxed)
    }

    pub(crate) fn stop(&self) {
        self.stopping.store(true, Ordering::Relaxed);
    }

    fn lock_loaded(&self) -> std::sync::MutexGuard<'_, HashMap<AgentId, Arc<Agent>>> {
        self.loaded.lock().unwrap_or_else(|e| e.into_inner())
    }
}
