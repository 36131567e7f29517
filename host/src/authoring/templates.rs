//! `skillbox skill new`: a skill project from a template, per language.
//! Every template is a skill with one tool, `hello`, and a README that says
//! how to build it.

use std::path::{Path, PathBuf};

use super::Language;

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
fn rust_sdk() -> anyhow::Result<PathBuf> {
    let sdk = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../sdk/rust"));
    sdk.canonicalize().map_err(|_| {
        anyhow::anyhow!(
            "the Rust SDK is not at {}; the Rust template needs a skillbox source tree",
            sdk.display()
        )
    })
}

/// Write the template of `language` for the skill `name` into `dir` (by
/// default `./<name>`), which must not exist yet.
pub fn new_skill(name: &str, language: Language, dir: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    if !crate::vocab::is_skill_name(name) {
        anyhow::bail!("'{name}' is not a skill name: [a-z][a-z0-9-]{{0,63}}");
    }
    let dir = dir.unwrap_or_else(|| PathBuf::from(name));
    if dir.exists() {
        anyhow::bail!("{} already exists", dir.display());
    }
    let sdk = match language {
        Language::Rust => rust_sdk()?.display().to_string(),
        _ => String::new(),
    };
    for (path, contents) in files(language) {
        let path = dir.join(path);
        std::fs::create_dir_all(path.parent().expect("a file in a directory"))?;
        let contents = contents
            .replace("{{name}}", name)
            .replace("{{crate}}", &name.replace('-', "_"))
            .replace("{{sdk}}", &sdk);
        std::fs::write(path, contents)?;
    }
    Ok(dir)
}
