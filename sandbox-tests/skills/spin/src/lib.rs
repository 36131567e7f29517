use skillbox_sdk::{ToolError, export_tools};

fn spin(_: serde_json::Value) -> Result<u64, ToolError> {
    let mut n: u64 = 0;
    loop {
        n = std::hint::black_box(n.wrapping_add(1));
    }
}

export_tools! {
    "spin" => spin,
}
