//! `skillbox skill ...`

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;
use wasmtime::component::types::ComponentItem;

use super::Places;
use super::output::{eoutln, out, outln};
use crate::api::{AdminClient, segment};
use crate::authoring::{self, Language};
use crate::config::{HostConfig, Manifest};
use crate::consent::Session;
use crate::sandbox::Sandbox;
use crate::skill::Skill;
use crate::vocab::AgentId;

#[derive(Subcommand)]
pub(super) enum SkillCommand {
    /// Call one tool of a skill and print its JSON output.
    Run {
        /// The skill: its directory, or with --config its name in the agent.
        skill: String,
        #[arg(long)]
        tool: String,
        /// The tool's input, a JSON document.
        #[arg(long, default_value = "{}")]
        input: String,
        /// The agent the call is made for. With --config, an agent of the
        /// configuration, under its grants; without, a local agent that
        /// grants the skill its memory and nothing that leaves the host.
        #[arg(long)]
        agent: Option<String>,
        /// Do not print the skill's log on stderr.
        #[arg(long)]
        quiet: bool,
        #[command(flatten)]
        places: Places,
    },
    /// Show a skill's manifest, tools, limits and the component's imports and exports.
    Inspect {
        dir: PathBuf,
        #[command(flatten)]
        places: Places,
    },
    /// Start a skill from a template, in a new directory.
    New {
        name: String,
        #[arg(long, value_enum)]
        lang: Language,
        /// Where [default: ./<name>]
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Build a skill project into the component its skill.toml names, with
    /// the toolchain of its language.
    Build {
        /// The project [default: .]
        dir: Option<PathBuf>,
    },
    /// Check a built skill: it loads, exports what the host calls, imports
    /// only what the host provides, and what its manifest does not ask for.
    Check {
        /// The skill [default: .]
        dir: Option<PathBuf>,
        #[command(flatten)]
        places: Places,
    },
    #[command(flatten)]
    Market(super::market::MarketSkillCommand),
}

pub(super) async fn run(command: SkillCommand) -> anyhow::Result<ExitCode> {
    match command {
        SkillCommand::Market(command) => super::market::run_skill(command).await,
        SkillCommand::New { name, lang, dir } => {
            let dir = authoring::new_skill(&name, lang, dir)?;
            outln!("{lang} skill in {}: see its README.md", dir.display());
            Ok(ExitCode::SUCCESS)
        }
        SkillCommand::Build { dir } => {
            let dir = dir.unwrap_or_else(|| PathBuf::from("."));
            let built = authoring::build(&dir)?;
            outln!(
                "built {} ({}, {}) in {:.1}s",
                built.component.display(),
                built.language,
                bytesize::ByteSize::b(built.size),
                built.took.as_secs_f64()
            );
            Ok(ExitCode::SUCCESS)
        }
        SkillCommand::Check { dir, places } => {
            // The engine alone: it runs beside a server.
            let sandbox = Sandbox::new(&places.host()?.sandbox)?;
            let dir = dir.unwrap_or_else(|| PathBuf::from("."));
            let check = authoring::check(&sandbox, &dir)?;
            out!("{check}");
            Ok(if check.passed() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        SkillCommand::Run {
            skill,
            tool,
            input,
            agent,
            quiet,
            places,
        } => run_tool(&skill, &tool, &input, agent, quiet, &places).await,
        SkillCommand::Inspect { dir, places } => {
            // The engine alone: it runs beside a server.
            let host = places.host()?;
            let sandbox = Sandbox::new(&host.sandbox)?;
            let skill = Skill::load(&sandbox, &dir)?;
            out!("{}", describe(&host, &sandbox, &skill)?);
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `skill run`: one call, as a configured agent (through the running
/// server, when one runs) or as a local one.
async fn run_tool(
    skill: &str,
    tool: &str,
    input: &str,
    agent: Option<String>,
    quiet: bool,
    places: &Places,
) -> anyhow::Result<ExitCode> {
    // A directory names the skill it holds.
    let name = match Path::new(skill).is_dir() {
        true => Manifest::load(Path::new(skill))?.name,
        false => skill.to_owned(),
    };
    let (runtime, agent) = match places.explicit_config() {
        Some(_) => {
            let config = places.load_config()?;
            let id = agent.context("name the agent to run as with --agent")?;
            let agent_config = config.agent(&id)?;
            if let Some(server) = AdminClient::of(&config.host.data_dir) {
                let input: serde_json::Value = serde_json::from_str(input)
                    .map_err(|e| anyhow::anyhow!("invalid input: not JSON: {e}"))?;
                let path = format!(
                    "/v1/agents/{}/tools/{}",
                    segment(&id),
                    segment(&format!("{name}.{tool}"))
                );
                let answer = server.post(&path, &input).await?;
                outln!("{}", serde_json::to_string(&answer["output"])?);
                return Ok(ExitCode::SUCCESS);
            }
            let runtime = super::open_runtime(&config.host)?;
            let loaded = runtime.load_agent(agent_config)?;
            (runtime, loaded)
        }
        None => {
            let id = AgentId::new(agent.as_deref().unwrap_or("default"))?;
            let runtime = super::open_runtime(&places.bare_host())?;
            let loaded = runtime.load_skill(Path::new(skill))?;
            let local = runtime.local_agent(&id, loaded);
            (runtime, local)
        }
    };
    super::attach_prompts(&runtime)?;
    let session = Session::new(&format!("cli-{}", std::process::id()));
    let report = runtime.call(&agent, &session, &name, tool, input).await;
    if !quiet {
        for record in &report.logs {
            eoutln!("[{name}] {record}");
        }
    }
    match report.result {
        Ok(output) => {
            outln!("{output}");
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eoutln!("error: {e}");
            Ok(ExitCode::FAILURE)
        }
    }
}

fn describe(host: &HostConfig, sandbox: &Sandbox, skill: &Skill) -> anyhow::Result<String> {
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
    let asked = crate::policy::asked(m);
    writeln!(out, "asks for    {}", asked.join("\n            "))?;
    let l = host.defaults.with(&m.limits).capped_by(&host.maxima);
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

    let engine = sandbox.engine();
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
