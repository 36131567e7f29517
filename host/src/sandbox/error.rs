//! What can go wrong in a tool call, phrased for the person reading it.

use std::fmt;
use std::time::Duration;

use bytesize::ByteSize;

/// A tool call that did not produce a result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallError {
    pub skill: String,
    pub tool: String,
    pub kind: CallErrorKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallErrorKind {
    /// The skill serves no such tool.
    UnknownTool {
        known: Vec<String>,
    },
    /// The input was refused before or by the tool.
    InvalidInput(String),
    /// A capability or the tool itself refused.
    Denied(String),
    /// The tool reported a failure.
    Failed(String),
    Deadline(Duration),
    OutOfFuel(u64),
    Memory(ByteSize),
    /// A table grew past the most elements a table may have.
    TableLimit(usize),
    StackOverflow,
    OutputTooLarge {
        size: usize,
        limit: ByteSize,
    },
    InvalidOutput(String),
    LogLimit(ByteSize),
    /// The component does not implement the `skillbox:skill` world.
    NotASkill(String),
    /// The guest trapped for another reason (a panic, a bad memory access).
    Crashed(String),
}

impl CallErrorKind {
    /// A short, stable label for metrics and logs.
    pub fn outcome(&self) -> &'static str {
        match self {
            CallErrorKind::UnknownTool { .. } | CallErrorKind::InvalidInput(_) => "invalid_input",
            CallErrorKind::Denied(_) => "denied",
            CallErrorKind::Failed(_) => "failed",
            CallErrorKind::Deadline(_) => "timeout",
            CallErrorKind::OutOfFuel(_)
            | CallErrorKind::Memory(_)
            | CallErrorKind::TableLimit(_)
            | CallErrorKind::StackOverflow
            | CallErrorKind::OutputTooLarge { .. }
            | CallErrorKind::LogLimit(_) => "limit",
            CallErrorKind::InvalidOutput(_)
            | CallErrorKind::NotASkill(_)
            | CallErrorKind::Crashed(_) => "trap",
        }
    }
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let CallError { skill, tool, kind } = self;
        match kind {
            CallErrorKind::UnknownTool { known } => write!(
                f,
                "skill '{skill}' has no tool '{tool}' (it has: {})",
                known.join(", ")
            ),
            CallErrorKind::InvalidInput(why) => {
                write!(f, "invalid input for tool '{skill}.{tool}': {why}")
            }
            CallErrorKind::Denied(why) => write!(f, "tool '{skill}.{tool}' was denied: {why}"),
            CallErrorKind::Failed(why) => write!(f, "tool '{skill}.{tool}' failed: {why}"),
            CallErrorKind::Deadline(d) => write!(
                f,
                "skill '{skill}' exceeded its {} deadline on tool '{tool}'",
                humantime::format_duration(*d)
            ),
            CallErrorKind::OutOfFuel(fuel) => write!(
                f,
                "skill '{skill}' used up its CPU budget of {fuel} fuel on tool '{tool}'"
            ),
            CallErrorKind::Memory(limit) => write!(
                f,
                "skill '{skill}' exceeded its {} memory limit on tool '{tool}'",
                limit
            ),
            CallErrorKind::TableLimit(max) => write!(
                f,
                "skill '{skill}' exceeded the limit of {max} table elements on tool '{tool}'"
            ),
            CallErrorKind::StackOverflow => {
                write!(f, "skill '{skill}' overflowed its stack on tool '{tool}'")
            }
            CallErrorKind::OutputTooLarge { size, limit } => write!(
                f,
                "skill '{skill}' returned {} from tool '{tool}', over its {} output limit",
                ByteSize::b(*size as u64),
                limit
            ),
            CallErrorKind::InvalidOutput(why) => write!(
                f,
                "skill '{skill}' returned output that is not JSON from tool '{tool}': {why}"
            ),
            CallErrorKind::LogLimit(limit) => write!(
                f,
                "skill '{skill}' exceeded its {} log limit on tool '{tool}'",
                limit
            ),
            CallErrorKind::NotASkill(why) => write!(
                f,
                "skill '{skill}' does not implement skillbox:skill@0.1.0 (calling tool '{tool}'): {why}"
            ),
            CallErrorKind::Crashed(why) => {
                write!(f, "skill '{skill}' crashed on tool '{tool}': {why}")
            }
        }
    }
}

impl std::error::Error for CallError {}

/// Raised from the epoch callback when a call passes its deadline.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DeadlineExceeded;

impl fmt::Display for DeadlineExceeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("deadline exceeded")
    }
}

impl std::error::Error for DeadlineExceeded {}
