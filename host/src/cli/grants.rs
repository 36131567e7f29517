//! `skillbox grants ...` and `skillbox audit`: what people allowed, and
//! everything that was decided.

use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use anyhow::Context;
use clap::{Args, Subcommand};

use super::Places;
use crate::db::{audit, grants};
use crate::vocab::AgentId;

#[derive(Subcommand)]
pub(super) enum GrantsCommand {
    /// Every grant of an agent still in force.
    List {
        agent: String,
        #[command(flatten)]
        places: Places,
    },
    /// Remove a grant; the agent's next call no longer has it.
    Revoke {
        agent: String,
        grant: String,
        #[command(flatten)]
        places: Places,
    },
}

#[derive(Args)]
pub(super) struct AuditArgs {
    agent: String,
    /// Only entries newer than this: a duration (`1h`, `2d`) or a time (`2026-11-21T10:00:00Z`).
    #[arg(long)]
    since: Option<String>,
    /// One JSON object per line.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    places: Places,
}

pub(super) async fn run(command: GrantsCommand) -> anyhow::Result<ExitCode> {
    match command {
        GrantsCommand::List { agent, places } => {
            let agent = AgentId::new(&agent).map_err(anyhow::Error::msg)?;
            let runtime = super::open_runtime(&places.host()?)?;
            let list = grants::list(runtime.db(), agent.as_str())?;
            if list.is_empty() {
                println!("agent '{agent}' has no grants");
            }
            for g in list {
                let limit = match (g.expires_at, g.uses_left) {
                    (Some(at), _) => format!("until {}", humantime::format_rfc3339_seconds(at)),
                    (None, Some(n)) => format!("{n} uses left"),
                    (None, None) => "always".into(),
                };
                let effect = if g.allow { "allow" } else { "deny" };
                println!(
                    "{}  {effect} {} to skill '{}', {limit} (by {})",
                    g.id, g.capability, g.skill, g.by
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        GrantsCommand::Revoke {
            agent,
            grant,
            places,
        } => {
            let agent = AgentId::new(&agent).map_err(anyhow::Error::msg)?;
            let runtime = super::open_runtime(&places.host()?)?;
            if runtime.consent().revoke(&agent, &grant).await? {
                println!("revoked {grant}");
                Ok(ExitCode::SUCCESS)
            } else {
                eprintln!("error: agent '{agent}' has no grant '{grant}'");
                Ok(ExitCode::FAILURE)
            }
        }
    }
}

pub(super) fn audit(args: AuditArgs) -> anyhow::Result<ExitCode> {
    let agent = AgentId::new(&args.agent).map_err(anyhow::Error::msg)?;
    let since = args.since.as_deref().map(parse_since).transpose()?;
    let runtime = super::open_runtime(&args.places.host()?)?;
    for entry in audit::read(runtime.db(), agent.as_str(), since)? {
        if args.json {
            println!("{}", serde_json::to_string(&entry)?);
        } else {
            let by = match (&entry.channel, &entry.grant) {
                (Some(c), Some(g)) => format!(" [{c}, {g}]"),
                (Some(c), None) => format!(" [{c}]"),
                (None, Some(g)) => format!(" [{g}]"),
                (None, None) => String::new(),
            };
            println!(
                "{}  {:<7} {}.{}  {}: {}{by}",
                humantime::format_rfc3339_seconds(entry.time),
                entry.decision,
                entry.skill,
                entry.tool,
                entry.capability,
                entry.reason
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A duration ago, or a time.
fn parse_since(text: &str) -> anyhow::Result<SystemTime> {
    if let Ok(ago) = humantime::parse_duration(text) {
        return Ok(SystemTime::now() - ago.min(Duration::from_secs(100 * 365 * 86400)));
    }
    humantime::parse_rfc3339_weak(text).with_context(|| {
        format!("--since {text}: neither a duration (1h) nor a time (2026-11-21T10:00:00Z)")
    })
}
