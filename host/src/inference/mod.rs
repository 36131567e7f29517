//! The shared inference service: every agent's model requests, and every
//! skill's through the `inference` import, go through here to the backends
//! of `skillbox.toml`.
//!
//! A request is checked against its agent's budget (a person may allow it
//! beyond), waits for its turn in the backend's fair queue, goes out through
//! the egress layer, is retried on 429, 5xx and failed connections, falls
//! back along the agent's chain of models, and is metered to the agent by
//! the usage the backend reports. Dropping a request's future cancels it
//! wherever it is: in the queue, waiting to retry, or streaming.

mod backend;
mod meter;
mod protocol;
mod scheduler;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use crate::config::{Budget, HostConfig, InferenceSettings};
use crate::consent::{CallConsent, Verdict};
use crate::db::{Db, DbError};
use crate::egress::Egress;
use crate::metrics::{InferenceLabels, Metrics, TokenLabels};
use crate::vocab::{AgentId, Capability, ChatRequest, ChatResponse, Message, ModelRef, Usage};

pub use backend::Failure;
pub(crate) use protocol::OnToken;

use backend::Backend;
use meter::Meter;

/// The backends of the host and the meter of its agents.
pub struct Inference {
    backends: BTreeMap<String, Backend>,
    meter: Meter,
    metrics: Arc<Metrics>,
}

/// Why a chat request got no answer.
#[derive(Debug, thiserror::Error)]
pub enum InferenceError {
    /// Over budget, and no person allowed more.
    #[error("{0}")]
    OverBudget(String),
    /// The request names something the agent may not use.
    #[error("{0}")]
    Denied(String),
    /// Every model of the chain failed; why, model by model.
    #[error("{}", Failures(.0))]
    Failed(Vec<(ModelRef, Failure)>),
}

struct Failures<'a>(&'a [(ModelRef, Failure)]);

impl fmt::Display for Failures<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("no model answered: ")?;
        for (i, (model, failure)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{model}: {failure}")?;
        }
        Ok(())
    }
}

impl Inference {
    /// The backends `host` configures. API keys are read on first use.
    pub fn new(host: &HostConfig, egress: &Egress, db: Db, metrics: Arc<Metrics>) -> Inference {
        let backends = host
            .backends
            .iter()
            .map(|(name, config)| {
                let backend =
                    Backend::new(config.clone(), host.dir.clone(), egress, metrics.clone());
                (name.clone(), backend)
            })
            .collect();
        Inference {
            backends,
            meter: Meter::new(db),
            metrics,
        }
    }

    /// Write the usage counts not yet written.
    pub fn flush(&self) {
        self.meter.flush();
    }

    /// What is left of each limit of `budget` for `agent` now, by limit.
    pub fn remaining(&self, agent: &AgentId, budget: &Budget) -> Vec<(&'static str, u64)> {
        self.meter.remaining(agent, budget)
    }

    fn count(&self, agent: &AgentId, model: &ModelRef, outcome: &str, usage: Usage) {
        let metrics = &self.metrics;
        let agent = metrics.agent(agent);
        metrics
            .inference_requests
            .get_or_create(&InferenceLabels {
                agent: agent.clone(),
                backend: model.backend.clone(),
                model: model.model.clone(),
                outcome: outcome.to_owned(),
            })
            .inc();
        for (direction, tokens) in [
            ("in", usage.prompt_tokens),
            ("out", usage.completion_tokens),
        ] {
            if tokens > 0 {
                metrics
                    .inference_tokens
                    .get_or_create(&TokenLabels {
                        agent: agent.clone(),
                        backend: model.backend.clone(),
                        model: model.model.clone(),
                        direction: direction.to_owned(),
                    })
                    .inc_by(tokens);
            }
        }
    }

    /// What `agent` spent, per day and `backend/model`.
    pub fn usage(
        &self,
        agent: &AgentId,
    ) -> Result<std::collections::BTreeMap<(String, String), crate::db::usage::Spent>, DbError>
    {
        self.meter.usage(agent)
    }

    /// `agent`'s access to the service, under `settings`.
    pub fn client(self: &Arc<Self>, agent: &AgentId, settings: InferenceSettings) -> AgentClient {
        AgentClient {
            service: self.clone(),
            agent: agent.clone(),
            settings: Arc::new(settings),
        }
    }
}

/// One agent's access to the inference service: its models, weight and
/// budget.
#[derive(Clone)]
pub struct AgentClient {
    service: Arc<Inference>,
    agent: AgentId,
    settings: Arc<InferenceSettings>,
}

impl AgentClient {
    pub fn settings(&self) -> &InferenceSettings {
        &self.settings
    }

    /// The agent's chain: its model, then its fallbacks.
    pub fn models(&self) -> impl Iterator<Item = &ModelRef> {
        self.settings.models.iter().map(|m| &m.value)
    }

    /// The next message of `request`, from the first model of the agent's
    /// chain that answers (starting at `from`, if given). Budget misses go
    /// to `consent`. With `on_token`, text is streamed to it; once some was,
    /// a failure is final, with no retry or fallback.
    pub async fn chat(
        &self,
        request: &ChatRequest,
        from: Option<&str>,
        consent: &CallConsent,
        on_token: Option<OnToken<'_>>,
    ) -> Result<ChatResponse, InferenceError> {
        let chain: Vec<&ModelRef> = self.models().collect();
        let start = match from {
            None => 0,
            Some(name) => chain
                .iter()
                .position(|m| m.to_string() == name || m.model == name)
                .ok_or_else(|| {
                    InferenceError::Denied(format!(
                        "agent '{}' does not use the model '{name}' (its models: {})",
                        self.agent,
                        chain
                            .iter()
                            .map(|m| m.to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ))
                })?,
        };
        self.admit(consent).await?;

        let meter = &self.service.meter;
        let mut failures = Vec::new();
        for model in &chain[start..] {
            // Checked when the agent was read, against the same host; kept
            // an error for an agent read against another configuration.
            let Some(backend) = self.service.backends.get(&model.backend) else {
                let why = format!("no backend '{}' in this host", model.backend);
                failures.push(((*model).clone(), Failure::Refused(why)));
                continue;
            };
            let answer = backend
                .complete(
                    &self.agent,
                    self.settings.weight,
                    &model.model,
                    request,
                    on_token,
                )
                .await;
            match answer {
                Ok((message, usage)) => {
                    let usage = usage.unwrap_or_else(|| estimate(request, &message));
                    meter.record(&self.agent, model, usage);
                    self.service.count(&self.agent, model, "ok", usage);
                    return Ok(ChatResponse {
                        message,
                        usage,
                        model: (*model).clone(),
                    });
                }
                Err(failure) => {
                    tracing::warn!(agent = %self.agent, model = %model, "inference failed: {failure}");
                    self.service
                        .count(&self.agent, model, "failed", Usage::default());
                    let last = failure.after_output();
                    failures.push(((*model).clone(), failure));
                    if last {
                        break;
                    }
                }
            }
        }
        Err(InferenceError::Failed(failures))
    }

    /// Count the request against the budget, or have a person allow it
    /// beyond.
    async fn admit(&self, consent: &CallConsent) -> Result<(), InferenceError> {
        let meter = &self.service.meter;
        let Err(over) = meter.admit(&self.agent, &self.settings.budget) else {
            return Ok(());
        };
        let capability = Capability::Budget {
            limit: over.limit.to_owned(),
        };
        // The agent's fallback does not lift a budget: only a person (or a
        // person's remembered answer) does.
        match consent
            .decide_by_a_person(capability, &over.to_string())
            .await
        {
            Verdict::Allowed => {
                meter.admit_beyond_budget(&self.agent);
                Ok(())
            }
            Verdict::Denied(why) => Err(InferenceError::OverBudget(why)),
        }
    }
}

/// Usage for a backend that reports none.
fn estimate(request: &ChatRequest, answer: &Message) -> Usage {
    Usage {
        prompt_tokens: Message::estimate_tokens(&request.messages),
        completion_tokens: Message::estimate_tokens(std::slice::from_ref(answer)),
    }
}
