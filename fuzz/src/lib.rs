//! Mutation fuzzing of every parser of the host, on the stable toolchain
//! and without outside tools (docs/fuzzing.md).
//!
//! Each target ([`targets`]) starts from the files of
//! `fuzz/corpus/<target>/` and `fuzz/regressions/<target>/`, mutates them
//! ([`mutate`]) and runs every input under `catch_unwind` and a clock
//! ([`engine`]). An input that panics, hangs or is slow is written to
//! `fuzz/artifacts/<target>/` and reported by its path.

pub mod engine;
pub mod mutate;
pub mod targets;

use std::path::{Path, PathBuf};
use std::time::Duration;

pub use engine::{Finding, Plan, Report};
pub use targets::{TARGETS, Target};

/// The seed unless `SKILLBOX_FUZZ_SEED` says otherwise: runs repeat.
pub const DEFAULT_SEED: u64 = 0x5eed_f022;

/// An input slower than this is a finding, unless `SKILLBOX_FUZZ_SLOW_MS`
/// says otherwise.
pub const DEFAULT_SLOW: Duration = Duration::from_secs(1);

/// `fuzz/` in the repository.
pub fn fuzz_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Valid inputs of a real kind, to start from.
pub fn corpus_dir(target: &str) -> PathBuf {
    fuzz_dir().join("corpus").join(target)
}

/// Inputs that once found a bug, replayed on every run.
pub fn regressions_dir(target: &str) -> PathBuf {
    fuzz_dir().join("regressions").join(target)
}

/// Where inputs with a problem are written.
pub fn artifacts_dir(target: &str) -> PathBuf {
    fuzz_dir().join("artifacts").join(target)
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

/// `SKILLBOX_FUZZ_SEED` (decimal, or hexadecimal after `0x`), or the
/// default.
pub fn seed_from_env() -> Result<u64, String> {
    match std::env::var("SKILLBOX_FUZZ_SEED") {
        Ok(text) => parse_seed(&text),
        Err(_) => Ok(DEFAULT_SEED),
    }
}

pub fn parse_seed(text: &str) -> Result<u64, String> {
    let parsed = match text.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => text.parse(),
    };
    parsed.map_err(|e| format!("'{text}' is not a seed: {e}"))
}

/// `SKILLBOX_FUZZ_SLOW_MS`, or the default.
pub fn slow_from_env() -> Result<Duration, String> {
    match std::env::var("SKILLBOX_FUZZ_SLOW_MS") {
        Ok(text) => text
            .parse()
            .map(Duration::from_millis)
            .map_err(|e| format!("SKILLBOX_FUZZ_SLOW_MS '{text}': {e}")),
        Err(_) => Ok(DEFAULT_SLOW),
    }
}

/// FNV-1a: a hash that stays the same across Rust versions, so that a seed
/// means the same run everywhere.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// One line about a run of one target.
pub fn summary(report: &Report) -> String {
    format!(
        "{}: {} files replayed ({} accepted), {} mutated inputs ({} accepted) in {:.1?}",
        report.target,
        report.replayed,
        report.replayed_accepted,
        report.mutated,
        report.accepted,
        report.took
    )
}
