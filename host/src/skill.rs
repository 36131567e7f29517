//! A skill: its manifest and its prepared component, and the checks around
//! every call that need no sandbox: the tool exists, the input fits its
//! schema, the output is JSON.

use std::path::Path;

use crate::config::{ConfigError, Manifest, ToolSpec};
use crate::sandbox::{CallErrorKind, PrepareError, Prepared, Sandbox};
use crate::vocab::{Limits, truncate};

pub struct Skill {
    pub manifest: Manifest,
    prepared: Prepared,
}

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    Manifest(#[from] ConfigError),
    #[error("skill '{skill}': {error}")]
    Component { skill: String, error: PrepareError },
}

impl Skill {
    /// Load the skill in `dir`: its manifest, then its component.
    pub fn load(sandbox: &Sandbox, dir: &Path) -> Result<Skill, LoadError> {
        let manifest = Manifest::load(dir)?;
        let prepared =
            sandbox
                .prepare(&manifest.component)
                .map_err(|error| LoadError::Component {
                    skill: manifest.name.clone(),
                    error,
                })?;
        Ok(Skill { manifest, prepared })
    }

    pub fn name(&self) -> &str {
        &self.manifest.name
    }

    pub fn prepared(&self) -> &Prepared {
        &self.prepared
    }

    /// The tool called `tool`, if `input` is acceptable to it.
    pub fn check_input(
        &self,
        tool: &str,
        input: &str,
        limits: &Limits,
    ) -> Result<&ToolSpec, CallErrorKind> {
        let spec = self
            .manifest
            .tool(tool)
            .ok_or_else(|| CallErrorKind::UnknownTool {
                known: self.manifest.tools.iter().map(|t| t.name.clone()).collect(),
            })?;
        if input.len() as u64 > limits.input.as_u64() {
            return Err(CallErrorKind::InvalidInput(format!(
                "{} bytes is over the {} input limit",
                input.len(),
                limits.input
            )));
        }
        let value: serde_json::Value = serde_json::from_str(input)
            .map_err(|e| CallErrorKind::InvalidInput(format!("not JSON: {e}")))?;
        let violations = spec
            .input_schema
            .violations(&value, 5)
            .map_err(CallErrorKind::InvalidInput)?;
        if !violations.is_empty() {
            let shown: Vec<String> = violations.iter().map(|v| truncate(v, 300)).collect();
            return Err(CallErrorKind::InvalidInput(format!(
                "does not match the tool's input_schema: {}",
                shown.join("; ")
            )));
        }
        Ok(spec)
    }
}

/// Tool output must be a JSON document that those who read it can parse:
/// nested at most 128 levels deep, as serde_json allows.
pub(crate) fn check_output(output: &str) -> Result<(), CallErrorKind> {
    serde_json::from_str::<serde_json::Value>(output)
        .map(|_| ())
        .map_err(|e| CallErrorKind::InvalidOutput(e.to_string()))
}
