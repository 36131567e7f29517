use serde::Deserialize;
use skillbox_sdk::http::{self, HttpError, Request};
use skillbox_sdk::{ToolError, export_tools};

#[derive(Deserialize)]
struct Forge {
    url: String,
    headers: Vec<String>,
}

/// For each header: "sent" if a request carrying it got through, else why not.
fn forge(input: Forge) -> Result<serde_json::Value, ToolError> {
    let mut outcome = serde_json::Map::new();
    for name in input.headers {
        let request = Request::new("GET", &input.url).header(&name, "forged-by-the-guest");
        let result = match http::send(&request) {
            Ok(_) => "sent".to_owned(),
            Err(HttpError::Invalid(why)) => format!("invalid: {why}"),
            Err(e) => e.to_string(),
        };
        outcome.insert(name, result.into());
    }
    Ok(outcome.into())
}

export_tools! {
    "forge" => forge,
}
