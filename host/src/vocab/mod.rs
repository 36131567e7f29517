//! The words every layer shares: identifiers and names, network and tool
//! patterns, access and limits, consent settings and the capability classes
//! that prompts and grants are about, deadlines, chat messages, and text
//! made safe to show.
//!
//! This module imports nothing of the crate: configuration reads files into
//! these words, and the runtime acts on them.

mod budget;
mod capability;
mod chat;
mod consent;
mod deadline;
mod limits;
mod names;
mod network;
mod text;
mod tools;

pub(crate) use budget::{FIELD_MAP_BYTES, MemoryBudget};
pub use capability::{Access, Capability};
pub use chat::{ChatRequest, Message, ModelRef, Role};
pub(crate) use chat::{ChatResponse, ToolCall, ToolSpec, Usage};
pub use consent::ConsentSettings;
pub(crate) use consent::{Fallback, Mode};
pub use deadline::Deadline;
pub use limits::Limits;
pub(crate) use limits::{LimitOverrides, WrittenLimit};
pub use names::AgentId;
pub(crate) use names::{is_secret_name, is_skill_name, is_tool_name};
pub use network::NetPattern;
pub(crate) use network::{HostPattern, is_host_controlled_header};
pub(crate) use text::{printable, truncate};
pub(crate) use tools::ToolPattern;

/// A word that does not parse as what it should be: an agent id, a network
/// or tool pattern, a model name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{text}' is not {what}: {hint}")]
pub struct ParseError {
    pub text: String,
    /// What it should have been, with its article: "an agent id".
    pub what: &'static str,
    /// What is wrong, or how to write it.
    pub hint: String,
}

impl ParseError {
    pub fn new(text: &str, what: &'static str, hint: impl Into<String>) -> ParseError {
        ParseError {
            text: text.to_owned(),
            what,
            hint: hint.into(),
        }
    }
}
