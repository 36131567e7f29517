//! Write skillbox skills in Rust.
//!
//! A skill is a set of tools; a tool is a plain function from a
//! deserializable input to a serializable output:
//!
//! ```ignore
//! use serde::Deserialize;
//! use skillbox_sdk::{ToolError, export_tools, log};
//!
//! #[derive(Deserialize)]
//! struct Greet { name: String }
//!
//! fn greet(input: Greet) -> Result<String, ToolError> {
//!     log::info(&format!("greeting {}", input.name));
//!     Ok(format!("Hello, {}!", input.name))
//! }
//!
//! export_tools! {
//!     "greet" => greet,
//! }
//! ```
//!
//! Build with `cargo build --target wasm32-wasip2` as a `cdylib`; declare the
//! tools and their input schemas in `skill.toml`.

pub mod consent;
pub mod http;
pub mod inference;
pub mod log;
pub mod memory;
mod words;

pub use words::io_error;

use std::fmt;

use serde::Serialize;
use serde::de::DeserializeOwned;

/// Bindings generated from the `skillbox:skill` world; the modules above
/// wrap what a skill needs. WASI interfaces (e.g. `wasi::http`) are here too.
pub mod bindings {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "skill",
        pub_export_macro: true,
        export_macro_name: "export",
        default_bindings_module: "skillbox_sdk::bindings",
        generate_all,
    });
}

use bindings::exports::skillbox::skill::tools::ToolError as WitToolError;

/// Why a tool did not produce a result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolError {
    /// The input is not acceptable (beyond what the schema checks).
    InvalidInput(String),
    /// Something the tool needs was denied to it.
    Denied(String),
    /// The tool tried and failed.
    Failed(String),
}

impl ToolError {
    pub fn invalid_input(message: impl Into<String>) -> Self {
        ToolError::InvalidInput(message.into())
    }

    pub fn denied(message: impl Into<String>) -> Self {
        ToolError::Denied(message.into())
    }

    pub fn failed(message: impl Into<String>) -> Self {
        ToolError::Failed(message.into())
    }
}

impl fmt::Display for ToolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ToolError::InvalidInput(m) => write!(f, "invalid input: {m}"),
            ToolError::Denied(m) => write!(f, "denied: {m}"),
            ToolError::Failed(m) => write!(f, "failed: {m}"),
        }
    }
}

impl std::error::Error for ToolError {}

/// A host capability's refusal becomes the tool's: denied stays denied,
/// anything else is a failure.
impl From<Error> for ToolError {
    fn from(e: Error) -> Self {
        match e {
            Error::Denied(m) => ToolError::Denied(m),
            other => ToolError::Failed(other.to_string()),
        }
    }
}

impl From<ToolError> for WitToolError {
    fn from(e: ToolError) -> Self {
        match e {
            ToolError::InvalidInput(m) => WitToolError::InvalidInput(m),
            ToolError::Denied(m) => WitToolError::Denied(m),
            ToolError::Failed(m) => WitToolError::Failed(m),
        }
    }
}

/// Why a host capability refused or failed a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// Not granted to this skill in this agent.
    Denied(String),
    /// A quota, budget or size limit would be exceeded.
    LimitExceeded(String),
    /// The request is malformed.
    Invalid(String),
    /// The host tried and failed.
    Failed(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Denied(m) => write!(f, "denied: {m}"),
            Error::LimitExceeded(m) => write!(f, "limit exceeded: {m}"),
            Error::Invalid(m) => write!(f, "invalid: {m}"),
            Error::Failed(m) => write!(f, "failed: {m}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<bindings::skillbox::skill::types::Error> for Error {
    fn from(e: bindings::skillbox::skill::types::Error) -> Self {
        use bindings::skillbox::skill::types::Error as Wit;
        match e {
            Wit::Denied(m) => Error::Denied(m),
            Wit::LimitExceeded(m) => Error::LimitExceeded(m),
            Wit::Invalid(m) => Error::Invalid(m),
            Wit::Failed(m) => Error::Failed(m),
        }
    }
}

/// Deserialize `input`, run `tool`, serialize its output. Used by
/// [`export_tools!`].
#[doc(hidden)]
pub fn dispatch<I, O>(
    input: &str,
    tool: impl FnOnce(I) -> Result<O, ToolError>,
) -> Result<String, ToolError>
where
    I: DeserializeOwned,
    O: Serialize,
{
    let input: I =
        serde_json::from_str(input).map_err(|e| ToolError::invalid_input(e.to_string()))?;
    let output = tool(input)?;
    serde_json::to_string(&output)
        .map_err(|e| ToolError::failed(format!("cannot serialize the output: {e}")))
}

/// Export a skill's tools: a list of `"tool_name" => function` pairs, where
/// each function takes a `serde::Deserialize` input and returns
/// `Result<impl serde::Serialize, ToolError>`. Names match `skill.toml`.
#[macro_export]
macro_rules! export_tools {
    ($($name:literal => $tool:path),+ $(,)?) => {
        struct __SkillboxTools;

        impl $crate::bindings::exports::skillbox::skill::tools::Guest for __SkillboxTools {
            fn call(
                tool: ::std::string::String,
                input: ::std::string::String,
            ) -> ::std::result::Result<
                ::std::string::String,
                $crate::bindings::exports::skillbox::skill::tools::ToolError,
            > {
                let result = match tool.as_str() {
                    $($name => $crate::dispatch(&input, $tool),)+
                    other => ::std::result::Result::Err($crate::ToolError::invalid_input(
                        ::std::format!("unknown tool '{other}'"),
                    )),
                };
                result.map_err(::std::convert::Into::into)
            }
        }

        $crate::bindings::export!(__SkillboxTools with_types_in $crate::bindings);
    };
}
