//! The `skillbox` command line.

mod agent;
mod approvals;
mod data;
mod grants;
mod market;
mod output;
mod serve;
mod skill;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};

use crate::api::AdminClient;
use crate::config::{ConfigDir, HostConfig};
use crate::prompt::{PromptQueue, Terminal};
use crate::runtime::Runtime;
use output::eoutln;

#[derive(Parser)]
#[command(
    name = "skillbox",
    version,
    about = "Run AI agent skills as sandboxed WebAssembly components"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run and inspect skills.
    #[command(subcommand)]
    Skill(skill::SkillCommand),
    /// Show what agents may do, and talk with them.
    #[command(subcommand)]
    Agent(agent::AgentCommand),
    /// List and revoke the grants people made by answering prompts.
    #[command(subcommand)]
    Grants(grants::GrantsCommand),
    /// Print an agent's audit log.
    Audit(grants::AuditArgs),
    /// Answer, from the terminal, the prompts a running server waits on.
    #[command(subcommand)]
    Approvals(approvals::ApprovalsCommand),
    /// Host every agent of a configuration directory behind the HTTP API.
    Serve(serve::ServeArgs),
    /// Issue, list and revoke the API's bearer tokens.
    #[command(subcommand)]
    Token(serve::TokenCommand),
    /// Publish to and serve a skill registry.
    #[command(subcommand)]
    Registry(market::RegistryCommand),
}

/// Where configuration and state live.
#[derive(Args, Clone, Default)]
pub(crate) struct Places {
    /// The configuration directory (skillbox.toml, agents/) [default: $SKILLBOX_CONFIG, else ./config]
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// Where compiled components and memory live [default: $SKILLBOX_DATA_DIR, else the config's data_dir, else the user data dir]
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
}

impl Places {
    /// The configuration directory named by `--config` or `$SKILLBOX_CONFIG`.
    fn explicit_config(&self) -> Option<PathBuf> {
        self.config
            .clone()
            .or_else(|| std::env::var_os("SKILLBOX_CONFIG").map(PathBuf::from))
    }

    fn config_dir(&self) -> PathBuf {
        self.explicit_config().unwrap_or_else(|| "config".into())
    }

    fn load_config(&self) -> anyhow::Result<ConfigDir> {
        Ok(ConfigDir::load_with(
            &self.config_dir(),
            |host| match self.chosen_data_dir() {
                Some(data_dir) => self.with_data_dir(host, &data_dir),
                None => host,
            },
        )?)
    }

    /// The data directory chosen where skillbox runs, over the
    /// configuration's: `--data-dir`, else `$SKILLBOX_DATA_DIR`.
    fn chosen_data_dir(&self) -> Option<PathBuf> {
        self.data_dir
            .clone()
            .or_else(|| std::env::var_os("SKILLBOX_DATA_DIR").map(PathBuf::from))
    }

    /// Host settings: from the configuration directory when one is named
    /// or `./config` exists (as `serve` finds it), else defaults with the
    /// data directory.
    fn host(&self) -> anyhow::Result<HostConfig> {
        Ok(
            match self.explicit_config().is_some() || self.config_dir().is_dir() {
                true => self.load_config()?.host,
                false => self.bare_host(),
            },
        )
    }

    /// Host settings without a configuration directory.
    fn bare_host(&self) -> HostConfig {
        let data_dir = self.chosen_data_dir().unwrap_or_else(default_data_dir);
        HostConfig::with_data_dir(&data_dir)
    }

    fn with_data_dir(&self, mut host: HostConfig, data_dir: &Path) -> HostConfig {
        host.data_dir = data_dir.to_owned();
        host.sandbox.cache_dir = Some(data_dir.join("cache").join("components"));
        host
    }
}

/// Ask on the terminal when there is one to ask on, else through the
/// configured webhook, if any.
pub(crate) fn attach_prompts(runtime: &Runtime) -> anyhow::Result<()> {
    use std::io::IsTerminal;
    if std::io::stdin().is_terminal() && std::io::stderr().is_terminal() {
        runtime.consent().attach(Arc::new(Terminal::default()));
    } else if let Some(webhook) = runtime.webhook(Arc::new(PromptQueue::default()))? {
        runtime.consent().attach(Arc::new(webhook));
    }
    Ok(())
}

/// The server running on the data directory `places` name, if one runs:
/// commands that need the database then go through its admin socket.
fn server_of(places: &Places) -> anyhow::Result<Option<AdminClient>> {
    Ok(AdminClient::of(&places.host()?.data_dir))
}

/// Resolves on SIGTERM or Ctrl-C.
async fn stopped() {
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(mut terminate) => tokio::select! {
            _ = terminate.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        },
        Err(e) => {
            tracing::warn!("cannot listen for SIGTERM: {e}");
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

fn open_runtime(host: &HostConfig) -> anyhow::Result<Runtime> {
    Runtime::open(host).with_context(|| format!("data dir {}", host.data_dir.display()))
}

/// The user's data directory.
fn default_data_dir() -> PathBuf {
    dirs::data_dir()
        .unwrap_or_else(|| PathBuf::from("."))
        .join("skillbox")
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    // Logs go to stderr, filtered by $SKILLBOX_LOG, as text, or as one JSON
    // object per line with SKILLBOX_LOG_FORMAT=json. They name agents,
    // skills, tools and URLs, never arguments or secrets. A server logs
    // warnings by default; a command says what went wrong itself, so it
    // logs only errors, and nothing lands between the lines it prints.
    let default_filter = match &cli.command {
        Command::Serve(_) | Command::Registry(market::RegistryCommand::Serve { .. }) => "warn",
        _ => "error",
    };
    let logs = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("SKILLBOX_LOG")
                .unwrap_or_else(|_| default_filter.into()),
        );
    if std::env::var("SKILLBOX_LOG_FORMAT").is_ok_and(|f| f == "json") {
        logs.json().init();
    } else {
        logs.init();
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eoutln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Skill(command) => skill::run(command).await,
            Command::Agent(command) => agent::run(command).await,
            Command::Grants(command) => grants::run(command).await,
            Command::Audit(args) => grants::audit(args).await,
            Command::Approvals(command) => approvals::run(command).await,
            Command::Serve(args) => serve::serve(args).await,
            Command::Token(command) => serve::token(command).await,
            Command::Registry(command) => market::run_registry(command).await,
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eoutln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
