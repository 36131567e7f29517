use skillbox_sdk::{ToolError, export_tools};

fn allocate(_: serde_json::Value) -> Result<usize, ToolError> {
    let mut hoard: Vec<Vec<u8>> = Vec::new();
    loop {
        hoard.push(vec![0xA5; 1 << 20]);
        std::hint::black_box(&hoard);
    }
}

export_tools! {
    "allocate" => allocate,
}
