//! `skillbox.toml`: host-wide settings. Every field is optional; a config
//! directory without the file runs on defaults.
//!
//! ```toml
//! data_dir = "data"                  # relative to the config directory
//!
//! [sandbox]
//! max_concurrent_calls = 128
//! max_wasm_stack = "512KiB"
//!
//! [defaults]                         # limits of a call unless its skill asks otherwise
//! timeout = "10s"
//!
//! [maxima]                           # no call gets more, whatever it asks
//! memory = "1GiB"
//!
//! [network.hosts]                    # names resolved here before DNS
//! "api.internal.test" = ["10.0.0.7"]
//!
//! [consent]
//! webhook = "http://127.0.0.1:9000/prompts"   # where prompts are posted,
//! webhook_secret = { env = "SKILLBOX_WEBHOOK_SECRET" }  # signed with this
//! trust_webhook_answers = false      # its response does not answer
//!
//! [inference.backends.local]         # see `config::inference`
//! kind = "openai"
//! url = "http://127.0.0.1:11434/v1"
//!
//! [server]                           # `skillbox serve`, see `ServerConfig`
//! addr = "127.0.0.1:7878"
//! ```

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bytesize::ByteSize;
use serde::Deserialize;

use super::agent::SecretSource;
use super::inference::{BackendConfig, RawHostInference};
use super::toml_file::{ConfigError, TomlFile};
use crate::vocab::{LimitOverrides, Limits, NetPattern};

pub(crate) const HOST_FILE: &str = "skillbox.toml";

#[derive(Debug, Clone)]
pub struct HostConfig {
    /// The configuration directory; relative paths in it start here.
    pub dir: PathBuf,
    pub data_dir: PathBuf,
    pub sandbox: SandboxConfig,
    /// Limits of every call before its skill's own requests.
    pub defaults: Limits,
    /// The ceiling of every call.
    pub maxima: Limits,
    /// Static name resolution, consulted before DNS.
    pub hosts: BTreeMap<String, Vec<IpAddr>>,
    /// Where prompts are posted for chat bridges, if anywhere.
    pub consent_webhook: Option<WebhookConfig>,
    /// Inference backends by name.
    pub backends: BTreeMap<String, BackendConfig>,
    pub server: ServerConfig,
    /// Skill registries and the publisher keys trusted for each, by name.
    pub registries: BTreeMap<String, RegistryConfig>,
}

/// `[consent] webhook`: where prompts are posted, signed with a secret the
/// receiver shares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookConfig {
    pub url: url::Url,
    /// Signs each post (`Skillbox-Signature: t=...,v1=...`).
    pub secret: SecretSource,
    /// Whether an answer in the webhook's response decides. By default it
    /// does not: answers come through the API, from an approver's token.
    pub trust_answers: bool,
}

/// `[registries.<name>]`: where a registry is and whose signatures count.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistryConfig {
    pub url: url::Url,
    /// Publisher keys trusted for packages of this registry.
    #[serde(default)]
    pub keys: Vec<PublicKey>,
}

/// A publisher's Ed25519 key, as a registry lists it and a host pins it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, Deserialize)]
pub struct PublicKey {
    pub key_id: String,
    /// Who publishes with it, shown to users beside every package.
    pub publisher: String,
    /// Base64 of the 32-byte Ed25519 public key.
    pub public_key: String,
}

/// `[sandbox]`: host-wide settings of the sandbox engine.
#[derive(Debug, Clone)]
pub struct SandboxConfig {
    /// Calls that may run at once; the instance pool is sized for them and
    /// further calls wait for a free slot.
    pub max_concurrent_calls: u32,
    /// Calls one agent may run at once: its share of the pool. An agent
    /// past it waits behind its own calls, never in front of others'.
    pub max_calls_per_agent: u32,
    /// Wasm stack of every call (an engine-wide setting in wasmtime).
    pub max_wasm_stack: ByteSize,
    /// Largest linear memory any call may be granted.
    pub max_memory: ByteSize,
    /// Where compiled components are kept; `None` compiles on every load.
    pub cache_dir: Option<PathBuf>,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        Self {
            max_concurrent_calls: 128,
            max_calls_per_agent: 64,
            max_wasm_stack: ByteSize::kib(512),
            max_memory: Limits::MAXIMUM.memory,
            cache_dir: None,
        }
    }
}

/// `[server]`: how `skillbox serve` listens and what it bounds.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Where the API listens; loopback unless the operator says otherwise.
    pub addr: std::net::SocketAddr,
    /// The largest request body.
    pub max_body: ByteSize,
    /// Time a client has to send a request's headers, and then its body.
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// Connections open at once; more wait to be accepted.
    pub max_connections: usize,
    /// Turns (and direct tool calls) running at once, in the whole host.
    pub max_turns: usize,
    /// Turns (and direct tool calls) running at once, per agent.
    pub max_turns_per_agent: usize,
    /// How long in-flight requests may finish after SIGTERM.
    #[serde(with = "humantime_serde")]
    pub shutdown_grace: Duration,
    /// Failed authentications from one client address before it is locked
    /// out, counted within `auth_lockout`.
    pub auth_failures: u32,
    /// How long a locked-out client waits.
    #[serde(with = "humantime_serde")]
    pub auth_lockout: Duration,
    /// Agents named in metric labels; more share the label `_other`.
    pub metrics_agent_labels: usize,
}

impl Default for ServerConfig {
    fn default() -> ServerConfig {
        ServerConfig {
            addr: ([127, 0, 0, 1], 7878).into(),
            max_body: ByteSize::mib(1),
            request_timeout: Duration::from_secs(30),
            max_connections: 1024,
            max_turns: 256,
            max_turns_per_agent: 8,
            shutdown_grace: Duration::from_secs(10),
            auth_failures: 10,
            auth_lockout: Duration::from_secs(60),
            metrics_agent_labels: 100,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHost {
    data_dir: Option<PathBuf>,
    #[serde(default)]
    sandbox: RawSandbox,
    #[serde(default)]
    defaults: LimitOverrides,
    #[serde(default)]
    maxima: LimitOverrides,
    #[serde(default)]
    network: RawNetwork,
    #[serde(default)]
    consent: RawConsent,
    #[serde(default)]
    inference: RawHostInference,
    #[serde(default)]
    server: ServerConfig,
    #[serde(default)]
    registries: BTreeMap<String, RegistryConfig>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawConsent {
    webhook: Option<url::Url>,
    webhook_secret: Option<SecretSource>,
    #[serde(default)]
    trust_webhook_answers: bool,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawSandbox {
    max_concurrent_calls: Option<u32>,
    max_calls_per_agent: Option<u32>,
    max_wasm_stack: Option<ByteSize>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawNetwork {
    #[serde(default)]
    hosts: BTreeMap<String, Vec<IpAddr>>,
}

impl HostConfig {
    /// Read `skillbox.toml` in `dir`, or use the defaults if there is none.
    pub fn load(dir: &Path) -> Result<HostConfig, ConfigError> {
        let dir = std::path::absolute(dir).unwrap_or_else(|_| dir.to_owned());
        let path = dir.join(HOST_FILE);
        let file = if path.exists() {
            TomlFile::read(&path)?
        } else {
            // Every field has a default: no file reads as an empty one.
            TomlFile {
                path,
                text: String::new(),
            }
        };
        HostConfig::from_file(&file)
    }

    /// Validate a `skillbox.toml` whose text is already read; the directory
    /// it is in is the configuration directory.
    pub fn from_file(file: &TomlFile) -> Result<HostConfig, ConfigError> {
        let path = &file.path;
        let dir = path.parent().unwrap_or(Path::new(".")).to_owned();
        let mut raw: RawHost = file.parse()?;
        let backends = std::mem::take(&mut raw.inference).validate(file)?;
        let maxima = Limits::MAXIMUM
            .with(&raw.maxima)
            .capped_by(&Limits::MAXIMUM);
        let defaults = Limits::DEFAULT.with(&raw.defaults).capped_by(&maxima);
        let mut sandbox = SandboxConfig {
            max_memory: maxima.memory,
            ..SandboxConfig::default()
        };
        if let Some(n) = raw.sandbox.max_concurrent_calls {
            sandbox.max_concurrent_calls = n;
        }
        // Half the pool by default, so that one agent leaves the other half
        // to the rest.
        sandbox.max_calls_per_agent = match raw.sandbox.max_calls_per_agent {
            Some(n) if n > sandbox.max_concurrent_calls => {
                return Err(ConfigError {
                    file: path.clone(),
                    line: None,
                    field: "sandbox.max_calls_per_agent".into(),
                    message: format!(
                        "{n} is more than the pool (sandbox.max_concurrent_calls = {})",
                        sandbox.max_concurrent_calls
                    ),
                });
            }
            Some(n) => n.max(1),
            None => (sandbox.max_concurrent_calls / 2).max(1),
        };
        if let Some(stack) = raw.sandbox.max_wasm_stack {
            sandbox.max_wasm_stack = stack;
        }
        let data_dir = dir.join(raw.data_dir.unwrap_or_else(|| "data".into()));
        sandbox.cache_dir = Some(data_dir.join("cache").join("components"));
        let consent_webhook = webhook(raw.consent, path)?;
        let hosts = raw
            .network
            .hosts
            .into_iter()
            .map(|(name, addrs)| (name.to_ascii_lowercase(), addrs))
            .collect();
        Ok(HostConfig {
            dir,
            data_dir,
            sandbox,
            defaults,
            maxima,
            hosts,
            consent_webhook,
            backends,
            server: raw.server,
            registries: raw.registries,
        })
    }

    /// Defaults everywhere, with `data_dir` for state.
    pub fn with_data_dir(data_dir: &Path) -> HostConfig {
        HostConfig {
            dir: data_dir.to_owned(),
            data_dir: data_dir.to_owned(),
            sandbox: SandboxConfig {
                cache_dir: Some(data_dir.join("cache").join("components")),
                ..SandboxConfig::default()
            },
            defaults: Limits::DEFAULT,
            maxima: Limits::MAXIMUM,
            hosts: BTreeMap::new(),
            consent_webhook: None,
            backends: BTreeMap::new(),
            server: ServerConfig::default(),
            registries: BTreeMap::new(),
        }
    }
}

/// The webhook of `[consent]`, checked: a URL the egress layer can grant,
/// and a secret to sign with.
fn webhook(raw: RawConsent, path: &Path) -> Result<Option<WebhookConfig>, ConfigError> {
    let error = |field: &str, message: String| ConfigError {
        file: path.to_owned(),
        line: None,
        field: field.into(),
        message,
    };
    let Some(url) = raw.webhook else {
        return match raw.webhook_secret {
            Some(_) => Err(error(
                "consent.webhook_secret",
                "there is no consent.webhook to sign for".into(),
            )),
            None => Ok(None),
        };
    };
    NetPattern::parse(&url.origin().ascii_serialization())
        .map_err(|e| error("consent.webhook", e.to_string()))?;
    let secret = raw.webhook_secret.ok_or_else(|| {
        error(
            "consent.webhook_secret",
            "a webhook needs a secret to sign what it is sent, shared with its receiver: \
             webhook_secret = { env = \"SKILLBOX_WEBHOOK_SECRET\" } or { file = \"webhook.secret\" }"
                .into(),
        )
    })?;
    Ok(Some(WebhookConfig {
        url,
        secret,
        trust_answers: raw.trust_webhook_answers,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_settings_and_caps_defaults_by_maxima() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(HOST_FILE),
            "data_dir = \"state\"\n[defaults]\ntimeout = \"30s\"\n[maxima]\ntimeout = \"20s\"\n\
             [network.hosts]\n\"API.test\" = [\"127.0.0.1\"]\n",
        )
        .unwrap();
        let host = HostConfig::load(dir.path()).unwrap();
        assert_eq!(host.data_dir, dir.path().join("state"));
        assert_eq!(host.defaults.timeout, std::time::Duration::from_secs(20));
        assert_eq!(
            host.hosts["api.test"],
            vec!["127.0.0.1".parse::<IpAddr>().unwrap()]
        );
    }

    #[test]
    fn an_agents_share_is_half_the_pool_and_never_more_than_it() {
        let dir = tempfile::tempdir().unwrap();
        let write = |text: &str| std::fs::write(dir.path().join(HOST_FILE), text).unwrap();
        write("[sandbox]\nmax_concurrent_calls = 10\n");
        assert_eq!(
            HostConfig::load(dir.path())
                .unwrap()
                .sandbox
                .max_calls_per_agent,
            5
        );
        write("[sandbox]\nmax_concurrent_calls = 1\n");
        assert_eq!(
            HostConfig::load(dir.path())
                .unwrap()
                .sandbox
                .max_calls_per_agent,
            1
        );
        write("[sandbox]\nmax_concurrent_calls = 10\nmax_calls_per_agent = 11\n");
        let error = HostConfig::load(dir.path()).unwrap_err().to_string();
        assert!(error.contains("sandbox.max_calls_per_agent"), "{error}");
    }

    #[test]
    fn a_missing_file_means_defaults_and_a_bad_one_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let host = HostConfig::load(dir.path()).unwrap();
        assert_eq!(host.defaults, Limits::DEFAULT);
        std::fs::write(
            dir.path().join(HOST_FILE),
            "[sandbox]\nmax_concurent_calls = 3\n",
        )
        .unwrap();
        let err = HostConfig::load(dir.path()).unwrap_err();
        assert_eq!(err.field, "sandbox.max_concurent_calls");
        assert_eq!(err.line, Some(2));
    }
}
