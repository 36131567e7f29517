//! `skillbox serve`: host every agent of a configuration directory behind
//! the HTTP API, and `skillbox token`: the API's bearer tokens.

use std::net::SocketAddr;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};
use serde_json::json;
use tokio::signal::unix::{SignalKind, signal};

use super::Places;
use super::output::{eoutln, outln};
use crate::api::{self, AdminClient, Holder, TokenRecord, TokenStore, segment};
use crate::db::Db;
use crate::vocab::AgentId;

#[derive(Args)]
pub(super) struct ServeArgs {
    /// Where to listen [default: server.addr in skillbox.toml, else 127.0.0.1:7878]
    #[arg(long)]
    addr: Option<SocketAddr>,
    #[command(flatten)]
    places: Places,
}

pub(super) async fn serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let config_dir = args.places.config_dir();
    let config = args.places.load_config()?;
    let addr = args.addr.unwrap_or(config.host.server.addr);
    let agents = config.agents.len();
    let server = api::Server::start(&config_dir, config, addr).await?;
    // The first line of output: scripts and tests read the address here.
    outln!(
        "skillbox serves {agents} agents on http://{}",
        server.addr()
    );

    let mut hangup = signal(SignalKind::hangup())?;
    let stopped = super::stopped();
    tokio::pin!(stopped);
    loop {
        tokio::select! {
            Some(()) = hangup.recv() => match server.reload() {
                Ok(warnings) => warnings.iter().for_each(|w| tracing::warn!("{w}")),
                Err(e) => tracing::error!("configuration refused, the running one stays: {e}"),
            },
            () = &mut stopped => break,
        }
    }
    tracing::info!("shutting down");
    server.stop().await?;
    Ok(ExitCode::SUCCESS)
}

/// What a token may do.
#[derive(Clone, Copy, clap::ValueEnum)]
pub(super) enum Role {
    Agent,
    Approver,
    Admin,
}

#[derive(Subcommand)]
pub(super) enum TokenCommand {
    /// Issue a bearer token: to talk to an agent (the default role), to
    /// approve for agents (--role approver), or for everything (--admin).
    New {
        /// The agent the token talks to; with --role approver, the agents
        /// it decides for.
        agents: Vec<String>,
        /// agent: talks to one agent; approver: answers its agents'
        /// prompts, manages their grants, reads their audit and usage;
        /// admin: everything.
        #[arg(long, value_enum, default_value = "agent")]
        role: Role,
        /// The same as --role admin.
        #[arg(long)]
        admin: bool,
        #[command(flatten)]
        places: Places,
    },
    /// The tokens issued (never the tokens themselves).
    List {
        #[command(flatten)]
        places: Places,
    },
    /// Revoke a token; the server refuses it from the next request.
    Revoke {
        id: String,
        #[command(flatten)]
        places: Places,
    },
}

pub(super) async fn token(command: TokenCommand) -> anyhow::Result<ExitCode> {
    match command {
        TokenCommand::New {
            agents,
            role,
            admin,
            places,
        } => {
            let config = places.load_config()?;
            let role = if admin { Role::Admin } else { role };
            let agents = agents
                .iter()
                .map(|id| Ok(config.agent(id)?.id.clone()))
                .collect::<anyhow::Result<Vec<AgentId>>>()?;
            let holder = match (role, agents.as_slice()) {
                (Role::Admin, []) => Holder::Admin,
                (Role::Agent, [agent]) => Holder::Agent(agent.clone()),
                (Role::Approver, [_, ..]) => Holder::approver(agents),
                (Role::Admin, _) => anyhow::bail!("an admin token names no agent"),
                (Role::Agent, _) => anyhow::bail!("an agent's token talks to exactly one agent"),
                (Role::Approver, []) => anyhow::bail!("name the agents the approver decides for"),
            };
            let (record, token) = match AdminClient::of(&config.host.data_dir) {
                Some(server) => {
                    let body = json!({ "holder": holder });
                    let issued = server.post("/v1/admin/tokens", &body).await?;
                    let record: TokenRecord = serde_json::from_value(issued["record"].clone())?;
                    let token = issued["token"]
                        .as_str()
                        .context("the server issued no token")?;
                    (record, token.to_owned())
                }
                None => {
                    let db = Db::in_data_dir(&config.host.data_dir)?;
                    let agents: Vec<AgentId> = config.agents.keys().cloned().collect();
                    TokenStore::new(&config.host.data_dir)
                        .issue_on_record(&db, holder, &agents, "the command line")
                        .await?
                }
            };
            eoutln!(
                "token {} for {} (shown once; only its hash is kept in {})",
                record.id,
                record.holder,
                TokenStore::new(&config.host.data_dir).path().display()
            );
            outln!("{token}");
        }
        TokenCommand::List { places } => {
            let data_dir = places.load_config()?.host.data_dir;
            let records = match AdminClient::of(&data_dir) {
                Some(server) => {
                    let listed = server.get("/v1/admin/tokens").await?;
                    serde_json::from_value(listed["tokens"].clone())?
                }
                None => TokenStore::new(&data_dir).list()?,
            };
            for record in records {
                outln!(
                    "{}  {}  issued {}",
                    record.id,
                    record.holder,
                    humantime::format_rfc3339_seconds(record.created)
                );
            }
        }
        TokenCommand::Revoke { id, places } => {
            let data_dir = places.load_config()?.host.data_dir;
            match AdminClient::of(&data_dir) {
                Some(server) => {
                    server
                        .delete(&format!("/v1/admin/tokens/{}", segment(&id)))
                        .await?;
                }
                None => {
                    let store = TokenStore::new(&data_dir);
                    if !store.revoke(&id)? {
                        anyhow::bail!("no token '{id}' in {}", store.path().display());
                    }
                }
            }
            outln!("revoked {id}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
