//! Compiled components on disk, so that a restart does not recompile.
//!
//! A file is named by the SHA-256 of the component's bytes and a fingerprint
//! of the engine's configuration; loading maps it copy-on-write. The cache
//! holds native code that the host runs, so it lives in the operator's data
//! directory and is created private to the operator (mode 0700).

use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

pub(super) struct CompileCache {
    dir: PathBuf,
    engine_fingerprint: String,
}

impl CompileCache {
    pub(super) fn open(dir: &Path, engine: &Engine) -> std::io::Result<Self> {
        create_private_dir(dir)?;
        // Wasmtime also checks compatibility when it loads a file; the
        // fingerprint keeps differently configured engines from evicting
        // each other's entries.
        let mut hasher = DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        Ok(Self {
            dir: dir.to_owned(),
            engine_fingerprint: format!("{:016x}", hasher.finish()),
        })
    }

    /// The compiled form of `bytes` (whose SHA-256 is `digest`), from the
    /// cache when present and valid, else compiled and stored.
    pub(super) fn load(
        &self,
        engine: &Engine,
        digest: &str,
        bytes: &[u8],
    ) -> wasmtime::Result<Component> {
        let path = self
            .dir
            .join(format!("{digest}-{}.cwasm", self.engine_fingerprint));
        if path.exists() {
            // SAFETY: the file was written by `store` below from wasmtime's own
            // output, in a directory only the operator can write to.
            match unsafe { Component::deserialize_file(engine, &path) } {
                Ok(component) => return Ok(component),
                Err(e) => {
                    tracing::warn!(path = %path.display(), "recompiling: cached component unusable: {e}")
                }
            }
        }
        let compiled = engine.precompile_component(bytes)?;
        self.store(&path, &compiled)?;
        // SAFETY: as above; just written from `precompile_component`.
        unsafe { Component::deserialize_file(engine, &path) }
    }

    /// Write atomically, so that a crash never leaves half a file behind.
    fn store(&self, path: &Path, compiled: &[u8]) -> std::io::Result<()> {
        let mut tmp = tempfile::NamedTempFile::new_in(&self.dir)?;
        tmp.write_all(compiled)?;
        tmp.as_file().sync_all()?;
        tmp.persist(path).map_err(|e| e.error)?;
        Ok(())
    }
}

/// SHA-256 of `bytes`, in lowercase hex.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}
