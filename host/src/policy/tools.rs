//! Which tools an agent may call: `allow` and `deny` patterns over
//! `skill.tool` names, where `*` matches any run of characters. Deny wins;
//! what no pattern allows is denied.

use std::fmt;

use wildmatch::WildMatch;

#[derive(Debug, Clone)]
pub struct ToolPattern {
    text: String,
    glob: WildMatch,
}

impl ToolPattern {
    pub fn parse(text: &str) -> Result<ToolPattern, String> {
        let valid_chars = text
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_-.*".contains(&b));
        if text == "*" || (valid_chars && text.contains('.') && !text.starts_with('.')) {
            Ok(ToolPattern {
                glob: WildMatch::new(text),
                text: text.to_owned(),
            })
        } else {
            Err(format!(
                "'{text}' is not a tool pattern: write skill.tool, with '*' for any part \
                 (e.g. \"text.*\", \"web.fetch\", \"*\")"
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

/// An agent's tool allowlist.
#[derive(Debug, Clone, Default)]
pub struct ToolRules {
    pub allow: Vec<ToolPattern>,
    pub deny: Vec<ToolPattern>,
}

impl ToolRules {
    pub fn allows(&self, skill: &str, tool: &str) -> bool {
        self.allow.iter().any(|p| p.matches(skill, tool))
            && !self.deny.iter().any(|p| p.matches(skill, tool))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(allow: &[&str], deny: &[&str]) -> ToolRules {
        ToolRules {
            allow: allow
                .iter()
                .map(|p| ToolPattern::parse(p).unwrap())
                .collect(),
            deny: deny
                .iter()
                .map(|p| ToolPattern::parse(p).unwrap())
                .collect(),
        }
    }

    #[test]
    fn deny_wins_and_nothing_is_allowed_by_default() {
        let r = rules(&["text.*", "web.fetch", "files.*"], &["files.delete"]);
        assert!(r.allows("text", "word_count"));
        assert!(r.allows("web", "fetch"));
        assert!(!r.allows("web", "post"));
        assert!(r.allows("files", "read"));
        assert!(!r.allows("files", "delete"));
        assert!(!r.allows("texts", "x"));
        assert!(!ToolRules::default().allows("text", "word_count"));
        assert!(rules(&["*"], &[]).allows("any", "thing"));
    }

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
