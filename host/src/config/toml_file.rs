//! Reading TOML files with errors that point at the file, the field and the
//! line, for manifests and configuration alike.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

/// A problem with a TOML file: where it is and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: PathBuf,
    /// 1-based line, when the problem has a place in the file.
    pub line: Option<usize>,
    /// Dotted path of the field, e.g. `tool[1].name`; empty for the whole file.
    pub field: String,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if self.field.is_empty() {
            write!(f, ": {}", self.message)
        } else {
            write!(f, ": field '{}': {}", self.field, self.message)
        }
    }
}

impl std::error::Error for ConfigError {}

/// The text of a TOML file, kept to turn byte spans into lines.
pub struct TomlFile {
    pub path: PathBuf,
    pub text: String,
}

impl TomlFile {
    pub fn read(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: path.to_owned(),
            line: None,
            field: String::new(),
            message: format!("cannot read: {e}"),
        })?;
        Ok(Self {
            path: path.to_owned(),
            text,
        })
    }

    /// Deserialize the whole file into `T`.
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, ConfigError> {
        let error = |e: toml::de::Error, path: String| {
            let message = e.message().trim().to_owned();
            // A missing field is named in the message; the path leads to
            // the table that lacks it.
            let field = match (missing_field(&message), path.is_empty()) {
                (Some(name), true) => name,
                (Some(name), false) => format!("{path}.{name}"),
                (None, _) => path,
            };
            ConfigError {
                file: self.path.clone(),
                line: e.span().map(|s| self.line_of(s.start)),
                field,
                message,
            }
        };
        let deserializer =
            toml::Deserializer::parse(&self.text).map_err(|e| error(e, String::new()))?;
        serde_path_to_error::deserialize(deserializer).map_err(|e| {
            // `Spanned` values add a segment of their own to the path.
            let path: Vec<String> = e
                .path()
                .iter()
                .map(|segment| segment.to_string())
                .filter(|segment| !segment.starts_with("$__serde_spanned"))
                .collect();
            let path = path.join(".").replace(".[", "[");
            error(e.into_inner(), path)
        })
    }

    /// An error about `field` located at `span`.
    pub fn error(
        &self,
        field: impl Into<String>,
        span: Option<Range<usize>>,
        message: impl Into<String>,
    ) -> ConfigError {
        ConfigError {
            file: self.path.clone(),
            line: span.map(|s| self.line_of(s.start)),
            field: field.into(),
            message: message.into(),
        }
    }

    pub fn line_of(&self, offset: usize) -> usize {
        let end = offset.min(self.text.len());
        self.text.as_bytes()[..end]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1
    }
}

/// The field a serde message reports missing: "missing field `name`".
fn missing_field(message: &str) -> Option<String> {
    let rest = message.strip_prefix("missing field `")?;
    Some(rest.split('`').next()?.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str) -> TomlFile {
        TomlFile {
            path: "x.toml".into(),
            text: text.into(),
        }
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Doc {
        top: String,
        limits: Limits,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Limits {
        memory: String,
    }

    #[test]
    fn type_error_names_field_and_line() {
        let err = file("top = \"a\"\n\n[limits]\nmemory = 5\n")
            .parse::<Doc>()
            .unwrap_err();
        assert_eq!(err.line, Some(4));
        assert_eq!(err.field, "limits.memory");
        assert!(err.message.contains("invalid type"), "{err}");
    }

    #[test]
    fn unknown_and_missing_fields_are_named() {
        let err = file("top = \"a\"\n[limits]\nmemory = \"1\"\nswap = 1\n")
            .parse::<Doc>()
            .unwrap_err();
        assert_eq!(err.field, "limits.swap");
        assert_eq!(err.line, Some(4));

        let err = file("[limits]\nmemory = \"1\"\n")
            .parse::<Doc>()
            .unwrap_err();
        assert_eq!(err.field, "top");
        assert!(err.to_string().starts_with("x.toml:"), "{err}");
    }

    #[test]
    fn syntax_error_has_a_line() {
        let err = file("top = \"a\"\nlimits = [\n")
            .parse::<Doc>()
            .unwrap_err();
        assert!(err.line.is_some(), "{err}");
    }
}
