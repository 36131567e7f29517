//! Names: of agents, skills, tools and secrets. They name state on disk and
//! in sled, so none can hold a path separator.

use std::fmt;
use std::sync::Arc;

use super::ParseError;

/// The id of an agent: `[a-z][a-z0-9-]{0,63}`. It names the agent's state,
/// so it can never hold a path separator.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(try_from = "String", into = "String")]
pub struct AgentId(Arc<str>);

impl TryFrom<String> for AgentId {
    type Error = ParseError;

    fn try_from(id: String) -> Result<AgentId, ParseError> {
        AgentId::new(&id)
    }
}

impl From<AgentId> for String {
    fn from(id: AgentId) -> String {
        id.0.to_string()
    }
}

impl std::borrow::Borrow<str> for AgentId {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl AgentId {
    pub fn new(id: &str) -> Result<AgentId, ParseError> {
        if is_skill_name(id) {
            Ok(AgentId(id.into()))
        } else {
            Err(ParseError::new(
                id,
                "an agent id",
                "use a lowercase letter, then up to 63 lowercase letters, digits or '-'",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AgentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// `[a-z][a-z0-9-]{0,63}`: skills, agents, backends.
pub(crate) fn is_skill_name(s: &str) -> bool {
    is_name(s, |c| c.is_ascii_lowercase(), b'-')
}

/// `[a-z][a-z0-9_]{0,63}`
pub(crate) fn is_tool_name(s: &str) -> bool {
    is_name(s, |c| c.is_ascii_lowercase(), b'_')
}

/// `[A-Z][A-Z0-9_]{0,63}`
pub(crate) fn is_secret_name(s: &str) -> bool {
    is_name(s, |c| c.is_ascii_uppercase(), b'_')
}

fn is_name(s: &str, letter: impl Fn(&u8) -> bool, separator: u8) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 64
        && letter(&b[0])
        && b.iter()
            .all(|c| letter(c) || c.is_ascii_digit() || *c == separator)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(is_skill_name("web-2"));
        assert!(!is_skill_name("2web"));
        assert!(!is_skill_name(&"a".repeat(65)));
        assert!(is_tool_name("word_count"));
        assert!(!is_tool_name("word-count"));
        assert!(is_secret_name("GITHUB_TOKEN"));
        assert!(!is_secret_name("github"));
        assert!(!is_secret_name("_X"));
        assert!(AgentId::new("ops").is_ok());
        let err = AgentId::new("../etc").unwrap_err().to_string();
        assert!(err.contains("is not an agent id"), "{err}");
    }
}
