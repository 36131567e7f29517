//! What the host counts, for `GET /metrics` (the Prometheus text format).
//!
//! Every series that names an agent goes through [`Metrics::agent`]: the
//! first `agent_labels` agents seen get their own label, later ones share
//! [`OTHER_AGENTS`], so a host with many agents keeps a bounded number of
//! series.

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::vocab::AgentId;

/// The label of agents beyond the cap.
pub(crate) const OTHER_AGENTS: &str = "_other";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ToolLabels {
    pub agent: String,
    pub skill: String,
    pub tool: String,
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SkillLabels {
    pub agent: String,
    pub skill: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AgentLabels {
    pub agent: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AnswerLabels {
    pub agent: String,
    /// `allow` or `deny`; a prompt nobody answered is `timeout`.
    pub answer: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct InferenceLabels {
    pub agent: String,
    pub backend: String,
    pub model: String,
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TokenLabels {
    pub agent: String,
    pub backend: String,
    pub model: String,
    /// `in` (prompt) or `out` (completion).
    pub direction: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ModelLabels {
    pub backend: String,
    pub model: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BudgetLabels {
    pub agent: String,
    /// `tokens_per_day`, `requests_per_minute`, ...
    pub limit: String,
}

pub struct Metrics {
    registry: Registry,
    agents: Mutex<HashSet<String>>,
    agent_labels: usize,
    pub tool_calls: Family<ToolLabels, Counter>,
    pub tool_call_seconds: Family<SkillLabels, Histogram>,
    pub sandboxes: Family<AgentLabels, Counter>,
    pub prompts_pending: Gauge,
    pub prompts_answered: Family<AnswerLabels, Counter>,
    pub inference_requests: Family<InferenceLabels, Counter>,
    pub inference_tokens: Family<TokenLabels, Counter>,
    pub inference_queue_seconds: Family<ModelLabels, Histogram>,
    pub inference_seconds: Family<ModelLabels, Histogram>,
    pub budget_remaining: Family<BudgetLabels, Gauge>,
    pub turns_in_flight: Gauge,
}

/// Buckets from 100 µs to about 100 s.
fn latency() -> Histogram {
    Histogram::new(exponential_buckets(0.000_1, 4.0, 11))
}

impl Metrics {
    /// Metrics that label at most `agent_labels` agents by name.
    pub fn new(agent_labels: usize) -> Metrics {
        let mut registry = Registry::with_prefix("skillbox");
        let metrics = Metrics {
            agents: Mutex::new(HashSet::new()),
            agent_labels,
            tool_calls: Family::default(),
            tool_call_seconds: Family::new_with_constructor(latency),
            sandboxes: Family::default(),
            prompts_pending: Gauge::default(),
            prompts_answered: Family::default(),
            inference_requests: Family::default(),
            inference_tokens: Family::default(),
            inference_queue_seconds: Family::new_with_constructor(latency),
            inference_seconds: Family::new_with_constructor(latency),
            budget_remaining: Family::default(),
            turns_in_flight: Gauge::default(),
            registry: Registry::default(),
        };
        registry.register(
            "tool_calls",
            "Tool calls by agent, skill, tool and outcome",
            metrics.tool_calls.clone(),
        );
        registry.register(
            "tool_call_seconds",
            "Time from a tool call's arrival to its result, checks and sandbox included",
            metrics.tool_call_seconds.clone(),
        );
        registry.register(
            "sandbox_instantiations",
            "Sandboxes (stores) instantiated for tool calls",
            metrics.sandboxes.clone(),
        );
        registry.register(
            "consent_prompts_pending",
            "Consent prompts waiting for an answer",
            metrics.prompts_pending.clone(),
        );
        registry.register(
            "consent_prompts_answered",
            "Consent prompts answered (or given up, answer=timeout)",
            metrics.prompts_answered.clone(),
        );
        registry.register(
            "inference_requests",
            "Chat requests by agent, backend, model and outcome",
            metrics.inference_requests.clone(),
        );
        registry.register(
            "inference_tokens",
            "Tokens by agent, backend, model and direction (in: prompt, out: completion)",
            metrics.inference_tokens.clone(),
        );
        registry.register(
            "inference_queue_wait_seconds",
            "Time a request waited for a place at its backend",
            metrics.inference_queue_seconds.clone(),
        );
        registry.register(
            "inference_latency_seconds",
            "Time of one attempt at a backend, from sending to the last byte",
            metrics.inference_seconds.clone(),
        );
        registry.register(
            "budget_remaining",
            "What is left of each limit of an agent's inference budget",
            metrics.budget_remaining.clone(),
        );
        registry.register(
            "turns_in_flight",
            "Turns and tool calls the API is running",
            metrics.turns_in_flight.clone(),
        );
        Metrics {
            registry,
            ..metrics
        }
    }

    /// The label of `agent`: its id while under the cap, else
    /// [`OTHER_AGENTS`].
    pub fn agent(&self, agent: &AgentId) -> String {
        let mut seen = self.agents.lock().unwrap_or_else(|e| e.into_inner());
        if seen.contains(agent.as_str()) {
            return agent.to_string();
        }
        if seen.len() < self.agent_labels {
            seen.insert(agent.to_string());
            return agent.to_string();
        }
        OTHER_AGENTS.to_owned()
    }

    /// Count a tool call that ended with `outcome` after `took`.
    pub fn tool_call(
        &self,
        agent: &AgentId,
        skill: &str,
        tool: &str,
        outcome: &str,
        took: Duration,
    ) {
        let agent = self.agent(agent);
        self.tool_calls
            .get_or_create(&ToolLabels {
                agent: agent.clone(),
                skill: skill.to_owned(),
                tool: tool.to_owned(),
                outcome: outcome.to_owned(),
            })
            .inc();
        self.tool_call_seconds
            .get_or_create(&SkillLabels {
                agent,
                skill: skill.to_owned(),
            })
            .observe(took.as_secs_f64());
    }

    /// Everything, in the OpenMetrics text format.
    pub(crate) fn encode_openmetrics(&self) -> String {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)
            .expect("writing to a String cannot fail");
        text
    }

    /// Everything, in the Prometheus text format (0.0.4), which every
    /// scraper and `promtool` read.
    pub(crate) fn encode_prometheus(&self) -> String {
        prometheus_text(&self.encode_openmetrics())
    }
}

/// The content type of [`Metrics::encode_openmetrics`].
pub(crate) const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The content type of [`Metrics::encode_prometheus`].
pub(crate) const PROMETHEUS: &str = "text/plain; version=0.0.4; charset=utf-8";

/// OpenMetrics text as the Prometheus text format: a counter's family is
/// named as its samples are (`x_total`), and there is no `# UNIT` or
/// `# EOF`. Everything else reads the same in both.
fn prometheus_text(openmetrics: &str) -> String {
    let counters: Vec<&str> = openmetrics
        .lines()
        .filter_map(|line| line.strip_prefix("# TYPE "))
        .filter_map(|rest| rest.strip_suffix(" counter"))
        .collect();
    let mut text = String::with_capacity(openmetrics.len());
    for line in openmetrics.lines() {
        if line.starts_with("# UNIT ") || line == "# EOF" {
            continue;
        }
        let metadata = ["# HELP ", "# TYPE "]
            .into_iter()
            .find_map(|kind| Some((kind, line.strip_prefix(kind)?)));
        match metadata {
            Some((kind, rest)) => {
                let name = rest.split(' ').next().unwrap_or_default();
                let suffix = if counters.contains(&name) {
                    "_total"
                } else {
                    ""
                };
                text.push_str(&format!("{kind}{name}{suffix}{}", &rest[name.len()..]));
            }
            None => text.push_str(line),
        }
        text.push('\n');
    }
    text
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics::new(100)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_prometheus_text_names_counter_families_as_their_samples() {
        let metrics = Metrics::new(10);
        let agent = AgentId::new("ops").unwrap();
        metrics.tool_call(
            &agent,
            "text",
            "word_count",
            "ok",
            std::time::Duration::from_millis(3),
        );
        let openmetrics = metrics.encode_openmetrics();
        assert!(openmetrics.ends_with("# EOF\n"), "{openmetrics}");
        assert!(
            openmetrics.contains("# TYPE skillbox_tool_calls counter"),
            "{openmetrics}"
        );

        let text = metrics.encode_prometheus();
        assert!(
            !text.contains("# EOF") && !text.contains("# UNIT"),
            "{text}"
        );
        assert!(
            text.contains("# TYPE skillbox_tool_calls_total counter\n"),
            "{text}"
        );
        assert!(text.contains("# HELP skillbox_tool_calls_total "), "{text}");
        let sample = text
            .lines()
            .find(|l| l.starts_with("skillbox_tool_calls_total{"))
            .expect("a sample");
        assert!(sample.ends_with(" 1"), "{sample}");
        // Gauges and histograms read the same in both.
        assert!(
            text.contains("# TYPE skillbox_tool_call_seconds histogram\n"),
            "{text}"
        );
        assert!(
            text.contains("# TYPE skillbox_consent_prompts_pending gauge\n"),
            "{text}"
        );
    }
}
