//! Where a target's inputs live: `fuzz/corpus/<target>/`, valid inputs of
//! a real kind to start from; `fuzz/regressions/<target>/`, inputs that
//! once found a bug, replayed on every run; and `fuzz/artifacts/<target>/`,
//! where inputs with a problem are written (not committed).

use std::path::{Path, PathBuf};

/// `fuzz/` in the repository.
fn fuzz_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

pub fn corpus_dir(target: &str) -> PathBuf {
    fuzz_dir().join("corpus").join(target)
}

pub fn regressions_dir(target: &str) -> PathBuf {
    fuzz_dir().join("regressions").join(target)
}

pub fn artifacts_dir(target: &str) -> PathBuf {
    fuzz_dir().join("artifacts").join(target)
}

/// The example configuration directory of the repository.
pub fn example_config() -> PathBuf {
    fuzz_dir().join("../docs/examples/config")
}

/// The files of a target's corpus, then of its regressions, each in order
/// of name.
pub fn seed_files(target: &str) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for dir in [corpus_dir(target), regressions_dir(target)] {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut found: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file())
            .collect();
        found.sort();
        files.extend(found);
    }
    files
}
