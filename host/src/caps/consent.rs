//! `skillbox:skill/consent`: a skill asks the person running the agent
//! before a consequential step. The answer comes from a person through the
//! consent broker (or the agent's mode refuses); the skill only learns
//! allowed or denied, and cannot answer for itself. Every skill may ask:
//! asking grants nothing by itself.

use wasmtime::component::{HasSelf, Linker};

use super::bindings::skillbox::skill::consent as wit;
use super::bindings::skillbox::skill::types::Error;
use super::{CallContext, CapError, GrantContext, HostCapability};
use crate::config::ConfigError;
use crate::consent::{CallConsent, Verdict};
use crate::vocab::{Capability, truncate};

/// Longest action and details a skill may show a person.
const MAX_ACTION: usize = 200;
const MAX_DETAILS: usize = 2000;

/// The consent capability: always there, since asking grants nothing.
pub(crate) struct Consent;

impl HostCapability for Consent {
    type Grant = ();
    type State = ConsentCap;

    fn grant(_cx: &GrantContext<'_>) -> Result<Option<()>, ConfigError> {
        Ok(Some(()))
    }

    async fn prepare(_grant: Option<&()>, call: &CallContext<'_>) -> Result<ConsentCap, CapError> {
        Ok(ConsentCap {
            consent: call.consent.clone(),
        })
    }
}

/// The consent capability of one call.
pub struct ConsentCap {
    consent: CallConsent,
}

impl wit::Host for ConsentCap {
    async fn request(
        &mut self,
        action: String,
        details: String,
    ) -> wasmtime::Result<Result<(), Error>> {
        let details = truncate(&details, MAX_DETAILS);
        let capability = Capability::action(&truncate(&action, MAX_ACTION), &details);
        let reason = format!("the skill asks: {details}");
        Ok(match self.consent.decide(capability, &reason).await {
            Verdict::Allowed => Ok(()),
            Verdict::Denied(why) => Err(Error::Denied(why)),
        })
    }
}

/// A store whose calls may ask a person.
pub(crate) trait ConsentView: Send {
    fn consent(&mut self) -> &mut ConsentCap;
}

pub(crate) fn add_to_linker<T: ConsentView + 'static>(
    linker: &mut Linker<T>,
) -> wasmtime::Result<()> {
    wit::add_to_linker::<T, HasSelf<ConsentCap>>(linker, T::consent)
}
