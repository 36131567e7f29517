//! `wasi:filesystem`: only the directories granted to the skill, preopened
//! at their guest paths, read-only unless granted read-write. wasmtime-wasi
//! resolves every path inside a preopen with cap-std, so `..`, absolute paths
//! and symlinks cannot lead out of it.
//!
//! The directories are opened once, when the agent is loaded, and every
//! call gets its own handles to them.

use wasmtime_wasi::filesystem::WasiFilesystemCtx;
use wasmtime_wasi::{FsPerms, WasiCtx};

use crate::config::Access;
use crate::policy::MountGrant;

/// The granted directories of a skill, open.
#[derive(Clone, Default)]
pub struct FsCap {
    preopens: WasiFilesystemCtx,
}

impl std::fmt::Debug for FsCap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FsCap")
    }
}

impl FsCap {
    /// Open every granted directory.
    pub fn open(mounts: &[MountGrant]) -> Result<FsCap, String> {
        let mut builder = WasiCtx::builder();
        for mount in mounts {
            let perms = match mount.access {
                Access::ReadOnly => FsPerms::ReadOnly,
                Access::ReadWrite => FsPerms::ReadWrite,
            };
            builder
                .preopened_dir(&mount.host, &mount.guest, perms)
                .map_err(|e| {
                    format!(
                        "the directory for {} ({}) cannot be opened: {e}",
                        mount.guest,
                        mount.host.display()
                    )
                })?;
        }
        Ok(FsCap {
            preopens: builder.build().filesystem().clone(),
        })
    }

    /// Give `wasi` these directories, and no others.
    pub fn install(&self, wasi: &mut WasiCtx) {
        *wasi.filesystem() = self.preopens.clone();
    }
}
