//! Writing skills: a project from a template per language (`skill new`),
//! the right toolchain run with the right WIT (`skill build`), and a
//! component checked against the world and its manifest (`skill check`).

mod build;
mod c;
mod check;
mod templates;
mod toolchain;
mod wit;

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;

use crate::config::ConfigError;

pub use build::{Built, build};
pub use check::{Check, check};
pub use templates::new_skill;

/// Why a skill could not be written, built or checked.
#[derive(Debug, thiserror::Error)]
pub enum AuthoringError {
    #[error(transparent)]
    Manifest(#[from] ConfigError),
    #[error("{}: {error}", path.display())]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("'{0}' is not a skill name: [a-z][a-z0-9-]{{0,63}}")]
    BadName(String),
    #[error("{} already exists", .0.display())]
    Exists(PathBuf),
    #[error(
        "cannot tell the language of {}: expected Cargo.toml (Rust), app.py (Python), \
         app.js (JavaScript), *.c (C) or a .wat component (WAT)",
        .0.display()
    )]
    UnknownLanguage(PathBuf),
    /// A program of the toolchain, or something it needs, is not installed.
    #[error("{what} not found; to install it: {install}")]
    Missing {
        what: &'static str,
        install: &'static str,
    },
    #[error("cannot run {what} ({command}): {error}")]
    CannotRun {
        what: String,
        command: String,
        error: std::io::Error,
    },
    #[error("{what} failed ({status}):\n{output}")]
    Failed {
        what: String,
        status: ExitStatus,
        output: String,
    },
    #[error(
        "the wasm32-wasip2 target is not installed; to install it: rustup target add wasm32-wasip2"
    )]
    NoWasmTarget,
    #[error("cargo built no .wasm: is the crate a cdylib ([lib] crate-type = [\"cdylib\"])?")]
    NoWasm,
    #[error(
        "the Rust SDK is not at {}; the Rust template needs a skillbox source tree",
        .0.display()
    )]
    NoRustSdk(PathBuf),
    #[error(transparent)]
    Wat(#[from] wat::Error),
    /// The WIT built into the binary, or the bindings made from it.
    #[error("the built-in WIT: {0}")]
    Wit(String),
    #[error("cannot make a component of the C module: {0}")]
    Componentize(String),
}

/// A scratch directory, removed when dropped.
fn scratch() -> Result<tempfile::TempDir, AuthoringError> {
    tempfile::tempdir().map_err(io(&std::env::temp_dir()))
}

/// An I/O error about `path`.
fn io(path: &Path) -> impl FnOnce(std::io::Error) -> AuthoringError + '_ {
    move |error| AuthoringError::Io {
        path: path.to_owned(),
        error,
    }
}

/// A language a skill can be written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Language {
    /// Rust with the skillbox SDK, built by cargo.
    Rust,
    /// Python, made a component by componentize-py.
    Python,
    /// JavaScript, made a component by componentize-js.
    Js,
    /// C, compiled by clang against wasi-libc; skillbox makes the component.
    C,
    /// The WebAssembly text format, by hand: nothing to build.
    Wat,
}

impl fmt::Display for Language {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Language::Rust => "Rust",
            Language::Python => "Python",
            Language::Js => "JavaScript",
            Language::C => "C",
            Language::Wat => "WAT",
        })
    }
}

impl Language {
    /// The language of the skill project in `dir`, told by its files.
    pub fn detect(dir: &Path, component: &Path) -> Result<Language, AuthoringError> {
        let has = |name: &str| dir.join(name).is_file();
        let has_c = std::fs::read_dir(dir)
            .map_err(io(dir))?
            .filter_map(Result::ok)
            .any(|entry| entry.path().extension().is_some_and(|ext| ext == "c"));
        Ok(if has("Cargo.toml") {
            Language::Rust
        } else if has("app.py") {
            Language::Python
        } else if has("app.js") {
            Language::Js
        } else if has_c {
            Language::C
        } else if component.extension().is_some_and(|ext| ext == "wat") {
            Language::Wat
        } else {
            return Err(AuthoringError::UnknownLanguage(dir.to_owned()));
        })
    }
}
