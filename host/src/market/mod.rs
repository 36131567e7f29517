//! The skill marketplace: signed packages ([`package`], [`signing`]) in
//! static registries ([`registry`]), and what a host needs to install them.

pub mod client;
pub mod install;
pub mod lock;
pub mod package;
pub mod registry;
pub mod serve;
pub mod signing;
pub mod store;

pub use lock::{SkillLocation, locate};
pub use store::verify;

use std::path::Path;

/// Replace the file at `path` whole: written beside it and renamed into
/// place, so that a reader sees the old file or the new one, never half.
fn replace_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let temp = tempfile::NamedTempFile::new_in(dir)?;
    std::fs::write(temp.path(), bytes)?;
    temp.persist(path).map_err(|e| e.error)?;
    Ok(())
}
