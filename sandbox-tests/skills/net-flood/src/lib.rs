use serde::Deserialize;
use skillbox_sdk::http::{self, HttpError, Request};
use skillbox_sdk::{ToolError, export_tools};

#[derive(Deserialize)]
struct Flood {
    url: String,
    times: u32,
}

fn flood(input: Flood) -> Result<serde_json::Value, ToolError> {
    let (mut sent, mut denied) = (0, 0);
    for _ in 0..input.times {
        match http::send(&Request::new("GET", &input.url)) {
            Ok(_) => sent += 1,
            Err(HttpError::Denied(_)) => denied += 1,
            Err(e) => return Err(e.into()),
        }
    }
    Ok(serde_json::json!({ "sent": sent, "denied": denied }))
}

export_tools! {
    "flood" => flood,
}
