use skillbox_sdk::bindings::wasi::http::types::Fields;
use skillbox_sdk::{ToolError, export_tools};

fn flood(_: serde_json::Value) -> Result<usize, ToolError> {
    let mut held = Vec::new();
    loop {
        held.push(Fields::new());
    }
}

export_tools! {
    "flood" => flood,
}
