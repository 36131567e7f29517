//! Inference settings: the backends of the host (`[inference.backends.*]`
//! in `skillbox.toml`) and what each agent uses of them (`[inference]` and
//! `[prompts]` in `agents/<id>.toml`).
//!
//! ```toml
//! # skillbox.toml
//! [inference.backends.local]
//! kind = "openai"                      # or "ollama" (the native /api/chat)
//! url = "http://127.0.0.1:11434/v1"
//! models = ["gpt-oss:20b", "llama3.2"] # optional: any model if absent
//! max_concurrency = 4
//! timeout = "5m"
//!
//! [inference.backends.cloud]
//! kind = "openai"
//! url = "https://api.openai.com/v1"
//! api_key = { env = "OPENAI_API_KEY" }
//!
//! # agents/ops.toml
//! [inference]
//! model = "local/gpt-oss:20b"
//! fallback = ["cloud/gpt-4.1-mini"]
//! weight = 2                           # share of a busy backend
//! max_steps = 8
//!
//! [inference.budget]
//! tokens_per_day = 200000
//! requests_per_minute = 30
//!
//! [prompts]
//! system = "prompts/ops.md"            # relative to the config directory
//! context = ["prompts/runbook.md"]
//! ```

use std::collections::BTreeMap;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::agent::{Located, SecretSource};
use super::toml_file::{ConfigError, TomlFile};
use crate::vocab::{ModelRef, NetPattern, is_skill_name};

/// Largest prompt file an agent may name.
const MAX_PROMPT_FILE: u64 = 256 << 10;

/// The wire protocol of a backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// `POST {url}/chat/completions`: vLLM, llama.cpp server, LiteLLM,
    /// Ollama's `/v1`, cloud APIs.
    Openai,
    /// Ollama's native `POST {url}/api/chat`.
    Ollama,
}

/// One inference backend, shared by every agent of the host.
#[derive(Debug, Clone)]
pub struct BackendConfig {
    pub name: String,
    pub kind: BackendKind,
    pub url: url::Url,
    /// Sent as `Authorization: Bearer <key>`; read when the runtime opens.
    pub api_key: Option<SecretSource>,
    /// The models agents may name; empty for any.
    pub models: Vec<String>,
    /// Requests in flight at once; more wait in the fair queue.
    pub max_concurrency: usize,
    /// Time one request may take, from connecting to the last token.
    pub timeout: Duration,
    /// Further attempts after a 429, a 5xx or a failed connection.
    pub retries: u32,
    /// The wait before the first retry; it doubles with each one.
    pub backoff: Duration,
}

impl BackendConfig {
    /// Whether agents may name `model` on this backend.
    pub fn serves(&self, model: &str) -> bool {
        self.models.is_empty() || self.models.iter().any(|m| m == model)
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawHostInference {
    #[serde(default)]
    backends: BTreeMap<String, Spanned<RawBackend>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBackend {
    kind: BackendKind,
    url: url::Url,
    api_key: Option<SecretSource>,
    #[serde(default)]
    models: Vec<String>,
    #[serde(default = "default_concurrency")]
    max_concurrency: NonZeroU32,
    #[serde(default = "default_timeout", with = "humantime_serde")]
    timeout: Duration,
    #[serde(default = "default_retries")]
    retries: u32,
    #[serde(default = "default_backoff", with = "humantime_serde")]
    backoff: Duration,
}

fn default_concurrency() -> NonZeroU32 {
    NonZeroU32::new(4).expect("not zero")
}

fn default_timeout() -> Duration {
    Duration::from_secs(300)
}

fn default_retries() -> u32 {
    2
}

fn default_backoff() -> Duration {
    Duration::from_millis(500)
}

impl RawHostInference {
    pub(super) fn validate(
        self,
        file: &TomlFile,
    ) -> Result<BTreeMap<String, BackendConfig>, ConfigError> {
        let mut backends = BTreeMap::new();
        for (name, raw) in self.backends {
            let span = raw.span();
            let field = format!("inference.backends.{name}");
            let raw = raw.into_inner();
            let error = |what: &str, message: String| {
                file.error(format!("{field}{what}"), Some(span.clone()), message)
            };
            if !is_skill_name(&name) {
                return Err(error(
                    "",
                    format!("'{name}' is not a backend name: use a-z, 0-9 and '-'"),
                ));
            }
            let url = raw.url;
            if !url.username().is_empty() || url.password().is_some() || url.query().is_some() {
                return Err(error(
                    ".url",
                    "a backend URL holds no user, password or query; use api_key for a key".into(),
                ));
            }
            NetPattern::parse(&url.origin().ascii_serialization())
                .map_err(|e| error(".url", e.to_string()))?;
            if raw.models.iter().any(|m| m.is_empty()) {
                return Err(error(".models", "a model name cannot be empty".into()));
            }
            backends.insert(
                name.clone(),
                BackendConfig {
                    name,
                    kind: raw.kind,
                    url,
                    api_key: raw.api_key,
                    models: raw.models,
                    max_concurrency: raw.max_concurrency.get() as usize,
                    timeout: raw.timeout,
                    retries: raw.retries.min(10),
                    backoff: raw.backoff,
                },
            );
        }
        Ok(backends)
    }
}

/// What an agent uses of the shared backends.
#[derive(Debug, Clone, PartialEq)]
pub struct InferenceSettings {
    /// The model first tried, then each fallback in order.
    pub models: Vec<Located<ModelRef>>,
    /// The agent's share of a busy backend against other agents'.
    pub weight: u32,
    /// Model requests in one turn, tool calls in between.
    pub max_steps: u32,
    /// Tokens one model request may generate.
    pub max_tokens: Option<u32>,
    pub temperature: Option<f32>,
    /// Messages of a conversation sent along with a new one.
    pub history: usize,
    pub budget: Budget,
}

/// Per-agent limits on inference, counted over all its models.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Budget {
    pub tokens_per_minute: Option<u64>,
    pub tokens_per_day: Option<u64>,
    pub requests_per_minute: Option<u64>,
    pub requests_per_day: Option<u64>,
}

/// The agent's prompt files, read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Prompts {
    /// The system prompt.
    pub system: Option<String>,
    /// Further files given to the model as context, by file name.
    pub context: Vec<(String, String)>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawInferenceSettings {
    model: Spanned<String>,
    #[serde(default)]
    fallback: Vec<Spanned<String>>,
    #[serde(default = "default_weight")]
    weight: Spanned<u32>,
    #[serde(default = "default_max_steps")]
    max_steps: Spanned<u32>,
    max_tokens: Option<u32>,
    temperature: Option<f32>,
    #[serde(default = "default_history")]
    history: usize,
    #[serde(default)]
    budget: Budget,
}

fn default_weight() -> Spanned<u32> {
    Spanned::new(0..0, 1)
}

fn default_max_steps() -> Spanned<u32> {
    Spanned::new(0..0, 8)
}

fn default_history() -> usize {
    100
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPrompts {
    system: Option<Spanned<PathBuf>>,
    #[serde(default)]
    context: Vec<Spanned<PathBuf>>,
}

impl RawInferenceSettings {
    /// Check every model against the host's backends.
    pub(super) fn validate(
        self,
        file: &TomlFile,
        backends: &BTreeMap<String, BackendConfig>,
    ) -> Result<InferenceSettings, ConfigError> {
        let named = std::iter::once(("inference.model".to_owned(), self.model)).chain(
            self.fallback
                .into_iter()
                .enumerate()
                .map(|(i, m)| (format!("inference.fallback[{i}]"), m)),
        );
        let mut models = Vec::new();
        for (field, text) in named {
            let span = text.span();
            let model = ModelRef::try_from(text.into_inner())
                .map_err(|e| file.error(&field, Some(span.clone()), e.to_string()))?;
            let Some(backend) = backends.get(&model.backend) else {
                let known: Vec<&str> = backends.keys().map(String::as_str).collect();
                return Err(file.error(
                    field,
                    Some(span),
                    format!(
                        "no backend '{}' in skillbox.toml (backends: {})",
                        model.backend,
                        if known.is_empty() {
                            "none".into()
                        } else {
                            known.join(", ")
                        }
                    ),
                ));
            };
            if !backend.serves(&model.model) {
                return Err(file.error(
                    field,
                    Some(span),
                    format!(
                        "backend '{}' does not list the model '{}' (models: {})",
                        backend.name,
                        model.model,
                        backend.models.join(", ")
                    ),
                ));
            }
            models.push(Located {
                value: model,
                line: file.line_of(span.start),
            });
        }
        let in_range = |value: &Spanned<u32>, field: &str, max: u32| {
            if (1..=max).contains(value.get_ref()) {
                Ok(*value.get_ref())
            } else {
                Err(file.error(
                    format!("inference.{field}"),
                    Some(value.span()),
                    format!("must be between 1 and {max}"),
                ))
            }
        };
        Ok(InferenceSettings {
            models,
            weight: in_range(&self.weight, "weight", 1000)?,
            max_steps: in_range(&self.max_steps, "max_steps", 100)?,
            max_tokens: self.max_tokens,
            temperature: self.temperature,
            history: self.history,
            budget: self.budget,
        })
    }
}

impl RawPrompts {
    /// Read the prompt files, relative to `config_dir`.
    pub(super) fn read(self, file: &TomlFile, config_dir: &Path) -> Result<Prompts, ConfigError> {
        let read = |field: String, path: &Spanned<PathBuf>| {
            let full = config_dir.join(path.get_ref());
            let error = |m: String| file.error(&field, Some(path.span()), m);
            let size = std::fs::metadata(&full)
                .map_err(|e| error(format!("cannot read {}: {e}", full.display())))?
                .len();
            if size > MAX_PROMPT_FILE {
                return Err(error(format!(
                    "{} is {size} bytes; a prompt file may hold {MAX_PROMPT_FILE}",
                    full.display()
                )));
            }
            std::fs::read_to_string(&full)
                .map_err(|e| error(format!("cannot read {}: {e}", full.display())))
        };
        let system = match &self.system {
            Some(path) => Some(read("prompts.system".into(), path)?),
            None => None,
        };
        let mut context = Vec::new();
        for (i, path) in self.context.iter().enumerate() {
            let text = read(format!("prompts.context[{i}]"), path)?;
            let name = path
                .get_ref()
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            context.push((name, text));
        }
        Ok(Prompts { system, context })
    }
}
