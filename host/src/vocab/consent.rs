//! `[consent]` of an agent: what it does about a capability it does not
//! hold.

use std::time::Duration;

use serde::Deserialize;

/// What an agent does about a capability it does not hold.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Refuse, without asking.
    #[default]
    Deny,
    /// Ask a person.
    Ask,
    /// Ask a person, also before every tool call, granted or not.
    Always,
}

/// When no prompt channel is attached.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Fallback {
    #[default]
    Deny,
    AllowOnce,
}

/// `[consent]` of an agent.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsentSettings {
    #[serde(default)]
    pub mode: Mode,
    /// How long a prompt waits for an answer before the capability is refused.
    #[serde(default = "default_timeout", with = "humantime_serde")]
    pub timeout: Duration,
    #[serde(default)]
    pub fallback: Fallback,
}

fn default_timeout() -> Duration {
    Duration::from_secs(60)
}

impl Default for ConsentSettings {
    fn default() -> Self {
        Self {
            mode: Mode::Deny,
            timeout: default_timeout(),
            fallback: Fallback::Deny,
        }
    }
}
