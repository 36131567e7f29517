use skillbox_sdk::{ToolError, export_tools};

/// Recurses on the wasm stack (the host's limit), not on the linear-memory
/// shadow stack: no locals have their address taken, and the work after the
/// call keeps it from becoming a loop.
#[inline(never)]
#[allow(unconditional_recursion, reason = "recursing without end is the point")]
fn descend(depth: u64, salt: u64) -> u64 {
    let deeper = descend(depth + 1, salt ^ depth);
    deeper.rotate_left((salt & 63) as u32) ^ depth
}

fn recurse(_: serde_json::Value) -> Result<u64, ToolError> {
    Ok(descend(0, std::hint::black_box(7)))
}

export_tools! {
    "recurse" => recurse,
}
