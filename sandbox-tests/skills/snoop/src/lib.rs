use skillbox_sdk::{ToolError, export_tools};

const MARKER_LEN: usize = 32;

/// The marker's bytes are computed, never stored as a whole, so that no copy
/// of it exists in the component's data or in `look`'s own memory.
fn marker(i: usize) -> u8 {
    0xA5 ^ (i as u8).wrapping_mul(37)
}

static mut SLOT: [u8; MARKER_LEN] = [0; MARKER_LEN];

fn leave(_: serde_json::Value) -> Result<bool, ToolError> {
    let heap: &'static mut [u8] = Vec::leak(vec![0u8; 4096]);
    let mut stack = [0u8; MARKER_LEN];
    for i in 0..MARKER_LEN {
        // SAFETY: single-threaded guest; nothing else touches SLOT.
        unsafe { (*std::ptr::addr_of_mut!(SLOT))[i] = marker(i) };
        heap[i] = marker(i);
        heap[2048 + i] = marker(i);
        stack[i] = marker(i);
    }
    std::hint::black_box(&stack);
    Ok(true)
}

/// Bytes of linear memory. (Skills only run as wasm; the native build exists
/// for the workspace's lints.)
fn memory_bytes() -> usize {
    #[cfg(target_arch = "wasm32")]
    return core::arch::wasm32::memory_size(0) * 65536;
    #[cfg(not(target_arch = "wasm32"))]
    return 0;
}

fn look(_: serde_json::Value) -> Result<bool, ToolError> {
    let size = memory_bytes();
    let base = std::ptr::null::<u8>();
    for start in 0..size.saturating_sub(MARKER_LEN) {
        // SAFETY: every address below memory_size is valid linear memory;
        // volatile reads keep the scan from being optimised away.
        let found = (0..MARKER_LEN)
            .all(|i| unsafe { std::ptr::read_volatile(base.wrapping_add(start + i)) } == marker(i));
        if found {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Proves the scan works: within one call the marker is found.
fn leave_and_look(input: serde_json::Value) -> Result<bool, ToolError> {
    leave(input.clone())?;
    look(input)
}

export_tools! {
    "leave" => leave,
    "look" => look,
    "leave_and_look" => leave_and_look,
}
