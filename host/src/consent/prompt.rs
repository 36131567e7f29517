//! What a prompt carries to a person, what the person can answer, and the
//! trait every way of reaching a person implements.

use std::fmt;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use crate::vocab::{AgentId, Capability};

/// A question for a person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Prompt {
    /// Stable and unique within the host: how an answer finds its prompt.
    pub id: String,
    pub agent: AgentId,
    pub skill: String,
    pub tool: String,
    pub capability: Capability,
    /// The call's arguments, with secrets masked and long values cut.
    pub arguments: String,
    /// Why the person is asked.
    pub reason: String,
    #[serde(with = "humantime_serde")]
    pub asked_at: SystemTime,
    /// When the prompt is given up, and the capability refused.
    #[serde(with = "humantime_serde")]
    pub expires_at: SystemTime,
}

impl fmt::Display for Prompt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "agent '{}' · skill '{}' · tool '{}'",
            self.agent, self.skill, self.tool
        )?;
        writeln!(f, "  wants      {}", self.capability)?;
        writeln!(f, "  because    {}", self.reason)?;
        write!(f, "  arguments  {}", self.arguments)
    }
}

/// How long an answer holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", tag = "scope")]
pub enum Scope {
    /// This one use.
    Once,
    /// The rest of the session (a CLI run, a conversation).
    Session,
    /// A while.
    For {
        #[serde(with = "humantime_serde")]
        duration: Duration,
    },
    /// A number of uses.
    Times { times: u32 },
    /// Until revoked.
    Always,
}

/// A person's answer to a prompt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Answer {
    pub allow: bool,
    #[serde(flatten)]
    pub scope: Scope,
    /// For an action a skill asks about: the answer holds whatever details
    /// it shows next time, not only these.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub any_details: bool,
}

impl Answer {
    pub const ALLOW_ONCE: Answer = Answer::new(true, Scope::Once);
    pub const DENY: Answer = Answer::new(false, Scope::Once);

    /// Allow or deny for `scope`, about exactly what was asked.
    pub const fn new(allow: bool, scope: Scope) -> Answer {
        Answer {
            allow,
            scope,
            any_details: false,
        }
    }
}

impl fmt::Display for Answer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.allow { "allow" } else { "deny" })?;
        match self.scope {
            Scope::Once => Ok(()),
            Scope::Session => f.write_str(" for this session"),
            Scope::For { duration } => write!(f, " for {}", humantime::format_duration(duration)),
            Scope::Times { times } => write!(f, " {times} times"),
            Scope::Always => f.write_str(" always"),
        }?;
        match self.any_details {
            true => f.write_str(", any details"),
            false => Ok(()),
        }
    }
}

/// Why a channel gave no answer.
#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    /// Nobody answered before the prompt expired.
    #[error("no answer in time")]
    Timeout,
    #[error("{0}")]
    Failed(String),
}

/// A person's answer, and who gave it, as the audit and the grant record
/// it: `the terminal`, `token t1a2b (approver)`, `the admin socket`.
#[derive(Debug, Clone)]
pub struct Answered {
    pub answer: Answer,
    pub by: String,
}

/// A way to reach a person.
#[async_trait::async_trait]
pub trait PromptChannel: Send + Sync {
    /// The channel's name, recorded in the audit log with each answer.
    fn name(&self) -> &'static str;

    /// Ask `prompt` and wait for the answer, until `prompt.expires_at`.
    async fn ask(&self, prompt: &Prompt) -> Result<Answered, ChannelError>;

    /// The answer to `prompt` is on record (a grant it made is stored).
    fn recorded(&self, _prompt: &Prompt) {}
}
