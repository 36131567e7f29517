//! `skillbox skill new`: a skill project from a template, per language.
//! Every template is a skill with one tool, `hello`, and a README that says
//! how to build it.

use std::path::{Path, PathBuf};

use super::{AuthoringError, Language, io};

macro_rules! template {
    ($lang:literal: $($file:literal),+) => {
        &[$(($file, include_str!(concat!("../../../sdk/templates/", $lang, "/", $file)))),+]
    };
}

/// The files of `language`'s template: (path, contents with `{{name}}`).
fn files(language: Language) -> &'static [(&'static str, &'static str)] {
    match language {
        Language::Rust => template!("rust": "skill.toml", "Cargo.toml", "src/lib.rs", "README.md"),
        Language::Python => template!("python": "skill.toml", "app.py", "README.md"),
        Language::Js => template!("js": "skill.toml", "app.js", "README.md"),
        Language::C => template!("c": "skill.toml", "skill.c", "README.md"),
        Language::Wat => template!("wat": "skill.toml", "component.wat", "README.md"),
    }
}

/// The Rust SDK in the source tree this binary was built from: until the
/// SDK is published, Rust skills depend on it by path.
fn rust_sdk() -> Result<PathBuf, AuthoringError> {
    let sdk = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../sdk/rust"));
    sdk.canonicalize()
        .map_err(|_| AuthoringError::NoRustSdk(sdk.to_owned()))
}

/// Write the template of `language` for the skill `name` into `dir` (by
/// default `./<name>`), which must not exist yet.
pub fn new_skill(
    name: &str,
    language: Language,
    dir: Option<PathBuf>,
) -> Result<PathBuf, AuthoringError> {
    if !crate::vocab::is_skill_name(name) {
        return Err(AuthoringError::BadName(name.to_owned()));
    }
    let dir = dir.unwrap_or_else(|| PathBuf::from(name));
    if dir.exists() {
        return Err(AuthoringError::Exists(dir));
    }
    let sdk = match language {
        Language::Rust => rust_sdk()?.display().to_string(),
        _ => String::new(),
    };
    for (path, contents) in files(language) {
        let path = dir.join(path);
        let parent = path.parent().expect("a file in a directory");
        std::fs::create_dir_all(parent).map_err(io(parent))?;
        let contents = contents
            .replace("{{name}}", name)
            .replace("{{crate}}", &name.replace('-', "_"))
            .replace("{{sdk}}", &sdk);
        std::fs::write(&path, contents).map_err(io(&path))?;
    }
    Ok(dir)
}
