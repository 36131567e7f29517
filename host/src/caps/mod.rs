//! Host capabilities: one module per import a skill may use.
//!
//! Each module owns its per-call state and the implementation of its WIT
//! interface. What a call may do is decided before it starts, by
//! [`crate::policy`]; a capability here only uses the grant it was handed,
//! and refuses with `denied` when it was handed none.

pub mod consent;
pub mod fs;
pub mod http;
pub mod inference;
pub mod log;
pub mod memory;

use wasmtime::component::{HasSelf, Linker};

use crate::sandbox::CallState;
use crate::sandbox::bindings::skillbox::skill::types;

/// The capabilities of one call.
pub struct CallCaps {
    pub log: log::LogCap,
    pub memory: memory::MemoryCap,
    pub inference: inference::InferenceCap,
    pub consent: consent::ConsentCap,
    pub http: http::HttpCap,
    pub fs: fs::FsCap,
}

/// Link every host import into `linker`: WASI 0.2 (sandboxed by the per-call
/// `WasiCtx`), outgoing HTTP, and the skillbox interfaces.
pub fn link(linker: &mut Linker<CallState>) -> wasmtime::Result<()> {
    wasmtime_wasi::p2::add_to_linker_async(linker)?;
    http::link(linker)?;
    types::add_to_linker::<CallState, HasSelf<CallState>>(linker, |state| state)?;
    log::link(linker)?;
    memory::link(linker)?;
    inference::link(linker)?;
    consent::link(linker)?;
    Ok(())
}

impl types::Host for CallState {}

/// `s` cut to at most `max` bytes on a character boundary, marked when cut.
pub fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes)", &s[..end], s.len())
}
