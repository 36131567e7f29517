//! Tool patterns: `skill.tool` names where `*` matches any run of
//! characters, as an agent's `tools.allow` and `tools.deny` write them.

use std::fmt;

use wildmatch::WildMatch;

use super::ParseError;

#[derive(Debug, Clone)]
pub struct ToolPattern {
    text: String,
    glob: WildMatch,
}

impl ToolPattern {
    pub fn parse(text: &str) -> Result<ToolPattern, ParseError> {
        let valid_chars = text
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_-.*".contains(&b));
        if text == "*" || (valid_chars && text.contains('.') && !text.starts_with('.')) {
            Ok(ToolPattern {
                glob: WildMatch::new(text),
                text: text.to_owned(),
            })
        } else {
            Err(ParseError::new(
                text,
                "a tool pattern",
                "write skill.tool, with '*' for any part (e.g. \"text.*\", \"web.fetch\", \"*\")",
            ))
        }
    }

    pub fn matches(&self, skill: &str, tool: &str) -> bool {
        self.glob.matches(&format!("{skill}.{tool}"))
    }

    /// Whether the pattern can match a tool of `skill`.
    pub fn may_name_skill(&self, skill: &str) -> bool {
        let skill_part = self.text.split('.').next().unwrap_or_default();
        self.text == "*" || skill_part.contains('*') || skill_part == skill
    }
}

impl fmt::Display for ToolPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_are_checked() {
        for bad in ["text", "Text.*", ".x", "a b.c", "text.wo rd"] {
            assert!(ToolPattern::parse(bad).is_err(), "{bad}");
        }
        assert!(ToolPattern::parse("text.*").unwrap().may_name_skill("text"));
        assert!(!ToolPattern::parse("text.*").unwrap().may_name_skill("web"));
        assert!(ToolPattern::parse("*.read").unwrap().may_name_skill("web"));
    }
}
