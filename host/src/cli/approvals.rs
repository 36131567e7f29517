//! `skillbox approvals`: the prompts a running server waits on, answered
//! from the terminal.

use std::process::ExitCode;
use std::time::Duration;

use clap::Subcommand;

use super::Places;
use super::output::outln;
use crate::api::segment;
use crate::consent::{Answer, Prompt, Scope};

#[derive(Subcommand)]
pub(super) enum ApprovalsCommand {
    /// The prompts waiting for an answer, oldest first.
    List {
        #[command(flatten)]
        places: Places,
    },
    /// Answer a prompt: allow (this once), deny, session, always,
    /// deny-always, a duration (1h, 30m) or a number of uses (3x).
    Answer {
        id: String,
        answer: String,
        #[command(flatten)]
        places: Places,
    },
}

pub(super) async fn run(command: ApprovalsCommand) -> anyhow::Result<ExitCode> {
    match command {
        ApprovalsCommand::List { places } => {
            let server = super::server_of(&places)?.ok_or_else(no_server)?;
            let answer = server.get("/v1/approvals").await?;
            let prompts: Vec<Prompt> = serde_json::from_value(answer["approvals"].clone())?;
            if prompts.is_empty() {
                outln!("no prompt is waiting");
            }
            for prompt in prompts {
                outln!("{}\n{prompt}\n", prompt.id);
            }
        }
        ApprovalsCommand::Answer { id, answer, places } => {
            let answer = parse_answer(&answer)?;
            let server = super::server_of(&places)?.ok_or_else(no_server)?;
            let body = serde_json::to_value(answer)?;
            server
                .post(&format!("/v1/approvals/{}", segment(&id)), &body)
                .await?;
            outln!("answered {id}: {answer}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn no_server() -> anyhow::Error {
    anyhow::anyhow!(
        "no server runs on this data directory: without one, prompts are asked where the \
         command that raises them runs"
    )
}

/// `allow`, `deny`, `session`, `always`, `deny-always`, `1h`, `3x`; with
/// `+any` (`always+any`), about an action whatever its details.
fn parse_answer(text: &str) -> anyhow::Result<Answer> {
    if let Some(answer) = text.strip_suffix("+any") {
        return Ok(Answer {
            any_details: true,
            ..parse_answer(answer)?
        });
    }
    let allow = |scope| Answer::new(true, scope);
    Ok(match text {
        "allow" | "once" | "yes" | "y" => Answer::ALLOW_ONCE,
        "deny" | "no" | "n" => Answer::DENY,
        "session" => allow(Scope::Session),
        "always" => allow(Scope::Always),
        "deny-always" => Answer::new(false, Scope::Always),
        _ => match text.strip_suffix('x').map(str::parse::<u32>) {
            Some(Ok(times)) if times > 0 => allow(Scope::Times { times }),
            _ => match humantime::parse_duration(text) {
                Ok(duration) if duration > Duration::ZERO => allow(Scope::For { duration }),
                _ => anyhow::bail!(
                    "'{text}' is not an answer: allow, deny, session, always, deny-always, \
                     a duration (1h) or a number of uses (3x), each with +any for an action \
                     whatever its details"
                ),
            },
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_read_as_people_write_them() {
        assert_eq!(parse_answer("allow").unwrap(), Answer::ALLOW_ONCE);
        assert_eq!(parse_answer("deny").unwrap(), Answer::DENY);
        assert_eq!(parse_answer("3x").unwrap().scope, Scope::Times { times: 3 });
        let hour = Scope::For {
            duration: Duration::from_secs(3600),
        };
        assert_eq!(parse_answer("1h").unwrap().scope, hour);
        assert!(!parse_answer("deny-always").unwrap().allow);
        assert!(parse_answer("maybe").is_err());
        assert!(parse_answer("0x").is_err());
    }
}
