//! Finding a language's toolchain, and saying in one line how to install it
//! when it is missing.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::AuthoringError;

/// A program a build runs, and how to get it.
pub(super) struct Tool {
    pub program: &'static str,
    pub install: &'static str,
}

pub(super) const CARGO: Tool = Tool {
    program: "cargo",
    install: "install Rust with rustup (https://rustup.rs), then `rustup target add wasm32-wasip2`",
};
pub(super) const COMPONENTIZE_PY: Tool = Tool {
    program: "componentize-py",
    install: "pip install componentize-py==0.25.1",
};
pub(super) const COMPONENTIZE_JS: Tool = Tool {
    program: "componentize-js",
    install: "npm install --global @bytecodealliance/componentize-js@0.23.0",
};
pub(super) const CLANG: Tool = Tool {
    program: "clang",
    install: "apt-get install clang lld wasi-libc libclang-rt-14-dev-wasm32 (or set WASI_SDK_PATH to a wasi-sdk)",
};

impl Tool {
    /// The program: from `extra` directories first, then `PATH`.
    pub(super) fn find(&self, extra: &[PathBuf]) -> Result<PathBuf, AuthoringError> {
        let path = std::env::var_os("PATH").unwrap_or_default();
        extra
            .iter()
            .cloned()
            .chain(std::env::split_paths(&path))
            .map(|dir| dir.join(self.program))
            .find(|candidate| candidate.is_file())
            .ok_or(AuthoringError::Missing {
                what: self.program,
                install: self.install,
            })
    }
}

/// Run `command`, failing with its output when it fails.
pub(super) fn run(
    mut command: Command,
    what: &str,
) -> Result<std::process::Output, AuthoringError> {
    let output = command
        .output()
        .map_err(|error| AuthoringError::CannotRun {
            what: what.to_owned(),
            command: format!("{command:?}"),
            error,
        })?;
    if !output.status.success() {
        return Err(AuthoringError::Failed {
            what: what.to_owned(),
            status: output.status,
            output: format!(
                "{}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ),
        });
    }
    Ok(output)
}

/// Whether `dir` looks like a WASI sysroot (headers and libc for wasm32-wasi).
pub(super) fn is_wasi_sysroot(dir: &Path) -> bool {
    dir.join("lib/wasm32-wasi/libc.a").is_file()
}
