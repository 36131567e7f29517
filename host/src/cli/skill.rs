//! `skillbox skill ...`

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;
use wasmtime::component::types::ComponentItem;

use crate::Runtime;
use crate::config::AgentId;
use crate::policy::SkillPolicy;
use crate::sandbox::Limits;

#[derive(Subcommand)]
pub enum SkillCommand {
    /// Call one tool of a skill and print its JSON output.
    Run {
        /// The skill's directory (holding skill.toml).
        dir: PathBuf,
        #[arg(long)]
        tool: String,
        /// The tool's input, a JSON document.
        #[arg(long, default_value = "{}")]
        input: String,
        /// Where compiled components and memory live [default: $SKILLBOX_DATA_DIR or the user data dir].
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// The agent the call is made for; memory is kept per agent and skill.
        #[arg(long, default_value = "default")]
        agent: String,
        /// Do not print the skill's log on stderr.
        #[arg(long)]
        quiet: bool,
    },
    /// Show a skill's manifest, tools, limits and the component's imports and exports.
    Inspect {
        dir: PathBuf,
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
}

pub async fn run(command: SkillCommand) -> anyhow::Result<ExitCode> {
    match command {
        SkillCommand::Run {
            dir,
            tool,
            input,
            data_dir,
            agent,
            quiet,
        } => {
            let agent = AgentId::new(&agent).map_err(anyhow::Error::msg)?;
            let runtime = open(data_dir)?;
            let skill = runtime.load_skill(&dir)?;
            let report = runtime.call(&agent, &skill, &tool, &input).await;
            if !quiet {
                for record in &report.logs {
                    eprintln!("[{}] {record}", skill.name());
                }
            }
            match report.result {
                Ok(output) => {
                    println!("{output}");
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    Ok(ExitCode::FAILURE)
                }
            }
        }
        SkillCommand::Inspect { dir, data_dir } => {
            let runtime = open(data_dir)?;
            let skill = runtime.load_skill(&dir)?;
            print!("{}", describe(&runtime, &skill)?);
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn open(data_dir: Option<PathBuf>) -> anyhow::Result<Runtime> {
    let data_dir = data_dir.unwrap_or_else(super::default_data_dir);
    Runtime::open(&data_dir).with_context(|| format!("data dir {}", data_dir.display()))
}

fn describe(runtime: &Runtime, skill: &crate::skill::Skill) -> anyhow::Result<String> {
    use std::fmt::Write;
    let m = &skill.manifest;
    let mut out = String::new();
    let size = std::fs::metadata(&m.component)
        .map(|md| md.len())
        .unwrap_or(0);
    writeln!(out, "skill       {} {}", m.name, m.version)?;
    writeln!(out, "            {}", m.description)?;
    writeln!(out, "manifest    {}", m.path.display())?;
    writeln!(
        out,
        "component   {} ({}, sha256 {})",
        relative(&m.component),
        bytesize::ByteSize::b(size),
        skill.prepared().digest()
    )?;
    let mut asked = Vec::new();
    if m.capabilities.memory {
        asked.push("memory");
    }
    if m.capabilities.inference {
        asked.push("inference");
    }
    writeln!(
        out,
        "asks for    {}",
        if asked.is_empty() {
            "nothing".into()
        } else {
            asked.join(", ")
        }
    )?;
    let l = SkillPolicy::new(m, &Limits::MAXIMUM).limits;
    writeln!(
        out,
        "limits      memory {}, fuel {}, timeout {}, input {}, output {}, log {}, \
         memory quota {} / {} keys",
        l.memory,
        l.fuel,
        humantime::format_duration(l.timeout),
        l.input,
        l.output,
        l.log,
        l.memory_quota,
        l.memory_keys
    )?;

    writeln!(out, "\ntools")?;
    for tool in &m.tools {
        writeln!(out, "  {} — {}", tool.name, tool.description)?;
        let schema = serde_json::to_string_pretty(&tool.input_schema.json)?;
        for line in schema.lines() {
            writeln!(out, "    {line}")?;
        }
    }

    let engine = runtime.sandbox().engine();
    let ty = skill.prepared().component().component_type();
    writeln!(out, "\nimports")?;
    for (name, item) in ty.imports(engine) {
        writeln!(out, "  {name}{}", functions(&item.ty, engine))?;
    }
    writeln!(out, "\nexports")?;
    for (name, item) in ty.exports(engine) {
        writeln!(out, "  {name}{}", functions(&item.ty, engine))?;
    }
    Ok(out)
}

/// ` { f, g }` for an instance's functions, empty otherwise.
fn functions(item: &ComponentItem, engine: &wasmtime::Engine) -> String {
    let ComponentItem::ComponentInstance(instance) = item else {
        return String::new();
    };
    let names: Vec<&str> = instance
        .exports(engine)
        .filter(|(_, e)| matches!(e.ty, ComponentItem::ComponentFunc(_)))
        .map(|(name, _)| name)
        .collect();
    if names.is_empty() {
        String::new()
    } else {
        format!(" {{ {} }}", names.join(", "))
    }
}

fn relative(path: &Path) -> String {
    std::env::current_dir()
        .ok()
        .and_then(|cwd| path.strip_prefix(cwd).ok().map(Path::to_path_buf))
        .unwrap_or_else(|| path.to_owned())
        .display()
        .to_string()
}
