//! `skillbox:skill/consent`: a skill asks the person running the agent.
//!
//! No consent channel is attached to the sandbox yet, so every request is
//! refused: without a person to answer, the answer is no.

use std::sync::Arc;

use wasmtime::component::{HasSelf, Linker};

use crate::sandbox::CallState;
use crate::sandbox::bindings::skillbox::skill::consent as wit;
use crate::sandbox::bindings::skillbox::skill::types::Error;

/// The consent capability of one call.
pub struct ConsentCap {
    skill: Arc<str>,
}

impl ConsentCap {
    pub fn new(skill: Arc<str>) -> Self {
        Self { skill }
    }
}

impl wit::Host for ConsentCap {
    async fn request(
        &mut self,
        action: String,
        _details: String,
    ) -> wasmtime::Result<Result<(), Error>> {
        Ok(Err(Error::Denied(format!(
            "consent is not granted to skill '{}' (no one is there to ask about '{}')",
            self.skill,
            super::truncate(&action, 200)
        ))))
    }
}

pub fn link(linker: &mut Linker<CallState>) -> wasmtime::Result<()> {
    wit::add_to_linker::<CallState, HasSelf<ConsentCap>>(linker, |state| &mut state.caps.consent)
}
