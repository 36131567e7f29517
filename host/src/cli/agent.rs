//! `skillbox agent ...`: what an agent may do, read from its configuration.

use std::process::ExitCode;

use clap::Subcommand;

use super::Places;
use crate::agent::read_manifests;
use crate::egress::Egress;
use crate::policy::AgentPolicy;

#[derive(Subcommand)]
pub enum AgentCommand {
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
}

pub fn run(command: AgentCommand) -> anyhow::Result<ExitCode> {
    let (id, places, explain) = match command {
        AgentCommand::Tools { id, places } => (id, places, false),
        AgentCommand::Explain { id, places } => (id, places, true),
    };
    let config = places.load_config()?;
    let agent = config.agent(&id).map_err(anyhow::Error::msg)?;
    let manifests = read_manifests(agent)?;
    let policy = AgentPolicy::build(
        agent,
        &config.host,
        &manifests,
        &Egress::new(config.host.hosts.clone()),
    )?;
    if explain {
        print!("{}", policy.explain(&manifests));
    } else {
        for (skill, tool) in policy.allowed_tools(&manifests) {
            println!("{skill}.{} — {}", tool.name, tool.description);
        }
    }
    Ok(ExitCode::SUCCESS)
}
