//! Everything the command prints goes through here, made printable first:
//! skills, manifests, registries, models and the audit all hold text that
//! others wrote, and a control sequence in it could move the cursor, erase
//! the lines above (a capability in an install review, say) or recolour
//! what a person reads. Only newlines and tabs pass.
//!
//! The macros mirror `print!`, `println!`, `eprint!` and `eprintln!`,
//! which clippy refuses anywhere else in the crate (host/clippy.toml).
//! Output to a closed pipe is dropped rather than a panic.

use std::fmt::Arguments;
use std::io::Write;

use crate::vocab::printable;

/// Write `text` to standard output, made printable.
pub(crate) fn stdout(text: Arguments<'_>) {
    let text = text.to_string();
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(printable(&text).as_bytes());
    let _ = out.flush();
}

/// Write `text` to standard error, made printable.
pub(crate) fn stderr(text: Arguments<'_>) {
    let text = text.to_string();
    let _ = std::io::stderr().write_all(printable(&text).as_bytes());
}

/// `print!`, made printable.
macro_rules! out {
    ($($arg:tt)*) => { $crate::cli::output::stdout(format_args!($($arg)*)) };
}

/// `println!`, made printable.
macro_rules! outln {
    () => { $crate::cli::output::stdout(format_args!("\n")) };
    ($($arg:tt)*) => { $crate::cli::output::stdout(format_args!("{}\n", format_args!($($arg)*))) };
}

/// `eprint!`, made printable.
macro_rules! eout {
    ($($arg:tt)*) => { $crate::cli::output::stderr(format_args!($($arg)*)) };
}

/// `eprintln!`, made printable.
macro_rules! eoutln {
    () => { $crate::cli::output::stderr(format_args!("\n")) };
    ($($arg:tt)*) => { $crate::cli::output::stderr(format_args!("{}\n", format_args!($($arg)*))) };
}

pub(crate) use {eout, eoutln, out, outln};
