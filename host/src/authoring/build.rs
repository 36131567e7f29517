//! `skillbox skill build`: run the toolchain of the project's language with
//! the built-in WIT and put the component where its manifest says.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use super::toolchain::{self, CARGO, COMPONENTIZE_JS, COMPONENTIZE_PY};
use super::{AuthoringError, Language, io};
use crate::config::Manifest;

/// The Python helper module of `sdk/python`, importable as `skillbox`.
const PYTHON_HELPER: &str = include_str!("../../../sdk/python/skillbox.py");

/// What a build made.
#[derive(Debug)]
pub struct Built {
    pub language: Language,
    pub component: PathBuf,
    pub size: u64,
    pub took: Duration,
}

/// Build the skill project in `dir`.
pub fn build(dir: &Path) -> Result<Built, AuthoringError> {
    let started = Instant::now();
    let manifest = Manifest::load(dir)?;
    let out = &manifest.component;
    let language = Language::detect(dir, out)?;
    match language {
        Language::Rust => build_rust(dir, out)?,
        Language::Python => build_python(dir, out)?,
        Language::Js => build_js(dir, out)?,
        Language::C => super::c::build(dir, out)?,
        Language::Wat => {
            // Nothing to build; the host reads the text. Say now if it is wrong.
            wat::parse_file(out)?;
        }
    }
    Ok(Built {
        language,
        component: out.clone(),
        size: std::fs::metadata(out).map_err(io(out))?.len(),
        took: started.elapsed(),
    })
}

/// `cargo build --release --target wasm32-wasip2`, then the cdylib it made.
fn build_rust(dir: &Path, out: &Path) -> Result<(), AuthoringError> {
    let mut command = Command::new(CARGO.find(&[])?);
    command
        .args(["build", "--release", "--target", "wasm32-wasip2"])
        .args([
            "--message-format",
            "json-render-diagnostics",
            "--manifest-path",
        ])
        .arg(dir.join("Cargo.toml"));
    let output = toolchain::run(command, "cargo build").map_err(|e| {
        match e.to_string().contains("target may not be installed") {
            true => AuthoringError::NoWasmTarget,
            false => e,
        }
    })?;
    let built = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|message| message["reason"] == "compiler-artifact")
        .flat_map(|message| message["filenames"].as_array().cloned().unwrap_or_default())
        .filter_map(|file| file.as_str().map(PathBuf::from))
        .rfind(|file| file.extension().is_some_and(|ext| ext == "wasm"))
        .ok_or(AuthoringError::NoWasm)?;
    std::fs::copy(&built, out).map_err(io(out))?;
    Ok(())
}

/// componentize-py, with the app module `app` and the helper module beside it.
fn build_python(dir: &Path, out: &Path) -> Result<(), AuthoringError> {
    let program = COMPONENTIZE_PY.find(&[])?;
    let scratch = super::scratch()?;
    let wit = scratch.path().join("wit");
    super::wit::write_to(&wit).map_err(io(&wit))?;
    let helper = scratch.path().join("sdk");
    std::fs::create_dir_all(&helper).map_err(io(&helper))?;
    std::fs::write(helper.join("skillbox.py"), PYTHON_HELPER).map_err(io(&helper))?;
    let mut command = Command::new(program);
    command
        .arg("--wit-path")
        .arg(&wit)
        .args(["--world", super::wit::WORLD, "componentize", "app"])
        .arg("--python-path")
        .arg(dir)
        .arg("--python-path")
        .arg(&helper)
        .arg("--output")
        .arg(out);
    toolchain::run(command, "componentize-py")?;
    Ok(())
}

/// componentize-js on `app.js`, with stdio, clocks, random and `fetch`.
fn build_js(dir: &Path, out: &Path) -> Result<(), AuthoringError> {
    let program = COMPONENTIZE_JS.find(&[dir.join("node_modules/.bin")])?;
    let scratch = super::scratch()?;
    let wit = scratch.path().join("wit");
    super::wit::write_to(&wit).map_err(io(&wit))?;
    let mut command = Command::new(program);
    command
        .arg(dir.join("app.js"))
        .arg("--wit")
        .arg(&wit)
        .args(["--world-name", super::wit::WORLD])
        // A skill serves no HTTP: no incoming handler.
        .args(["--disable", "fetch-event"])
        .arg("--out")
        .arg(out);
    toolchain::run(command, "componentize-js")?;
    Ok(())
}
