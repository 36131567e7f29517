//! skillbox hosts many AI agents on one machine and runs every skill they use
//! as a capability-restricted WebAssembly component.
//!
//! The modules form layers, each using only those below it (the table is in
//! `docs/architecture.md`, and a test holds the code to it): `vocab`, the
//! words everyone shares; `config`, `db`, `metrics` and `redact`; `consent`;
//! `egress`; `inference` and `prompt`; `caps`, one module per host
//! capability; `sandbox`, `policy` and `market`; `skill` and `authoring`;
//! `runtime`, which ties them together for a tool call; `agent`, the
//! conversation loop; `api`; and `cli`.
//!
//! Most of it is private to the crate. What embedders, tests and benchmarks
//! use is re-exported here, and two modules are public whole: [`market`],
//! the marketplace (packages, registries, installing), and [`authoring`],
//! writing skills (`skill new`, `build`, `check`).

#![warn(unreachable_pub)]

mod agent;
mod api;
pub mod authoring;
mod caps;
mod cli;
mod config;
mod consent;
mod db;
mod egress;
mod inference;
pub mod market;
mod metrics;
mod policy;
mod prompt;
mod redact;
mod runtime;
mod sandbox;
mod skill;
mod vocab;

/// The `skillbox` command.
pub use cli::main;

// Running agents, their tool calls and their turns.
pub use agent::{TurnError, TurnEvent, TurnReport, UNTRUSTED_NOTE};
pub use runtime::{Agent, AgentError, OpenError, Runtime};
pub use sandbox::{
    CallError, CallErrorKind, CallReport, MAX_TABLE_ELEMENTS, PrepareError, Sandbox, SandboxError,
    pooling_allocator,
};
pub use skill::{LoadError, Skill};

// What the operator and skill authors write, and the words it is made of.
pub use config::{ConfigDir, ConfigError, HostConfig, Manifest, SandboxConfig};
pub use vocab::{
    Access, AgentId, Capability, ChatRequest, ConsentSettings, Deadline, Limits, Message, ModelRef,
    Role,
};

// Asking people.
pub use consent::{Answer, CallConsent, Prompt, Scope, Session};
pub use prompt::PromptQueue;

// The shared inference service and the way out.
pub use egress::Egress;
pub use inference::{AgentClient, Failure, InferenceError};
pub use redact::SecretScanner;

// Durable state, per agent.
pub use db::agent as agent_data;
pub use db::{Db, DbError, audit, grants, history, usage};

// The HTTP API: a server of a configuration's agents, and its bearer tokens.
pub use api::{Holder, ServeError, Server, TokenStore};

/// Every parser of what the host reads, over text and bytes in memory, for
/// the fuzz targets in `fuzz/` (docs/fuzzing.md). Not an API: the rest of
/// the parsers (`Manifest::from_file`, `HostConfig::from_file`,
/// `market::package::Package::unpack`, the registry's types) are public
/// already.
#[doc(hidden)]
pub mod fuzzing {
    pub use crate::api::conversation_of;
    pub use crate::config::TomlFile;
    pub use crate::vocab::NetPattern;

    use crate::config::{AgentConfig, ConfigError, HostConfig};

    /// Read an agent's file, `agents/<id>.toml`, against `host`, as
    /// [`crate::ConfigDir::load`] does.
    pub fn agent(file: &TomlFile, host: &HostConfig) -> Result<(), ConfigError> {
        AgentConfig::from_file(file, host).map(drop)
    }
}
