use skillbox_sdk::{ToolError, export_tools, log};

fn huge_output(_: serde_json::Value) -> Result<String, ToolError> {
    Ok("a".repeat(100_000_000))
}

fn log_flood(_: serde_json::Value) -> Result<(), ToolError> {
    let line = "x".repeat(1024);
    loop {
        log::info(&line);
    }
}

fn stdout_flood(_: serde_json::Value) -> Result<(), ToolError> {
    let line = "y".repeat(1024);
    loop {
        println!("{line}");
    }
}

export_tools! {
    "huge_output" => huge_output,
    "log_flood" => log_flood,
    "stdout_flood" => stdout_flood,
}
