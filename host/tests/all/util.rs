//! What the host's integration tests share.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository's root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("host/ sits in the repository root")
        .to_owned()
}

/// The `skillbox` binary built for these tests.
pub fn skillbox() -> Command {
    Command::new(env!("CARGO_BIN_EXE_skillbox"))
}

/// Run `command` to its end; its output, once it is known that skillbox
/// did not panic, whatever its exit code.
#[track_caller]
pub fn run(command: &mut Command) -> Output {
    let output = command.output().expect("run skillbox");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "skillbox panicked: {stderr}");
    output
}
