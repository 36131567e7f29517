//! `skillbox agent ...`: what an agent may do, and conversations with it.

use std::io::Write;
use std::process::ExitCode;

use clap::{Args, Subcommand};

use super::Places;
use crate::agent::TurnEvent;
use crate::consent::Session;
use crate::db::history;
use crate::egress::Egress;
use crate::prompt::hold_screen;
use crate::runtime::{self, Agent, Runtime};
use crate::vocab::{printable, truncate};

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
        AgentCommand::Usage { id, places } => show_usage(&id, &places),
        AgentCommand::History {
            id,
            conversation,
            places,
        } => show_history(&id, conversation.as_deref(), &places),
    }
}

fn describe(id: &str, places: &Places, explain: bool) -> anyhow::Result<ExitCode> {
    let config = places.load_config()?;
    let agent = config.agent(id).map_err(anyhow::Error::msg)?;
    let egress = Egress::new(config.host.hosts.clone());
    let (policy, manifests) = runtime::decide(&config.host, &egress, agent)?;
    if explain {
        print!("{}", policy.explain(&manifests));
    } else {
        for (skill, tool) in policy.allowed_tools(&manifests) {
            println!("{skill}.{} — {}", tool.name, tool.description);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The runtime, with prompts attached, and the loaded agent.
fn open(id: &str, places: &Places) -> anyhow::Result<(Runtime, Agent)> {
    let config = places.load_config()?;
    let agent_config = config.agent(id).map_err(anyhow::Error::msg)?;
    let runtime = super::open_runtime(&config.host)?;
    super::attach_prompts(&runtime);
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
    let (runtime, agent) = open(id, &args.places)?;
    let report = runtime
        .turn(&agent, &session(), &args.conversation, message, None)
        .await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("{}", printable(&report.answer));
    }
    Ok(ExitCode::SUCCESS)
}

/// Longest tool arguments and output shown in a chat.
const SHOWN: usize = 120;

async fn chat(id: &str, args: &ConversationArgs) -> anyhow::Result<ExitCode> {
    let (runtime, agent) = open(id, &args.places)?;
    let conversation = &args.conversation;
    history::check_name(conversation).map_err(anyhow::Error::msg)?;
    let earlier = history::conversations(runtime.db(), id)?
        .into_iter()
        .find(|(name, _)| name == conversation)
        .map_or(0, |(_, count)| count);
    let models: Vec<String> = agent
        .inference
        .iter()
        .flat_map(|client| client.models().map(ToString::to_string))
        .collect();
    eprintln!(
        "agent '{id}' · {} · conversation '{conversation}' ({earlier} earlier messages)\n\
         Type a message and press Enter; Ctrl-D ends.",
        if models.is_empty() {
            "no model".to_owned()
        } else {
            models.join(" → ")
        },
    );
    let session = session();
    let show = |event: TurnEvent| {
        let _screen = hold_screen();
        let mut out = std::io::stdout().lock();
        let _ = match event {
            TurnEvent::Token { text } => write!(out, "{}", printable(&text)),
            TurnEvent::ToolCall {
                tool, arguments, ..
            } => writeln!(out, "\n  → {tool} {}", one_line(&arguments)),
            TurnEvent::ToolResult {
                tool, ok, output, ..
            } => {
                let mark = if ok { "←" } else { "✗" };
                writeln!(out, "  {mark} {tool} {}", one_line(&output))
            }
        };
        let _ = out.flush();
    };
    loop {
        eprint!("> ");
        let Some(line) = read_line().await? else {
            break;
        };
        let message = line.trim();
        if message.is_empty() {
            continue;
        }
        match runtime
            .turn(&agent, &session, conversation, message, Some(&show))
            .await
        {
            Ok(_) => println!(),
            Err(e) => eprintln!("\nerror: {}", printable(&e.to_string())),
        }
    }
    Ok(ExitCode::SUCCESS)
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

fn show_history(id: &str, conversation: Option<&str>, places: &Places) -> anyhow::Result<ExitCode> {
    let config = places.load_config()?;
    config.agent(id).map_err(anyhow::Error::msg)?;
    let runtime = super::open_runtime(&config.host)?;
    let Some(conversation) = conversation else {
        for (name, count) in history::conversations(runtime.db(), id)? {
            println!("{name}\t{count} messages");
        }
        return Ok(ExitCode::SUCCESS);
    };
    history::check_name(conversation).map_err(anyhow::Error::msg)?;
    for message in history::recent(runtime.db(), id, conversation, usize::MAX)? {
        let role = serde_json::to_value(message.role)?;
        let role = role.as_str().unwrap_or_default();
        if !message.content.is_empty() {
            println!("{role}: {}", printable(&message.content));
        }
        for call in &message.tool_calls {
            println!("{role}: calls {} {}", call.name, one_line(&call.arguments));
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn show_usage(id: &str, places: &Places) -> anyhow::Result<ExitCode> {
    let config = places.load_config()?;
    let agent = &config.agent(id).map_err(anyhow::Error::msg)?.id;
    let runtime = super::open_runtime(&config.host)?;
    println!("day\tmodel\trequests\tprompt tokens\tcompletion tokens");
    for ((day, model), spent) in runtime.inference().usage(agent)? {
        println!(
            "{day}\t{model}\t{}\t{}\t{}",
            spent.requests, spent.prompt_tokens, spent.completion_tokens
        );
    }
    Ok(ExitCode::SUCCESS)
}
