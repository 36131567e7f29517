//! `wasi:filesystem`: only the directories granted to the skill, preopened
//! at their guest paths, read-only unless granted read-write. wasmtime-wasi
//! resolves every path inside a preopen with cap-std, so `..`, absolute paths
//! and symlinks cannot lead out of it.

use wasmtime_wasi::{FsPerms, WasiCtxBuilder};

use crate::config::Access;
use crate::policy::MountGrant;

/// The filesystem capability of one call.
pub struct FsCap {
    mounts: Vec<MountGrant>,
}

impl FsCap {
    pub fn new(mounts: Vec<MountGrant>) -> Self {
        Self { mounts }
    }

    /// Preopen every granted directory in `wasi`.
    pub fn preopen(&self, wasi: &mut WasiCtxBuilder) -> Result<(), String> {
        for mount in &self.mounts {
            let perms = match mount.access {
                Access::ReadOnly => FsPerms::ReadOnly,
                Access::ReadWrite => FsPerms::ReadWrite,
            };
            wasi.preopened_dir(&mount.host, &mount.guest, perms)
                .map_err(|e| {
                    format!(
                        "the directory for {} ({}) cannot be opened: {e}",
                        mount.guest,
                        mount.host.display()
                    )
                })?;
        }
        Ok(())
    }
}
