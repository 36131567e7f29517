//! Asking the person who runs the agent before a consequential step.
//!
//! The host shows `action` and `details` to a person (or refuses, if the
//! agent does not ask people); the skill learns only the answer.
//!
//! ```ignore
//! skillbox_sdk::consent::request("delete 3 files", "old.log, older.log, oldest.log")?;
//! ```

use crate::Error;
use crate::bindings::skillbox::skill::consent as host;

/// `Ok` when a person allowed `action`; [`Error::Denied`] when refused, not
/// answered in time, or not asked at all.
pub fn request(action: &str, details: &str) -> Result<(), Error> {
    Ok(host::request(action, details)?)
}
