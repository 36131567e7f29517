//! `skillbox agent export|import|delete`: everything the host holds of an
//! agent, whole, through the server when one runs.

use std::io::{BufReader, Read};
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use bytes::Bytes;
use hyper::Method;

use super::Places;
use super::output::{eoutln, out, outln};
use crate::api::AdminClient;
use crate::db::Db;
use crate::db::agent as agent_data;
use crate::vocab::AgentId;

/// `skillbox agent export <id> [--out FILE]`: JSON Lines to the file, or to
/// standard output.
pub(super) async fn export(
    id: &str,
    out: Option<&Path>,
    places: &Places,
) -> anyhow::Result<ExitCode> {
    let agent = AgentId::new(id)?;
    let data_dir = places.host()?.data_dir;
    let lines = match AdminClient::of(&data_dir) {
        Some(server) => {
            let path = format!("/v1/admin/agents/{agent}/export");
            server
                .exchange(Method::GET, &path, Bytes::new(), "application/json")
                .await?
                .to_vec()
        }
        None => {
            let mut lines = Vec::new();
            agent_data::export(&Db::in_data_dir(&data_dir)?, agent.as_str(), &mut lines).await?;
            lines
        }
    };
    let records = lines
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        .saturating_sub(1);
    match out {
        Some(path) => std::fs::write(path, &lines).with_context(|| path.display().to_string())?,
        None => out!("{}", String::from_utf8_lossy(&lines)),
    }
    eoutln!("exported {records} records of agent '{agent}'");
    Ok(ExitCode::SUCCESS)
}

/// `skillbox agent import <id> <FILE>` (`-`: standard input), into a host
/// that holds nothing of the agent.
pub(super) async fn import(id: &str, from: &Path, places: &Places) -> anyhow::Result<ExitCode> {
    let agent = AgentId::new(id)?;
    let mut lines = Vec::new();
    match from == Path::new("-") {
        true => std::io::stdin().lock().read_to_end(&mut lines)?,
        false => std::fs::File::open(from)
            .and_then(|mut f| f.read_to_end(&mut lines))
            .with_context(|| from.display().to_string())?,
    };
    let data_dir = places.host()?.data_dir;
    let records = match AdminClient::of(&data_dir) {
        Some(server) => {
            let path = format!("/v1/admin/agents/{agent}/import");
            let answer = server
                .exchange(Method::POST, &path, lines.into(), "application/jsonl")
                .await?;
            let answer: serde_json::Value = serde_json::from_slice(&answer)?;
            answer["records"].as_u64().unwrap_or_default()
        }
        None => {
            let db = Db::in_data_dir(&data_dir)?;
            agent_data::import(&db, agent.as_str(), BufReader::new(&lines[..])).await?
        }
    };
    outln!("imported {records} records of agent '{agent}'");
    Ok(ExitCode::SUCCESS)
}

/// `skillbox agent delete <id> --yes`: without `--yes`, only say what
/// would go.
pub(super) async fn delete(id: &str, yes: bool, places: &Places) -> anyhow::Result<ExitCode> {
    let agent = AgentId::new(id)?;
    let data_dir = places.host()?.data_dir;
    if !yes {
        let held = match AdminClient::of(&data_dir) {
            Some(_) => "everything".to_owned(),
            None => {
                let records =
                    agent_data::records(&Db::in_data_dir(&data_dir)?, agent.as_str()).await?;
                format!("{records} records")
            }
        };
        eoutln!(
            "this deletes {held} the host holds of agent '{agent}': memory, history, grants, \
             usage and audit; export it first if it may be wanted (skillbox agent export \
             {agent}), then pass --yes"
        );
        return Ok(ExitCode::FAILURE);
    }
    let records = match AdminClient::of(&data_dir) {
        Some(server) => {
            let answer = server
                .delete(&format!("/v1/admin/agents/{agent}/data"))
                .await?;
            answer["records"].as_u64().unwrap_or_default()
        }
        None => agent_data::delete(&Db::in_data_dir(&data_dir)?, agent.as_str()).await?,
    };
    outln!("deleted {records} records of agent '{agent}'");
    Ok(ExitCode::SUCCESS)
}
