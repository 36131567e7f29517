use skillbox_sdk::{ToolError, export_tools};

fn sleep(_: serde_json::Value) -> Result<bool, ToolError> {
    std::thread::sleep(std::time::Duration::from_secs(3600));
    Ok(true)
}

export_tools! {
    "sleep" => sleep,
}
