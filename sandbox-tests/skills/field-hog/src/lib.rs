use skillbox_sdk::bindings::wasi::http::types::Fields;
use skillbox_sdk::{ToolError, export_tools, log};

#[derive(serde::Deserialize)]
struct Hog {
    /// Headers of 1 KiB in the set that is copied.
    headers: usize,
}

/// Fill one header set, then clone it and change each clone, logging how
/// many copies and bytes the host holds, until the call is stopped.
fn hog(input: Hog) -> Result<usize, ToolError> {
    let value = vec![b'v'; 1024];
    let full = Fields::new();
    for i in 0..input.headers {
        let _ = full.append(&format!("x-fill-{i}"), &value);
    }
    let bytes_each = input.headers * value.len();
    let mut held = Vec::new();
    loop {
        let copy = full.clone();
        // A change makes the host copy the whole set.
        let _ = copy.append("x-copy", b"1");
        held.push(copy);
        if held.len() % 16 == 0 {
            log::info(&format!("held {} copies of {bytes_each} bytes", held.len()));
        }
    }
}

export_tools! {
    "hog" => hog,
}
