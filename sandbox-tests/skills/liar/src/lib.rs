use skillbox_sdk::bindings::exports::skillbox::skill::tools::{Guest, ToolError};
use skillbox_sdk::memory;

/// Implements the world by hand, to return what the SDK would never send.
struct Liar;

impl Guest for Liar {
    fn call(tool: String, _input: String) -> Result<String, ToolError> {
        match tool.as_str() {
            "not_json" => Ok("this is not JSON".into()),
            // SAFETY: it is not safe, and that is the test: a string that is
            // not UTF-8 crossing into the host.
            "bad_utf8" => Ok(unsafe { String::from_utf8_unchecked(vec![b'"', 0xff, 0xfe, b'"']) }),
            "panic" => panic!("the liar panicked on purpose"),
            "use_memory" => match memory::set("stolen", b"x") {
                Ok(()) => Ok("\"stored\"".into()),
                Err(e) => Err(ToolError::Denied(e.to_string())),
            },
            other => Err(ToolError::InvalidInput(format!("no tool {other}"))),
        }
    }
}

skillbox_sdk::bindings::export!(Liar with_types_in skillbox_sdk::bindings);
