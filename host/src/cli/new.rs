//! `skillbox skill new`: a skill project from a template, per language.

use std::path::{Path, PathBuf};

use clap::ValueEnum;

/// A language a skill can be written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Lang {
    /// The WebAssembly text format, by hand: nothing to build.
    Wat,
}

/// The files of `lang`'s template: (path, contents with `{{name}}`).
fn template(lang: Lang) -> &'static [(&'static str, &'static str)] {
    match lang {
        Lang::Wat => &[
            (
                "skill.toml",
                include_str!("../../../sdk/templates/wat/skill.toml"),
            ),
            (
                "component.wat",
                include_str!("../../../sdk/templates/wat/component.wat"),
            ),
            (
                "README.md",
                include_str!("../../../sdk/templates/wat/README.md"),
            ),
        ],
    }
}

/// Write the template of `lang` for the skill `name` into `dir`, which
/// must not exist yet.
pub fn new_skill(name: &str, lang: Lang, dir: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    if !crate::config::manifest::is_skill_name(name) {
        anyhow::bail!("'{name}' is not a skill name: [a-z][a-z0-9-]{{0,63}}");
    }
    let dir = dir.unwrap_or_else(|| Path::new(name).to_owned());
    if dir.exists() {
        anyhow::bail!("{} already exists", dir.display());
    }
    std::fs::create_dir_all(&dir)?;
    for (path, contents) in template(lang) {
        std::fs::write(dir.join(path), contents.replace("{{name}}", name))?;
    }
    Ok(dir)
}
