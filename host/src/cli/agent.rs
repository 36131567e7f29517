//! `skillbox agent ...`: what an agent may do, and conversations with it.

use std::process::ExitCode;

use clap::{Args, Subcommand};
use serde::Deserialize;
use serde_json::json;

use super::output::{eout, eoutln, out, outln};
use super::{Places, data};
use crate::agent::TurnEvent;
use crate::api::{AdminClient, segment};
use crate::consent::{Prompt, Session};
use crate::db::history;
use crate::db::usage::Spent;
use crate::egress::Egress;
use crate::prompt::hold_screen;
use crate::runtime::{self, Agent, Runtime};
use crate::vocab::{Message, truncate};

#[derive(Subcommand)]
pub(super) enum AgentCommand {
    /// List exactly the tools an agent may call.
    Tools {
        id: String,
        #[command(flatten)]
        places: Places,
    },
    /// Show, per skill, the effective grants, the limits, and what the skill asks for that is not granted.
    Explain {
        id: String,
        #[command(flatten)]
        places: Places,
    },
    /// Send one message and print the answer.
    Ask {
        id: String,
        message: String,
        /// Print the whole turn as JSON: every model step, tool call and result.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        conversation: ConversationArgs,
    },
    /// Talk with an agent in the terminal.
    Chat {
        id: String,
        #[command(flatten)]
        conversation: ConversationArgs,
    },
    /// What an agent spent on inference, per day and model.
    Usage {
        id: String,
        #[command(flatten)]
        places: Places,
    },
    /// Write everything the host holds of an agent (memory, history, grants, usage, audit) as JSON Lines.
    Export {
        id: String,
        /// The file to write [default: standard output]
        #[arg(long)]
        out: Option<std::path::PathBuf>,
        #[command(flatten)]
        places: Places,
    },
    /// Read an export back into a host that holds nothing of the agent.
    Import {
        id: String,
        /// The export (`-` for standard input).
        file: std::path::PathBuf,
        #[command(flatten)]
        places: Places,
    },
    /// Remove everything the host holds of an agent; its configuration stays.
    Delete {
        id: String,
        /// Delete: without it, only say what would go.
        #[arg(long)]
        yes: bool,
        #[command(flatten)]
        places: Places,
    },
    /// Print a conversation, or list an agent's conversations.
    History {
        id: String,
        /// The conversation to print [default: list them all]
        #[arg(long)]
        conversation: Option<String>,
        #[command(flatten)]
        places: Places,
    },
}

#[derive(Args)]
pub(super) struct ConversationArgs {
    /// The conversation to continue, by name.
    #[arg(long, default_value = "default")]
    conversation: String,
    #[command(flatten)]
    places: Places,
}

pub(super) async fn run(command: AgentCommand) -> anyhow::Result<ExitCode> {
    match command {
        AgentCommand::Tools { id, places } => describe(&id, &places, false),
        AgentCommand::Explain { id, places } => describe(&id, &places, true),
        AgentCommand::Ask {
            id,
            message,
            json,
            conversation,
        } => ask(&id, &message, json, &conversation).await,
        AgentCommand::Chat { id, conversation } => chat(&id, &conversation).await,
        AgentCommand::Usage { id, places } => show_usage(&id, &places).await,
        AgentCommand::History {
            id,
            conversation,
            places,
        } => show_history(&id, conversation.as_deref(), &places).await,
        AgentCommand::Export { id, out, places } => {
            data::export(&id, out.as_deref(), &places).await
        }
        AgentCommand::Import { id, file, places } => data::import(&id, &file, &places).await,
        AgentCommand::Delete { id, yes, places } => data::delete(&id, yes, &places).await,
    }
}

fn describe(id: &str, places: &Places, explain: bool) -> anyhow::Result<ExitCode> {
    let config = places.load_config()?;
    let agent = config.agent(id).map_err(anyhow::Error::msg)?;
    let egress = Egress::new(config.host.hosts.clone());
    let (policy, manifests) = runtime::decide(&config.host, &egress, agent)?;
    if explain {
        out!("{}", policy.explain(&manifests));
    } else {
        for (skill, tool) in policy.allowed_tools(&manifests) {
            outln!("{skill}.{} — {}", tool.name, tool.description);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The runtime, with prompts attached, and the loaded agent.
fn open(id: &str, places: &Places) -> anyhow::Result<(Runtime, Agent)> {
    let config = places.load_config()?;
    let agent_config = config.agent(id).map_err(anyhow::Error::msg)?;
    let runtime = super::open_runtime(&config.host)?;
    super::attach_prompts(&runtime)?;
    let agent = runtime.load_agent(agent_config)?;
    Ok((runtime, agent))
}

fn session() -> Session {
    Session::new(&format!("cli-{}", std::process::id()))
}

async fn ask(
    id: &str,
    message: &str,
    json: bool,
    args: &ConversationArgs,
) -> anyhow::Result<ExitCode> {
    let report = match super::server_of(&args.places)? {
        Some(server) => turn_remote(&server, id, &args.conversation, message, false).await?,
        None => {
            let (runtime, agent) = open(id, &args.places)?;
            let report = runtime
                .turn(&agent, &session(), &args.conversation, message, None)
                .await?;
            serde_json::to_value(report)?
        }
    };
    if json {
        outln!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        outln!("{}", report["answer"].as_str().unwrap_or_default());
    }
    Ok(ExitCode::SUCCESS)
}

/// Longest tool arguments and output shown in a chat.
const SHOWN: usize = 120;

/// Where a chat's turns run.
enum Talk {
    /// The running server, through its admin socket.
    Server(AdminClient),
    /// Here, on the database.
    Local(Box<(Runtime, Agent)>),
}

async fn chat(id: &str, args: &ConversationArgs) -> anyhow::Result<ExitCode> {
    let conversation = &args.conversation;
    history::check_name(conversation)?;
    let talk = match super::server_of(&args.places)? {
        Some(server) => Talk::Server(server),
        None => {
            let (runtime, agent) = open(id, &args.places)?;
            Talk::Local(Box::new((runtime, agent)))
        }
    };
    let (listed, through) = match &talk {
        Talk::Server(server) => (
            conversations(Some(server), id, &args.places).await?,
            "through the running server".to_owned(),
        ),
        Talk::Local(local) => {
            let (runtime, agent) = &**local;
            (history::conversations(runtime.db(), id)?, models(agent))
        }
    };
    let earlier = listed
        .into_iter()
        .find(|(name, _)| name == conversation)
        .map_or(0, |(_, count)| count);
    eoutln!(
        "agent '{id}' · {through} · conversation '{conversation}' ({earlier} earlier messages)\n\
         Type a message and press Enter; Ctrl-D ends."
    );
    let session = session();
    loop {
        eout!("> ");
        let Some(line) = read_line().await? else {
            break;
        };
        let message = line.trim();
        if message.is_empty() {
            continue;
        }
        let said = match &talk {
            Talk::Server(server) => turn_remote(server, id, conversation, message, true)
                .await
                .map(|_| ()),
            Talk::Local(local) => {
                let (runtime, agent) = &**local;
                runtime
                    .turn(agent, &session, conversation, message, Some(&show))
                    .await
                    .map(|_| ())
                    .map_err(anyhow::Error::from)
            }
        };
        match said {
            Ok(()) => outln!(),
            Err(e) => eoutln!("\nerror: {e:#}"),
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The models an agent's turns go to, in the order they are tried.
fn models(agent: &Agent) -> String {
    let models: Vec<String> = agent
        .inference
        .iter()
        .flat_map(|client| client.models().map(ToString::to_string))
        .collect();
    match models.is_empty() {
        true => "no model".to_owned(),
        false => models.join(" → "),
    }
}

/// Show one event of a turn as it happens.
fn show(event: TurnEvent) {
    let _screen = hold_screen();
    match event {
        TurnEvent::Token { text } => out!("{text}"),
        TurnEvent::ToolCall {
            tool, arguments, ..
        } => outln!("\n  → {tool} {}", one_line(&arguments)),
        TurnEvent::ToolResult {
            tool, ok, output, ..
        } => {
            let mark = if ok { "←" } else { "✗" };
            outln!("  {mark} {tool} {}", one_line(&output))
        }
    }
}

/// One turn through the running server; its report. The prompts it raises
/// are told on stderr, with where to answer them; with `show_events`, its
/// tokens and tool calls are shown as they come.
async fn turn_remote(
    server: &AdminClient,
    id: &str,
    conversation: &str,
    message: &str,
    show_events: bool,
) -> anyhow::Result<serde_json::Value> {
    let body = json!({ "message": message, "conversation": conversation, "stream": true });
    let mut ended = None;
    let on_event = |name: &str, data: &str| match name {
        "token" | "tool_call" | "tool_result" if show_events => {
            if let Ok(event) = serde_json::from_str::<TurnEvent>(data) {
                show(event);
            }
        }
        "approval" => {
            if let Ok(prompt) = serde_json::from_str::<Prompt>(data) {
                eoutln!(
                    "\n? {prompt}\n  waiting: answer with `skillbox approvals answer {} allow` (or deny)",
                    prompt.id
                );
            }
        }
        "done" | "error" => ended = Some((name == "done", data.to_owned())),
        _ => {}
    };
    let path = format!("/v1/agents/{}/messages", segment(id));
    server.stream(&path, &body, on_event).await?;
    let Some((done, data)) = ended else {
        anyhow::bail!("the server ended the turn without an answer");
    };
    let body: serde_json::Value = serde_json::from_str(&data)?;
    match done {
        true => Ok(body),
        false => Err(anyhow::anyhow!(
            "{}",
            body["error"]["message"].as_str().unwrap_or(&data)
        )),
    }
}

/// One line of standard input; `None` at its end.
async fn read_line() -> anyhow::Result<Option<String>> {
    Ok(tokio::task::spawn_blocking(|| {
        let mut line = String::new();
        match std::io::stdin().read_line(&mut line) {
            Ok(0) => Ok(None),
            Ok(_) => Ok(Some(line)),
            Err(e) => Err(e),
        }
    })
    .await??)
}

/// `text` on one line, cut.
fn one_line(text: &str) -> String {
    truncate(
        &text.split_whitespace().collect::<Vec<_>>().join(" "),
        SHOWN,
    )
}

async fn show_history(
    id: &str,
    conversation: Option<&str>,
    places: &Places,
) -> anyhow::Result<ExitCode> {
    let server = super::server_of(places)?;
    let Some(conversation) = conversation else {
        for (name, count) in conversations(server.as_ref(), id, places).await? {
            outln!("{name}\t{count} messages");
        }
        return Ok(ExitCode::SUCCESS);
    };
    history::check_name(conversation)?;
    let messages: Vec<Message> = match &server {
        Some(server) => {
            let path = format!(
                "/v1/agents/{}/history?conversation={conversation}&limit=10000",
                segment(id)
            );
            serde_json::from_value(server.get(&path).await?["messages"].take())?
        }
        None => history::recent(local_db(id, places)?.db(), id, conversation, usize::MAX)?,
    };
    for message in messages {
        let role = serde_json::to_value(message.role)?;
        let role = role.as_str().unwrap_or_default();
        if !message.content.is_empty() {
            outln!("{role}: {}", message.content);
        }
        for call in &message.tool_calls {
            outln!("{role}: calls {} {}", call.name, one_line(&call.arguments));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Agent `id`'s conversations and their lengths, from the running server
/// or the database.
async fn conversations(
    server: Option<&AdminClient>,
    id: &str,
    places: &Places,
) -> anyhow::Result<Vec<(String, usize)>> {
    #[derive(Deserialize)]
    struct Listed {
        conversation: String,
        message_count: usize,
    }
    Ok(match server {
        Some(server) => {
            let mut answer = server
                .get(&format!("/v1/agents/{}/history", segment(id)))
                .await?;
            let listed: Vec<Listed> = serde_json::from_value(answer["conversations"].take())?;
            listed
                .into_iter()
                .map(|c| (c.conversation, c.message_count))
                .collect()
        }
        None => history::conversations(local_db(id, places)?.db(), id)?,
    })
}

/// The runtime of agent `id`'s data directory, opened here: no server
/// runs on it.
fn local_db(id: &str, places: &Places) -> anyhow::Result<Runtime> {
    let config = places.load_config()?;
    config.agent(id)?;
    super::open_runtime(&config.host)
}

async fn show_usage(id: &str, places: &Places) -> anyhow::Result<ExitCode> {
    #[derive(Deserialize)]
    struct Row {
        day: String,
        model: String,
        spent: Spent,
    }
    let usage: Vec<Row> = match super::server_of(places)? {
        Some(server) => {
            let mut answer = server.get(&format!("/v1/agents/{}", segment(id))).await?;
            serde_json::from_value(answer["usage"].take())?
        }
        None => {
            let config = places.load_config()?;
            let agent = &config.agent(id)?.id;
            let runtime = super::open_runtime(&config.host)?;
            let usage = runtime.inference().usage(agent)?;
            usage
                .into_iter()
                .map(|((day, model), spent)| Row { day, model, spent })
                .collect()
        }
    };
    outln!("day\tmodel\trequests\tprompt tokens\tcompletion tokens");
    for Row { day, model, spent } in usage {
        outln!(
            "{day}\t{model}\t{}\t{}\t{}",
            spent.requests,
            spent.prompt_tokens,
            spent.completion_tokens
        );
    }
    Ok(ExitCode::SUCCESS)
}
