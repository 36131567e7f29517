//! `notes`: remember, recall, list and forget short texts, kept in the
//! skill's durable memory.

use serde::{Deserialize, Serialize};
use skillbox_sdk::{ToolError, export_tools, log, memory};

#[derive(Deserialize)]
struct Remember {
    key: String,
    text: String,
}

#[derive(Deserialize)]
struct Key {
    key: String,
}

#[derive(Deserialize)]
struct Prefix {
    #[serde(default)]
    prefix: String,
}

#[derive(Serialize)]
struct Recalled {
    key: String,
    found: bool,
    text: Option<String>,
}

fn remember(input: Remember) -> Result<serde_json::Value, ToolError> {
    memory::set(&input.key, &input.text)?;
    log::info(&format!("remembered '{}'", input.key));
    Ok(serde_json::json!({ "remembered": input.key }))
}

fn recall(input: Key) -> Result<Recalled, ToolError> {
    let text = memory::get_string(&input.key)?;
    Ok(Recalled {
        found: text.is_some(),
        key: input.key,
        text,
    })
}

fn list(input: Prefix) -> Result<serde_json::Value, ToolError> {
    Ok(serde_json::json!({ "keys": memory::list(&input.prefix)? }))
}

fn forget(input: Key) -> Result<serde_json::Value, ToolError> {
    Ok(serde_json::json!({ "forgotten": memory::delete(&input.key)? }))
}

export_tools! {
    "remember" => remember,
    "recall" => recall,
    "list" => list,
    "forget" => forget,
}
