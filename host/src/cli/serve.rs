//! `skillbox serve`: host every agent of a configuration directory behind
//! the HTTP API, and `skillbox token`: the API's bearer tokens.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Args, Subcommand};
use serde_json::json;
use tokio::signal::unix::{SignalKind, signal};

use super::Places;
use crate::api::{self, AdminClient, Holder, Served, TokenRecord, TokenStore, segment};
use crate::prompt::PromptQueue;
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
    let runtime = super::open_runtime(&config.host)?;
    let addr = args.addr.unwrap_or(config.host.server.addr);
    let queue = Arc::new(PromptQueue::default());
    let channel: Arc<dyn crate::consent::PromptChannel> = match runtime.webhook(queue.clone()) {
        Some(webhook) => Arc::new(webhook),
        None => queue.clone(),
    };
    runtime.consent().attach(channel);
    let agents = config.agents.len();
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    let addr = listener.local_addr()?;
    // Without its socket the server still serves; the CLI then cannot
    // reach it, and says the database is in use.
    let admin = api::bind_admin_socket(runtime.data_dir())
        .inspect_err(|e| tracing::warn!("serving without the admin socket: {e}"))
        .ok();
    let socket = admin
        .is_some()
        .then(|| api::admin_socket(runtime.data_dir()));
    let served = Arc::new(Served::new(runtime, &config_dir, config, queue));
    // The first line of output: scripts and tests read the address here.
    println!("skillbox serves {agents} agents on http://{addr}");

    let mut hangup = signal(SignalKind::hangup())?;
    let reloading = served.clone();
    tokio::spawn(async move {
        while hangup.recv().await.is_some() {
            match reloading.reload() {
                Ok(warnings) => warnings.iter().for_each(|w| tracing::warn!("{w}")),
                Err(e) => tracing::error!("configuration refused, the running one stays: {e}"),
            }
        }
    });
    let shutdown = async {
        super::stopped().await;
        tracing::info!("shutting down");
    };
    api::serve(served.clone(), listener, admin, shutdown).await;
    if let Some(socket) = socket {
        let _ = std::fs::remove_file(socket);
    }
    // Whatever was acknowledged is on disk already; this writes the rest
    // (usage counts written behind).
    served.runtime.inference().flush();
    served.runtime.db().flush().await?;
    Ok(ExitCode::SUCCESS)
}

#[derive(Subcommand)]
pub(super) enum TokenCommand {
    /// Issue a bearer token for an agent (or with --admin, for everything).
    New {
        /// The agent the token reaches.
        #[arg(required_unless_present = "admin")]
        agent: Option<String>,
        /// A token for every agent and the admin endpoints.
        #[arg(long, conflicts_with = "agent")]
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
            agent,
            admin,
            places,
        } => {
            let config = places.load_config()?;
            let holder = match agent {
                _ if admin => Holder::Admin,
                Some(agent) => {
                    Holder::Agent(config.agent(AgentId::new(&agent)?.as_str())?.id.clone())
                }
                None => unreachable!("clap requires an agent or --admin"),
            };
            let (record, token) = match AdminClient::of(&config.host.data_dir) {
                Some(server) => {
                    let body = match &holder {
                        Holder::Admin => json!({ "admin": true }),
                        Holder::Agent(id) => json!({ "agent": id }),
                    };
                    let issued = server.post("/v1/admin/tokens", &body).await?;
                    let record: TokenRecord = serde_json::from_value(issued["record"].clone())?;
                    let token = issued["token"]
                        .as_str()
                        .context("the server issued no token")?;
                    (record, token.to_owned())
                }
                None => TokenStore::new(&config.host.data_dir).issue(holder)?,
            };
            eprintln!(
                "token {} for {} (shown once; only its hash is kept in {})",
                record.id,
                record.holder,
                TokenStore::new(&config.host.data_dir).path().display()
            );
            println!("{token}");
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
                println!(
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
            println!("revoked {id}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
