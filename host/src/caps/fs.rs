//! `wasi:filesystem`: only the directories granted to the skill, preopened
//! at their guest paths, read-only unless granted read-write. wasmtime-wasi
//! resolves every path inside a preopen with cap-std, so `..`, absolute paths
//! and symlinks cannot lead out of it.
//!
//! A grant names one of the agent's mounts; it may not give more access
//! than the manifest asks for or the mount lends. The granted directories
//! are opened once, when the agent is loaded, and every call gets its own
//! handles to them. A directory offered with `ask` is opened for a call
//! only once a person allows it.
//!
//! Creating a symbolic link is refused unless every directory of the call
//! is granted with `symlinks = true`: a link pointing out of the mount is
//! harmless inside the sandbox, but it stays on the host, where other
//! programs would follow it.
//!
//! The interface is linked by wasmtime-wasi (over its `WasiView`), but for
//! `symlink-at`, linked here over [`FsView`]; what a call may see is the
//! preopens this module installs in its `WasiCtx`.

use std::path::PathBuf;

use wasmtime::component::{Linker, Resource};
use wasmtime_wasi::filesystem::{WasiFilesystemCtx, WasiFilesystemView};
use wasmtime_wasi::p2::bindings::filesystem::types::{self as wasi_fs, Descriptor, ErrorCode};
use wasmtime_wasi::{FsPerms, WasiCtx};

use super::{CallContext, CapError, GrantContext, HostCapability, OnInstall, Words};
use crate::config::{Capabilities, ConfigError};
use crate::consent::Verdict;
use crate::vocab::{Access, Capability};

/// The filesystem capability.
pub(crate) struct Fs;

/// The directories granted to a skill.
#[derive(Debug)]
pub(crate) struct FsGrant {
    /// Preopened for every call.
    pub mounts: Vec<MountGrant>,
    /// Offered with `ask`: preopened for a call once a person allows it.
    pub offered: Vec<MountGrant>,
    /// `mounts`, open.
    open: FsCap,
}

/// A host directory visible to a skill at `guest`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MountGrant {
    pub host: PathBuf,
    pub guest: String,
    pub access: Access,
    pub symlinks: bool,
}

/// A granted directory that cannot be opened.
#[derive(Debug, thiserror::Error)]
#[error("the directory for {guest} ({}) cannot be opened: {reason}", host.display())]
pub(crate) struct MountError {
    guest: String,
    host: PathBuf,
    reason: String,
}

impl HostCapability for Fs {
    type Grant = FsGrant;
    type State = FsCap;

    fn grant(cx: &GrantContext<'_>) -> Result<Option<FsGrant>, ConfigError> {
        let (mut mounts, mut offered) = (Vec::new(), Vec::new());
        for (i, grant) in cx.entry.grants.filesystem.iter().enumerate() {
            let g = &grant.value;
            let error =
                |message: String| cx.error(&format!("filesystem[{i}]"), grant.line, message);
            let Some(mount) = cx.agent.mounts.get(&g.mount) else {
                return Err(error(format!(
                    "no mount '{}' in [mounts] of agent '{}'",
                    g.mount, cx.agent.id
                )));
            };
            let asks = &cx.manifest.capabilities.filesystem;
            let Some(request) = asks.iter().find(|r| r.guest == g.guest) else {
                return Err(error(format!(
                    "skill '{}' does not ask for a directory at {}",
                    cx.skill, g.guest
                )));
            };
            if g.access > request.access {
                return Err(error(format!(
                    "grants {} at {}, but skill '{}' asks for {} only",
                    g.access, g.guest, cx.skill, request.access
                )));
            }
            if g.access > mount.value.access {
                return Err(error(format!(
                    "grants {} on mount '{}', which is {}",
                    g.access, g.mount, mount.value.access
                )));
            }
            let granted = MountGrant {
                host: mount.value.path.clone(),
                guest: g.guest.clone(),
                access: g.access,
                symlinks: g.symlinks,
            };
            match g.ask {
                true => offered.push(granted),
                false => mounts.push(granted),
            }
        }
        if mounts.is_empty() && offered.is_empty() {
            return Ok(None);
        }
        let open = FsCap::open(&mounts)
            .map_err(|e| cx.error("filesystem", cx.entry.line, e.to_string()))?;
        Ok(Some(FsGrant {
            mounts,
            offered,
            open,
        }))
    }

    fn asked(asks: &Capabilities) -> Vec<Words> {
        let words = |r: &crate::config::FsRequest| {
            let verb = match r.access {
                Access::ReadOnly => "read",
                Access::ReadWrite => "read and write",
            };
            Words {
                term: format!("filesystem {} {}", r.access, r.guest),
                sentence: format!(
                    "may {verb} the directory {} (a mount the agent lends)",
                    r.guest
                ),
            }
        };
        asks.filesystem.iter().map(words).collect()
    }

    fn on_install(asks: &Capabilities) -> OnInstall {
        let left = asks.filesystem.iter().map(|r| {
            format!(
                "filesystem {}: add a grant naming one of the agent's mounts",
                r.guest
            )
        });
        match asks.filesystem.is_empty() {
            true => OnInstall::Nothing,
            false => OnInstall::Left(left.collect()),
        }
    }

    fn granted(grant: &FsGrant) -> Vec<String> {
        let offered = grant
            .offered
            .iter()
            .map(|m| (m, " (each call asks a person)"));
        let mounts = grant.mounts.iter().map(|m| (m, "")).chain(offered);
        mounts
            .map(|(mount, ask)| {
                let links = match mount.symlinks {
                    true => ", may create symlinks",
                    false => "",
                };
                format!(
                    "filesystem {} {} (host {}){links}{ask}",
                    mount.access,
                    mount.guest,
                    mount.host.display()
                )
            })
            .collect()
    }

    fn not_granted(asks: &Capabilities, grant: Option<&FsGrant>) -> Vec<String> {
        let granted: Vec<&MountGrant> = grant
            .map(|g| g.mounts.iter().chain(&g.offered).collect())
            .unwrap_or_default();
        asks.filesystem
            .iter()
            .filter_map(
                |request| match granted.iter().find(|m| m.guest == request.guest) {
                    None => Some(format!("filesystem {} {}", request.access, request.guest)),
                    Some(m) if m.access < request.access => Some(format!(
                        "filesystem {} {} (granted {})",
                        request.access, request.guest, m.access
                    )),
                    Some(_) => None,
                },
            )
            .collect()
    }

    /// The directories of one call: those granted, and those offered that
    /// a person allows.
    async fn prepare(grant: Option<&FsGrant>, call: &CallContext<'_>) -> Result<FsCap, CapError> {
        let Some(grant) = grant else {
            return Ok(FsCap::default());
        };
        if grant.offered.is_empty() {
            return Ok(grant.open.clone());
        }
        let mut mounts = grant.mounts.clone();
        for offered in &grant.offered {
            let capability = Capability::Filesystem {
                access: offered.access,
                guest: offered.guest.clone(),
            };
            let reason = "the agent lends this directory only with a person's consent";
            if call.consent.decide(capability, reason).await == Verdict::Allowed {
                mounts.push(offered.clone());
            }
        }
        Ok(FsCap::open(&mounts)?)
    }
}

/// The directories one call may see, open.
#[derive(Clone, Default)]
pub struct FsCap {
    preopens: WasiFilesystemCtx,
    /// Whether every directory was granted with `symlinks = true`.
    symlinks: bool,
}

impl std::fmt::Debug for FsCap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FsCap")
    }
}

impl FsCap {
    /// Open every directory of `mounts`.
    fn open(mounts: &[MountGrant]) -> Result<FsCap, MountError> {
        let mut builder = WasiCtx::builder();
        for mount in mounts {
            let perms = match mount.access {
                Access::ReadOnly => FsPerms::ReadOnly,
                Access::ReadWrite => FsPerms::ReadWrite,
            };
            builder
                .preopened_dir(&mount.host, &mount.guest, perms)
                .map_err(|e| MountError {
                    guest: mount.guest.clone(),
                    host: mount.host.clone(),
                    reason: e.to_string(),
                })?;
        }
        Ok(FsCap {
            preopens: builder.build().filesystem().clone(),
            symlinks: !mounts.is_empty() && mounts.iter().all(|m| m.symlinks),
        })
    }

    /// Give `wasi` these directories, and no others.
    pub fn install(&self, wasi: &mut WasiCtx) {
        *wasi.filesystem() = self.preopens.clone();
    }
}

/// A store whose calls may see directories.
pub(crate) trait FsView: WasiFilesystemView + Send {
    fn fs(&self) -> &FsCap;
}

/// Link `symlink-at` in place of wasmtime-wasi's, which creates any link:
/// refused unless the call's directories allow links, else wasmtime-wasi's.
/// The rest of `wasi:filesystem` stays wasmtime-wasi's, linked before this.
pub(crate) fn add_to_linker<T: FsView + 'static>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    let mut types = linker.instance(WASI_FILESYSTEM_TYPES)?;
    let linked = types.func_wrap_async(
        "[method]descriptor.symlink-at",
        |mut store, (fd, target, link): (Resource<Descriptor>, String, String)| {
            Box::new(async move {
                if !store.data().fs().symlinks {
                    return Ok((Err(ErrorCode::NotPermitted),));
                }
                let mut view = store.data_mut().filesystem();
                let made = wasi_fs::HostDescriptor::symlink_at(&mut view, fd, target, link).await;
                Ok((match made {
                    Ok(()) => Ok(()),
                    Err(e) => Err(wasi_fs::Host::convert_error_code(&mut view, e)?),
                },))
            })
        },
    );
    linker.allow_shadowing(false);
    linked
}

/// The interface `symlink-at` belongs to, at the version wasmtime-wasi links.
const WASI_FILESYSTEM_TYPES: &str = "wasi:filesystem/types@0.2.12";
