//! `web`: fetch a URL; HTML is reduced to readable text.

use serde::{Deserialize, Serialize};
use skillbox_sdk::{ToolError, export_tools, http};

/// Characters of text returned unless the caller asks for fewer.
const DEFAULT_MAX_CHARS: usize = 20_000;

#[derive(Deserialize)]
struct FetchInput {
    url: String,
    max_chars: Option<usize>,
}

#[derive(Serialize)]
struct Page {
    url: String,
    status: u16,
    content_type: Option<String>,
    headers: Vec<(String, String)>,
    text: String,
    truncated: bool,
}

fn fetch(input: FetchInput) -> Result<Page, ToolError> {
    let response = http::get(&input.url)?;
    let content_type = response.header("content-type").map(str::to_owned);
    let is_html = content_type.as_deref().is_some_and(|t| t.contains("html"));
    let text = if is_html {
        html2text::from_read(response.body.as_slice(), 100)
            .map_err(|e| ToolError::failed(format!("cannot read the HTML: {e}")))?
    } else {
        response.text()
    };
    let max = input.max_chars.unwrap_or(DEFAULT_MAX_CHARS);
    let truncated = text.chars().count() > max;
    Ok(Page {
        url: input.url,
        status: response.status,
        content_type,
        headers: response.headers,
        text: if truncated {
            text.chars().take(max).collect()
        } else {
            text
        },
        truncated,
    })
}

export_tools! {
    "fetch" => fetch,
}
