use serde::Deserialize;
use skillbox_sdk::http::{self, Request};
use skillbox_sdk::{ToolError, export_tools};

#[derive(Deserialize)]
struct Probe {
    url: String,
    #[serde(default)]
    follow: bool,
}

fn fetch(probe: Probe) -> Result<serde_json::Value, ToolError> {
    let request = Request::new("GET", &probe.url);
    let response = if probe.follow {
        http::fetch(request)
    } else {
        http::send(&request)
    }?;
    Ok(serde_json::json!({ "status": response.status, "bytes": response.body.len() }))
}

export_tools! {
    "fetch" => fetch,
}
