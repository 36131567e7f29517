//! `skillbox skill check`: will this skill load and do what its manifest
//! says? The component is compiled and linked exactly as for a call, and
//! each import is weighed against what the manifest asks for: an import
//! whose capability is not asked for is linked but every use is denied.

use std::fmt;
use std::path::Path;

use super::{AuthoringError, io};
use crate::config::Manifest;
use crate::market::package::MAX_COMPONENT;
use crate::sandbox::Sandbox;

/// What `check` found.
#[derive(Debug, Default)]
pub struct Check {
    /// What the skill is: name, component, size, imports.
    pub facts: Vec<String>,
    /// What will stop the skill from loading or being published.
    pub problems: Vec<String>,
    /// What loads but will be denied or is worth a look.
    pub warnings: Vec<String>,
}

impl Check {
    pub fn passed(&self) -> bool {
        self.problems.is_empty()
    }
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for fact in &self.facts {
            writeln!(f, "{fact}")?;
        }
        for warning in &self.warnings {
            writeln!(f, "warning: {warning}")?;
        }
        for problem in &self.problems {
            writeln!(f, "problem: {problem}")?;
        }
        match self.problems.len() {
            0 => writeln!(
                f,
                "ok: the skill loads and exports `call`, through which each tool of skill.toml is called"
            ),
            n => writeln!(f, "{n} problem(s)"),
        }
    }
}

/// Check the skill in `dir` against the skill world and its manifest.
pub fn check(sandbox: &Sandbox, dir: &Path) -> Result<Check, AuthoringError> {
    let manifest = Manifest::load(dir)?;
    let mut check = Check::default();
    let size = std::fs::metadata(&manifest.component)
        .map_err(io(&manifest.component))?
        .len();
    check.facts.push(format!(
        "skill {} {}: {} tool(s), component {} ({})",
        manifest.name,
        manifest.version,
        manifest.tools.len(),
        manifest.component.display(),
        bytesize::ByteSize::b(size)
    ));
    if size > MAX_COMPONENT {
        check.problems.push(format!(
            "the component is over the marketplace's {} limit",
            bytesize::ByteSize::b(MAX_COMPONENT)
        ));
    }

    // Compiled and linked as for a call: a missing export, a wrong `call`
    // or an import the host does not provide is reported here.
    let prepared = match sandbox.prepare(&manifest.component) {
        Ok(prepared) => prepared,
        Err(e) => {
            check.problems.push(e.to_string());
            return Ok(check);
        }
    };
    let engine = sandbox.engine();
    for (name, _) in prepared.component().component_type().imports(engine) {
        match denied_unless(name, &manifest) {
            Some(why) => check.warnings.push(format!("imports {name}, but {why}")),
            None => check.facts.push(format!("imports {name}")),
        }
    }
    Ok(check)
}

/// Why every use of the import `name` will be denied to this skill, if it
/// will: the manifest does not ask for the capability behind it.
fn denied_unless(name: &str, manifest: &Manifest) -> Option<String> {
    let interface = name.split('@').next().unwrap_or(name);
    let caps = &manifest.capabilities;
    match interface {
        "skillbox:skill/memory" if !caps.memory => Some(
            "skill.toml does not ask for memory: every use is denied \
             (add `memory = true` under [capabilities])"
                .into(),
        ),
        "skillbox:skill/inference" if !caps.inference => Some(
            "skill.toml does not ask for inference: every use is denied \
             (add `inference = true` under [capabilities])"
                .into(),
        ),
        "wasi:http/outgoing-handler" if caps.network.is_empty() => Some(
            "skill.toml asks for no network hosts: every request is denied \
             (list them in `network` under [capabilities])"
                .into(),
        ),
        "wasi:filesystem/preopens" if caps.filesystem.is_empty() => Some(
            "skill.toml asks for no directories: the skill sees none \
             (list them in `filesystem` under [capabilities])"
                .into(),
        ),
        _ if interface.starts_with("wasi:sockets/") => {
            Some("sockets are never granted: every use is denied (use wasi:http)".into())
        }
        _ => None,
    }
}
