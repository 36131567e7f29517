//! `skillbox:skill/inference`: chat completions through the shared backend.
//!
//! No inference service is attached to the sandbox yet, so every request is
//! refused as not granted: the deny-by-default answer.

use std::sync::Arc;

use wasmtime::component::{HasSelf, Linker};

use crate::sandbox::CallState;
use crate::sandbox::bindings::skillbox::skill::inference as wit;
use crate::sandbox::bindings::skillbox::skill::types::Error;

/// The inference capability of one call.
pub struct InferenceCap {
    skill: Arc<str>,
}

impl InferenceCap {
    pub fn new(skill: Arc<str>) -> Self {
        Self { skill }
    }
}

impl wit::Host for InferenceCap {
    async fn chat(
        &mut self,
        _request: wit::ChatRequest,
    ) -> wasmtime::Result<Result<wit::ChatResponse, Error>> {
        Ok(Err(Error::Denied(format!(
            "inference is not granted to skill '{}'",
            self.skill
        ))))
    }
}

pub fn link(linker: &mut Linker<CallState>) -> wasmtime::Result<()> {
    wit::add_to_linker::<CallState, HasSelf<InferenceCap>>(linker, |state| {
        &mut state.caps.inference
    })
}
