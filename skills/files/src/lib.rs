//! `files`: read, write, list and search files in the directories the agent
//! lends (seen at /workspace). Paths are guest paths; the host decides what
//! exists behind them and whether it is writable.

use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use skillbox_sdk::{ToolError, export_tools};

/// Largest file `read` returns.
const MAX_READ: u64 = 1 << 20;
const DEFAULT_MAX_RESULTS: usize = 100;

#[derive(Deserialize)]
struct PathInput {
    path: PathBuf,
}

#[derive(Deserialize)]
struct WriteInput {
    path: PathBuf,
    content: String,
}

#[derive(Deserialize)]
struct SearchInput {
    path: PathBuf,
    text: String,
    max_results: Option<usize>,
}

#[derive(Serialize)]
struct Entry {
    name: String,
    dir: bool,
    size: u64,
}

#[derive(Serialize)]
struct Hit {
    path: String,
    line: usize,
    text: String,
}

fn io_error(path: &Path, e: std::io::Error) -> ToolError {
    let message = format!("{}: {}", path.display(), skillbox_sdk::io_error(&e));
    match e.kind() {
        std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::ReadOnlyFilesystem => {
            ToolError::denied(message)
        }
        std::io::ErrorKind::NotFound => ToolError::invalid_input(message),
        _ => ToolError::failed(message),
    }
}

fn read(input: PathInput) -> Result<serde_json::Value, ToolError> {
    let size = fs::metadata(&input.path)
        .map_err(|e| io_error(&input.path, e))?
        .len();
    if size > MAX_READ {
        return Err(ToolError::invalid_input(format!(
            "{} has {size} bytes; read returns files up to {MAX_READ}",
            input.path.display()
        )));
    }
    let content = fs::read_to_string(&input.path).map_err(|e| io_error(&input.path, e))?;
    Ok(serde_json::json!({ "path": input.path, "content": content }))
}

fn write(input: WriteInput) -> Result<serde_json::Value, ToolError> {
    fs::write(&input.path, &input.content).map_err(|e| io_error(&input.path, e))?;
    Ok(serde_json::json!({ "path": input.path, "written": input.content.len() }))
}

fn list(input: PathInput) -> Result<Vec<Entry>, ToolError> {
    let mut entries = Vec::new();
    for entry in fs::read_dir(&input.path).map_err(|e| io_error(&input.path, e))? {
        let entry = entry.map_err(|e| io_error(&input.path, e))?;
        let meta = entry.metadata().map_err(|e| io_error(&entry.path(), e))?;
        entries.push(Entry {
            name: entry.file_name().to_string_lossy().into_owned(),
            dir: meta.is_dir(),
            size: meta.len(),
        });
    }
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(entries)
}

fn search(input: SearchInput) -> Result<Vec<Hit>, ToolError> {
    let max = input.max_results.unwrap_or(DEFAULT_MAX_RESULTS);
    let mut hits = Vec::new();
    let mut pending = vec![input.path];
    while let Some(dir) = pending.pop() {
        for entry in fs::read_dir(&dir).map_err(|e| io_error(&dir, e))? {
            let path = entry.map_err(|e| io_error(&dir, e))?.path();
            if path.is_dir() {
                pending.push(path);
                continue;
            }
            let Ok(text) = fs::read_to_string(&path) else {
                continue; // not text
            };
            for (i, line) in text.lines().enumerate() {
                if line.contains(&input.text) {
                    hits.push(Hit {
                        path: path.display().to_string(),
                        line: i + 1,
                        text: line.to_owned(),
                    });
                    if hits.len() == max {
                        return Ok(hits);
                    }
                }
            }
        }
    }
    Ok(hits)
}

fn delete(input: PathInput) -> Result<serde_json::Value, ToolError> {
    fs::remove_file(&input.path).map_err(|e| io_error(&input.path, e))?;
    Ok(serde_json::json!({ "deleted": input.path }))
}

export_tools! {
    "read" => read,
    "write" => write,
    "list" => list,
    "search" => search,
    "delete" => delete,
}
