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
use std::path::Path;

pub use build::{Built, build};
pub use check::{Check, check};
pub use templates::new_skill;

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
    pub fn detect(dir: &Path, component: &Path) -> anyhow::Result<Language> {
        let has = |name: &str| dir.join(name).is_file();
        let has_c = std::fs::read_dir(dir)?
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
            anyhow::bail!(
                "cannot tell the language of {}: expected Cargo.toml (Rust), app.py (Python), \
                 app.js (JavaScript), *.c (C) or a .wat component (WAT)",
                dir.display()
            )
        })
    }
}
