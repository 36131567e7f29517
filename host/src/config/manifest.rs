//! `skill.toml`: what a skill is, which tools it serves, what it asks for.
//!
//! ```toml
//! [skill]
//! name = "text"
//! version = "0.1.0"
//! description = "Text utilities"
//! component = "text.wasm"
//!
//! [[tool]]
//! name = "word_count"
//! description = "Count the words in a text"
//! input_schema = { type = "object", properties = { text = { type = "string" } }, required = ["text"] }
//!
//! [capabilities]
//! memory = true
//!
//! [limits]
//! memory = "64MiB"
//! timeout = "5s"
//! ```

use std::collections::HashSet;
use std::path::{Component, Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use super::capabilities::{Capabilities, RawCapabilities};
use super::schema::InputSchema;
use super::toml_file::{ConfigError, TomlFile};
use crate::vocab::{LimitOverrides, is_skill_name, is_tool_name};

/// The file name of a skill manifest inside a skill directory.
pub(super) const MANIFEST_FILE: &str = "skill.toml";

/// A validated skill manifest.
#[derive(Debug, Clone)]
pub struct Manifest {
    pub name: String,
    pub version: semver::Version,
    pub description: String,
    /// Absolute path of the component file.
    pub component: PathBuf,
    pub tools: Vec<ToolSpec>,
    pub capabilities: Capabilities,
    pub limits: LimitOverrides,
    /// Where the manifest was read from.
    pub path: PathBuf,
}

/// One tool a skill serves.
#[derive(Debug, Clone)]
pub struct ToolSpec {
    pub name: String,
    pub description: String,
    pub input_schema: InputSchema,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawManifest {
    skill: RawSkill,
    #[serde(default, rename = "tool")]
    tools: Vec<RawTool>,
    #[serde(default)]
    capabilities: RawCapabilities,
    #[serde(default)]
    limits: LimitOverrides,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSkill {
    name: Spanned<String>,
    version: Spanned<String>,
    description: Spanned<String>,
    component: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTool {
    name: Spanned<String>,
    description: Spanned<String>,
    input_schema: Spanned<serde_json::Value>,
}

impl Manifest {
    /// Read and validate the manifest of the skill in `dir` (a directory
    /// holding `skill.toml`, or the manifest file itself).
    pub fn load(dir: &Path) -> Result<Manifest, ConfigError> {
        let path = if dir.is_file() {
            dir.to_owned()
        } else {
            dir.join(MANIFEST_FILE)
        };
        let file = TomlFile::read(&path)?;
        Self::from_file(&file)
    }

    /// Validate a manifest whose text is already read.
    pub fn from_file(file: &TomlFile) -> Result<Manifest, ConfigError> {
        let raw: RawManifest = file.parse()?;
        let RawSkill {
            name,
            version,
            description,
            component,
        } = raw.skill;

        if !is_skill_name(name.get_ref()) {
            return Err(file.error(
                "skill.name",
                Some(name.span()),
                format!(
                    "'{}' is not a skill name: use a lowercase letter, then up to 63 \
                     lowercase letters, digits or '-'",
                    name.get_ref()
                ),
            ));
        }
        let parsed_version = semver::Version::parse(version.get_ref()).map_err(|e| {
            file.error(
                "skill.version",
                Some(version.span()),
                format!("'{}' is not a semantic version: {e}", version.get_ref()),
            )
        })?;
        if description.get_ref().trim().is_empty() {
            return Err(file.error(
                "skill.description",
                Some(description.span()),
                "must not be empty",
            ));
        }
        let component_path = Path::new(component.get_ref());
        let stays_inside = !component_path.as_os_str().is_empty()
            && component_path
                .components()
                .all(|c| matches!(c, Component::Normal(_) | Component::CurDir));
        if !stays_inside {
            return Err(file.error(
                "skill.component",
                Some(component.span()),
                format!(
                    "'{}' must be a relative path inside the skill directory",
                    component.get_ref()
                ),
            ));
        }

        let tools = tools(file, raw.tools)?;
        let capabilities = raw.capabilities.validate(file)?;
        let dir = file.path.parent().unwrap_or(Path::new("."));
        let dir = std::path::absolute(dir).unwrap_or_else(|_| dir.to_owned());
        Ok(Manifest {
            name: name.into_inner(),
            version: parsed_version,
            description: description.into_inner(),
            component: dir.join(component.get_ref()),
            tools,
            capabilities,
            limits: raw.limits,
            path: file.path.clone(),
        })
    }

    pub fn tool(&self, name: &str) -> Option<&ToolSpec> {
        self.tools.iter().find(|t| t.name == name)
    }
}

/// The `[[tool]]` entries, each with a valid name, a description and an
/// input schema that describes an object.
fn tools(file: &TomlFile, raw: Vec<RawTool>) -> Result<Vec<ToolSpec>, ConfigError> {
    if raw.is_empty() {
        return Err(file.error("tool", None, "a skill must declare at least one [[tool]]"));
    }
    let mut seen = HashSet::new();
    let mut tools = Vec::with_capacity(raw.len());
    for (i, tool) in raw.into_iter().enumerate() {
        let field = |f: &str| format!("tool[{i}].{f}");
        let tool_name = tool.name.get_ref();
        if !is_tool_name(tool_name) {
            return Err(file.error(
                field("name"),
                Some(tool.name.span()),
                format!(
                    "'{tool_name}' is not a tool name: use a lowercase letter, then up \
                     to 63 lowercase letters, digits or '_'"
                ),
            ));
        }
        if !seen.insert(tool_name.clone()) {
            return Err(file.error(
                field("name"),
                Some(tool.name.span()),
                format!("tool '{tool_name}' is declared twice"),
            ));
        }
        if tool.description.get_ref().trim().is_empty() {
            return Err(file.error(
                field("description"),
                Some(tool.description.span()),
                "must not be empty",
            ));
        }
        let schema_span = tool.input_schema.span();
        let json = tool.input_schema.into_inner();
        if json.get("type") != Some(&serde_json::Value::from("object")) {
            return Err(file.error(
                field("input_schema"),
                Some(schema_span),
                "must describe a JSON object: set type = \"object\"",
            ));
        }
        let input_schema = InputSchema::new(json)
            .map_err(|why| file.error(field("input_schema"), Some(schema_span.clone()), why))?;
        tools.push(ToolSpec {
            name: tool.name.into_inner(),
            description: tool.description.into_inner(),
            input_schema,
        });
    }
    Ok(tools)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[skill]
name = "text"
version = "0.1.0"
description = "Text utilities"
component = "text.wasm"

[[tool]]
name = "word_count"
description = "Count the words in a text"
input_schema = { type = "object", properties = { text = { type = "string" } }, required = ["text"] }

[capabilities]
memory = true

[limits]
memory = "64MiB"
timeout = "5s"
"#;

    fn parse(text: &str) -> Result<Manifest, ConfigError> {
        Manifest::from_file(&TomlFile {
            path: "skills/text/skill.toml".into(),
            text: text.into(),
        })
    }

    #[test]
    fn parses_the_documented_example() {
        let m = parse(GOOD).unwrap();
        assert_eq!(m.name, "text");
        assert_eq!(m.tools[0].name, "word_count");
        assert!(m.capabilities.memory);
        assert!(!m.capabilities.inference);
        assert_eq!(m.limits.timeout, Some(std::time::Duration::from_secs(5)));
        assert!(m.component.ends_with("skills/text/text.wasm"));
        let schema = &m.tool("word_count").unwrap().input_schema;
        assert!(
            schema
                .violations(&serde_json::json!({"text": "a"}), 5)
                .unwrap()
                .is_empty()
        );
        let violations = schema
            .violations(&serde_json::json!({"text": 5}), 5)
            .unwrap();
        assert_eq!(violations.len(), 1);
        assert!(violations[0].starts_with("/text:"), "{violations:?}");
    }

    #[test]
    fn bad_name_names_field_and_line() {
        let err = parse(&GOOD.replace("name = \"text\"", "name = \"Text!\"")).unwrap_err();
        assert_eq!(err.field, "skill.name");
        assert_eq!(err.line, Some(3));
        assert!(
            err.to_string()
                .starts_with("skills/text/skill.toml:3: field 'skill.name'")
        );
    }

    #[test]
    fn rejects_bad_version_component_and_schema() {
        let err = parse(&GOOD.replace("0.1.0", "one")).unwrap_err();
        assert_eq!((err.field.as_str(), err.line), ("skill.version", Some(4)));

        let err = parse(&GOOD.replace("text.wasm", "../other.wasm")).unwrap_err();
        assert_eq!(err.field, "skill.component");

        let err = parse(&GOOD.replace("type = \"string\"", "type = \"strin\"")).unwrap_err();
        assert_eq!(
            (err.field.as_str(), err.line),
            ("tool[0].input_schema", Some(11))
        );

        let err = parse(&GOOD.replace("type = \"object\"", "type = \"array\"")).unwrap_err();
        assert_eq!(err.field, "tool[0].input_schema");
    }

    #[test]
    fn rejects_unknown_capability_and_duplicate_tool() {
        let err = parse(&GOOD.replace("memory = true", "sockets = true")).unwrap_err();
        assert_eq!(err.field, "capabilities.sockets");

        let err = parse(&GOOD.replace("memory = true", "network = [\"https://x.org/path\"]"))
            .unwrap_err();
        assert_eq!(
            (err.field.as_str(), err.line),
            ("capabilities.network[0]", Some(14))
        );

        let dup = GOOD.replace(
            "[capabilities]",
            "[[tool]]\nname = \"word_count\"\ndescription = \"again\"\n\
             input_schema = { type = \"object\" }\n\n[capabilities]",
        );
        let err = parse(&dup).unwrap_err();
        assert_eq!(err.field, "tool[1].name");
        assert!(err.message.contains("declared twice"));
    }

    #[test]
    fn parses_network_filesystem_and_secrets() {
        let m = parse(&GOOD.replace(
            "memory = true",
            r#"network = ["https://api.github.com", "https://*.wikipedia.org"]
filesystem = [{ guest = "/workspace", access = "read-write" }]
secrets.GITHUB_TOKEN = { hosts = ["https://api.github.com"], header = "Authorization: Bearer {}" }"#,
        ))
        .unwrap();
        let caps = &m.capabilities;
        assert_eq!(caps.network.len(), 2);
        assert_eq!(caps.filesystem[0].guest, "/workspace");
        let token = &caps.secrets["GITHUB_TOKEN"];
        assert_eq!(token.header, http::header::AUTHORIZATION);
        assert_eq!(token.header_value("abc"), "Bearer abc");

        let err = parse(&GOOD.replace(
            "memory = true",
            r#"secrets.github = { hosts = ["https://x.org"], header = "X: {}" }"#,
        ))
        .unwrap_err();
        assert_eq!(err.field, "capabilities.secrets.github");

        let err = parse(&GOOD.replace(
            "memory = true",
            r#"secrets.TOKEN = { hosts = ["https://*"], header = "X: {}" }"#,
        ))
        .unwrap_err();
        assert_eq!(err.field, "capabilities.secrets.TOKEN.hosts[0]");
        assert!(err.message.contains("must be named"), "{err}");
    }
}
