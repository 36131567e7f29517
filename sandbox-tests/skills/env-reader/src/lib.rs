use std::io::Read;

use skillbox_sdk::{ToolError, export_tools};

fn read(_: serde_json::Value) -> Result<serde_json::Value, ToolError> {
    let env: Vec<String> = std::env::vars().map(|(k, v)| format!("{k}={v}")).collect();
    let args: Vec<String> = std::env::args().collect();
    let cwd = std::env::current_dir()
        .map(|d| d.display().to_string())
        .ok();
    let mut stdin = Vec::new();
    let stdin_result = std::io::stdin()
        .read_to_end(&mut stdin)
        .map_err(|e| e.to_string());
    let root: Vec<String> = std::fs::read_dir("/")
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .map(|e| e.path().display().to_string())
                .collect()
        })
        .unwrap_or_default();
    Ok(serde_json::json!({
        "env": env,
        "args": args,
        "cwd": cwd,
        "stdin": { "bytes": stdin.len(), "result": stdin_result.map(|n| n.to_string()) },
        "root": root,
    }))
}

export_tools! {
    "read" => read,
}
