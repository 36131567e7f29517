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
    /// Something a skill asked about itself through `consent.request`:
    /// the action, and the SHA-256 (hex) of the details it showed. A grant
    /// without a digest covers the action whatever its details.
    Action {
        action: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        details: Option<String>,
    },
    /// Inference beyond a limit of the agent's budget (`tokens_per_day`, ...).
    Budget { limit: String },
}

impl Capability {
    /// `action` with exactly these `details`.
    pub fn action(action: &str, details: &str) -> Capability {
        use sha2::Digest;
        Capability::Action {
            action: action.to_owned(),
            details: Some(hex::encode(sha2::Sha256::digest(details))),
        }
    }

    /// The same capability, for any details of an action.
    pub fn any_details(self) -> Capability {
        match self {
            Capability::Action { action, .. } => Capability::Action {
                action,
                details: None,
            },
            other => other,
        }
    }

    /// The same capability with `f` applied to every text in it that came
    /// from outside the host (names, origins, actions); a digest stays.
    pub fn map_text(self, f: impl Fn(&str) -> String) -> Capability {
        match self {
            Capability::Tool { tool } => Capability::Tool { tool: f(&tool) },
            Capability::Network { method, origin } => Capability::Network {
                method: f(&method),
                origin: f(&origin),
            },
            Capability::Filesystem { access, guest } => Capability::Filesystem {
                access,
                guest: f(&guest),
            },
            Capability::Secret { name, origin } => Capability::Secret {
                name,
                origin: f(&origin),
            },
            Capability::Action { action, details } => Capability::Action {
                action: f(&action),
                details,
            },
            Capability::Budget { limit } => Capability::Budget { limit },
        }
    }

    /// Whether a grant about `self` decides about `asked`: the same class,
    /// or the same action with any details.
    pub fn covers(&self, asked: &Capability) -> bool {
        match (self, asked) {
            (
                Capability::Action {
                    action,
                    details: None,
                },
                Capability::Action { action: asked, .. },
            ) => action == asked,
            _ => self == asked,
        }
    }
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Capability::Tool { tool } => write!(f, "tool {tool}"),
            Capability::Network { method, origin } => write!(f, "network {method} {origin}"),
            Capability::Filesystem { access, guest } => write!(f, "fs {access} {guest}"),
            Capability::Secret { name, origin } => write!(f, "secret {name} to {origin}"),
            Capability::Action {
                action,
                details: None,
            } => write!(f, "action \"{action}\" (any details)"),
            Capability::Action {
                action,
                details: Some(digest),
            } => write!(
                f,
                "action \"{action}\" (details {})",
                &digest[..digest.len().min(12)]
            ),
            Capability::Budget { limit } => write!(f, "inference beyond {limit}"),
        }
    }
}
