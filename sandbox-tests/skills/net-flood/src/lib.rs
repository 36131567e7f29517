use serde::Deserialize;
use skillbox_sdk::http::{self, HttpError, Request};
use skillbox_sdk::{ToolError, export_tools};

#[derive(Deserialize)]
struct Flood {
    url: String,
    times: u32,
    #[serde(default)]
    body_bytes: usize,
}

fn flood(input: Flood) -> Result<serde_json::Value, ToolError> {
    let request = match input.body_bytes {
        0 => Request::new("GET", &input.url),
        n => Request::new("POST", &input.url).body(vec![b'x'; n]),
    };
    let (mut sent, mut denied, mut failed) = (0, 0, 0);
    for _ in 0..input.times {
        match http::send(&request) {
            Ok(_) => sent += 1,
            Err(HttpError::Denied(_)) => denied += 1,
            Err(_) => failed += 1,
        }
    }
    Ok(serde_json::json!({ "sent": sent, "denied": denied, "failed": failed }))
}

export_tools! {
    "flood" => flood,
}
