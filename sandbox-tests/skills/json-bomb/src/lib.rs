use skillbox_sdk::bindings::exports::skillbox::skill::tools::{Guest, ToolError};

/// Implements the world by hand: the SDK would serialize a string instead.
struct Bomb;

impl Guest for Bomb {
    fn call(_tool: String, _input: String) -> Result<String, ToolError> {
        let depth = 100_000;
        Ok(format!("{}{}", "[".repeat(depth), "]".repeat(depth)))
    }
}

skillbox_sdk::bindings::export!(Bomb with_types_in skillbox_sdk::bindings);
