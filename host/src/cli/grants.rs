//! `skillbox grants ...` and `skillbox audit`: what people allowed, and
//! everything that was decided.

use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use anyhow::Context;
use clap::{Args, Subcommand};

use super::Places;
use super::output::{eoutln, outln};
use crate::api::{RemoteError, segment};
use crate::db::audit::{self, AuditEntry, Chain};
use crate::db::grants::{self, Grant};
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
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub(super) struct AuditArgs {
    #[command(subcommand)]
    command: Option<AuditCommand>,
    #[arg(required = true)]
    agent: Option<String>,
    /// Only entries newer than this: a duration (`1h`, `2d`) or a time (`2026-11-21T10:00:00Z`).
    #[arg(long)]
    since: Option<String>,
    /// One JSON object per line (JSON Lines): the export.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    places: Places,
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Walk an agent's hash chain and report the first entry that does not
    /// hold; exits 1 if one does not.
    Verify {
        agent: String,
        #[command(flatten)]
        places: Places,
    },
}

pub(super) async fn run(command: GrantsCommand) -> anyhow::Result<ExitCode> {
    match command {
        GrantsCommand::List { agent, places } => {
            let agent = AgentId::new(&agent)?;
            let list = match super::server_of(&places)? {
                Some(server) => {
                    let answer = server.get(&format!("/v1/agents/{agent}/grants")).await?;
                    serde_json::from_value(answer["grants"].clone())?
                }
                None => {
                    let runtime = super::open_runtime(&places.host()?)?;
                    grants::list(runtime.db(), agent.as_str())?
                }
            };
            if list.is_empty() {
                outln!("agent '{agent}' has no grants");
            }
            for grant in list {
                outln!("{}", shown(&grant));
            }
            Ok(ExitCode::SUCCESS)
        }
        GrantsCommand::Revoke {
            agent,
            grant,
            places,
        } => {
            let agent = AgentId::new(&agent)?;
            let revoked = match super::server_of(&places)? {
                Some(server) => {
                    let path = format!("/v1/agents/{agent}/grants/{}", segment(&grant));
                    match server.delete(&path).await {
                        Ok(_) => true,
                        Err(RemoteError::Refused { status, .. }) if status == 404 => false,
                        Err(e) => return Err(e.into()),
                    }
                }
                None => {
                    let runtime = super::open_runtime(&places.host()?)?;
                    runtime
                        .consent()
                        .revoke(&agent, &grant, "the command line")
                        .await?
                }
            };
            if revoked {
                outln!("revoked {grant}");
                Ok(ExitCode::SUCCESS)
            } else {
                eoutln!("error: agent '{agent}' has no grant '{grant}'");
                Ok(ExitCode::FAILURE)
            }
        }
    }
}

/// A grant on one line.
fn shown(grant: &Grant) -> String {
    let limit = match (grant.expires_at, grant.uses_left) {
        (Some(at), _) => format!("until {}", humantime::format_rfc3339_seconds(at)),
        (None, Some(n)) => format!("{n} uses left"),
        (None, None) => "always".into(),
    };
    let effect = if grant.allow { "allow" } else { "deny" };
    format!(
        "{}  {effect} {} to skill '{}', {limit} (by {})",
        grant.id, grant.capability, grant.skill, grant.by
    )
}

pub(super) async fn audit(args: AuditArgs) -> anyhow::Result<ExitCode> {
    if let Some(AuditCommand::Verify { agent, places }) = args.command {
        return verify(&agent, &places).await;
    }
    let agent = AgentId::new(args.agent.as_deref().unwrap_or_default())?;
    let since = args.since.as_deref().map(parse_since).transpose()?;
    let entries: Vec<AuditEntry> = match super::server_of(&args.places)? {
        Some(server) => {
            let mut path = format!("/v1/agents/{agent}/audit");
            if let Some(since) = since {
                let ago = SystemTime::now().duration_since(since).unwrap_or_default();
                path.push_str(&format!("?since={}s", ago.as_secs()));
            }
            serde_json::from_value(server.get(&path).await?["entries"].clone())?
        }
        None => {
            let runtime = super::open_runtime(&args.places.host()?)?;
            audit::read(runtime.db(), agent.as_str(), since).await?
        }
    };
    for entry in entries {
        if args.json {
            outln!("{}", serde_json::to_string(&entry)?);
            continue;
        }
        let by = match (&entry.channel, &entry.grant) {
            (Some(c), Some(g)) => format!(" [{c}, {g}]"),
            (Some(c), None) => format!(" [{c}]"),
            (None, Some(g)) => format!(" [{g}]"),
            (None, None) => String::new(),
        };
        outln!(
            "{}  {:<7} {}.{}  {}: {}{by}",
            humantime::format_rfc3339_seconds(entry.time),
            entry.decision,
            entry.skill,
            entry.tool,
            entry.capability,
            entry.reason
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `skillbox audit verify <agent>`.
async fn verify(agent: &str, places: &Places) -> anyhow::Result<ExitCode> {
    let agent = AgentId::new(agent)?;
    let chain: Chain = match super::server_of(places)? {
        Some(server) => serde_json::from_value(
            server
                .get(&format!("/v1/agents/{agent}/audit/verify"))
                .await?,
        )?,
        None => {
            let runtime = super::open_runtime(&places.host()?)?;
            audit::verify(runtime.db(), agent.as_str()).await?
        }
    };
    match chain {
        Chain::Intact { entries, head } => {
            outln!("audit of '{agent}': {entries} entries, every link holds; head {head}");
            Ok(ExitCode::SUCCESS)
        }
        Chain::Broken { at, why } => {
            outln!("audit of '{agent}': broken at entry {at}: {why}");
            Ok(ExitCode::FAILURE)
        }
    }
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
