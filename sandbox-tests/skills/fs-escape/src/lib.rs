use serde::Deserialize;
use skillbox_sdk::{ToolError, export_tools};

#[derive(Deserialize)]
struct Path {
    path: String,
}

fn read(input: Path) -> Result<String, ToolError> {
    std::fs::read_to_string(&input.path)
        .map_err(|e| ToolError::denied(format!("{}: {e}", input.path)))
}

fn climb(_: serde_json::Value) -> Result<Vec<String>, ToolError> {
    let mut found = Vec::new();
    let mut path = String::from("/workspace");
    for _ in 0..8 {
        path.push_str("/..");
        if let Ok(entries) = std::fs::read_dir(&path) {
            found.extend(
                entries
                    .filter_map(|e| e.ok())
                    .map(|e| e.path().display().to_string()),
            );
        }
    }
    Ok(found)
}

export_tools! {
    "read" => read,
    "climb" => climb,
}
