//! `skillbox:skill/consent`: a skill asks the person running the agent
//! before a consequential step. The answer comes from a person through the
//! consent broker (or the agent's mode refuses); the skill only learns
//! allowed or denied, and cannot answer for itself.

use wasmtime::component::{HasSelf, Linker};

use crate::policy::consent::{CallConsent, Verdict};
use crate::prompt::Capability;
use crate::sandbox::CallState;
use crate::sandbox::bindings::skillbox::skill::consent as wit;
use crate::sandbox::bindings::skillbox::skill::types::Error;

/// Longest action and details a skill may show a person.
const MAX_ACTION: usize = 200;
const MAX_DETAILS: usize = 2000;

/// The consent capability of one call.
pub struct ConsentCap {
    consent: CallConsent,
}

impl ConsentCap {
    pub fn new(consent: CallConsent) -> Self {
        Self { consent }
    }
}

impl wit::Host for ConsentCap {
    async fn request(
        &mut self,
        action: String,
        details: String,
    ) -> wasmtime::Result<Result<(), Error>> {
        let capability = Capability::Action {
            action: super::truncate(&action, MAX_ACTION),
        };
        let reason = format!("the skill asks: {}", super::truncate(&details, MAX_DETAILS));
        Ok(match self.consent.decide(capability, &reason).await {
            Verdict::Allowed => Ok(()),
            Verdict::Denied(why) => Err(Error::Denied(why)),
        })
    }
}

pub fn link(linker: &mut Linker<CallState>) -> wasmtime::Result<()> {
    wit::add_to_linker::<CallState, HasSelf<ConsentCap>>(linker, |state| &mut state.caps.consent)
}
