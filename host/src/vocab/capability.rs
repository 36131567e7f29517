//! What prompts ask about and grants cover: classes of capability, never
//! the exact arguments of a call.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Read-only or read-write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Access {
    ReadOnly,
    ReadWrite,
}

impl fmt::Display for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Access::ReadOnly => "read-only",
            Access::ReadWrite => "read-write",
        })
    }
}

/// A class of capability: what a prompt asks about and what a grant covers.
/// Never the exact arguments of a call: "skill `web` may GET
/// `https://api.github.com`", not one URL.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Capability {
    /// Calling a tool (`skill.tool`).
    Tool { tool: String },
    /// Requests with a method to an origin (`scheme://host:port`).
    Network { method: String, origin: String },
    /// A directory at a guest path with an access.
    Filesystem { access: Access, guest: String },
    /// A secret injected into requests to an origin.
    Secret { name: String, origin: String },
    /// Something a skill asked about itself through `consent.request`.
    Action { action: String },
    /// Inference beyond a limit of the agent's budget (`tokens_per_day`, ...).
    Budget { limit: String },
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Capability::Tool { tool } => write!(f, "tool {tool}"),
            Capability::Network { method, origin } => write!(f, "network {method} {origin}"),
            Capability::Filesystem { access, guest } => write!(f, "fs {access} {guest}"),
            Capability::Secret { name, origin } => write!(f, "secret {name} to {origin}"),
            Capability::Action { action } => write!(f, "action \"{action}\""),
            Capability::Budget { limit } => write!(f, "inference beyond {limit}"),
        }
    }
}
