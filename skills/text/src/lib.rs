//! `text`: pure text tools, no capabilities needed.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use skillbox_sdk::{ToolError, export_tools};

#[derive(Deserialize)]
struct WordCountInput {
    text: String,
}

#[derive(Serialize)]
struct WordCount {
    words: usize,
    lines: usize,
    chars: usize,
}

fn word_count(input: WordCountInput) -> Result<WordCount, ToolError> {
    Ok(WordCount {
        words: input.text.split_whitespace().count(),
        lines: input.text.lines().count(),
        chars: input.text.chars().count(),
    })
}

#[derive(Deserialize)]
struct RegexExtractInput {
    text: String,
    pattern: String,
    #[serde(default)]
    group: usize,
    limit: Option<usize>,
}

#[derive(Serialize)]
struct Matches {
    matches: Vec<String>,
}

fn regex_extract(input: RegexExtractInput) -> Result<Matches, ToolError> {
    let regex = regex_lite::Regex::new(&input.pattern)
        .map_err(|e| ToolError::invalid_input(format!("bad pattern: {e}")))?;
    if input.group >= regex.captures_len() {
        return Err(ToolError::invalid_input(format!(
            "the pattern has no group {} (it has {})",
            input.group,
            regex.captures_len() - 1
        )));
    }
    let matches = regex
        .captures_iter(&input.text)
        .filter_map(|c| c.get(input.group).map(|m| m.as_str().to_owned()))
        .take(input.limit.unwrap_or(usize::MAX))
        .collect();
    Ok(Matches { matches })
}

#[derive(Deserialize)]
struct JsonQueryInput {
    document: Value,
    pointer: String,
}

#[derive(Serialize)]
struct Found {
    found: bool,
    value: Value,
}

fn json_query(input: JsonQueryInput) -> Result<Found, ToolError> {
    if !input.pointer.is_empty() && !input.pointer.starts_with('/') {
        return Err(ToolError::invalid_input(
            "a JSON Pointer is empty or starts with '/'",
        ));
    }
    Ok(match input.document.pointer(&input.pointer) {
        Some(value) => Found {
            found: true,
            value: value.clone(),
        },
        None => Found {
            found: false,
            value: Value::Null,
        },
    })
}

export_tools! {
    "word_count" => word_count,
    "regex_extract" => regex_extract,
    "json_query" => json_query,
}
