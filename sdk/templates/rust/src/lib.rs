//! `{{name}}`: one tool, `hello`.

use serde::Deserialize;
use skillbox_sdk::{ToolError, export_tools, log};

#[derive(Deserialize)]
struct Hello {
    #[serde(default)]
    name: Option<String>,
}

fn hello(input: Hello) -> Result<serde_json::Value, ToolError> {
    let name = input.name.unwrap_or_else(|| "world".into());
    log::info(&format!("greeting {name}"));
    Ok(serde_json::json!({ "greeting": format!("hello, {name}") }))
}

export_tools! {
    "hello" => hello,
}
