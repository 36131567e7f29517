//! The fuzzing `cargo test` does: every target replays its corpus and its
//! regressions, then is fuzzed for an even share of a bounded time (60 s in
//! all, or `SKILLBOX_FUZZ_SECONDS`), from a fixed seed (or
//! `SKILLBOX_FUZZ_SEED`). Arguments that are not flags pick targets by
//! name, as a test filter would.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use skillbox_fuzz::{Plan, TARGETS, Target, engine, seed_files, summary};

const DEFAULT_SECONDS: u64 = 60;

fn main() -> ExitCode {
    match run() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(message) => {
            eprintln!("fuzz: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Whether every target chosen came through clean.
fn run() -> Result<bool, String> {
    let seed = skillbox_fuzz::seed_from_env()?;
    let slow = skillbox_fuzz::slow_from_env()?;
    let total = seconds_from_env()?;
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let chosen: Vec<&Target> = TARGETS
        .iter()
        .filter(|t| filters.is_empty() || filters.iter().any(|f| t.name.contains(f.as_str())))
        .collect();
    println!(
        "fuzzing {} targets for {total:?} in all, seed {seed:#x} (SKILLBOX_FUZZ_SEED)",
        chosen.len()
    );
    let deadline = Instant::now() + total;
    let (mut passed, mut failed) = (0, 0);
    for (i, &target) in chosen.iter().enumerate() {
        let targets_left = (chosen.len() - i) as u32;
        let plan = Plan {
            replay: seed_files(target.name),
            // The replay counts in the share.
            fuzz_for: deadline.saturating_duration_since(Instant::now()) / targets_left,
            seed,
            slow,
        };
        let report = engine::run(target, &plan);
        println!("{}", summary(&report));
        if report.findings.is_empty() {
            passed += 1;
        } else {
            failed += 1;
            for finding in &report.findings {
                println!("  {finding}");
            }
            println!(
                "  once the parser is fixed, a new input goes to {} (docs/fuzzing.md)",
                skillbox_fuzz::regressions_dir(target.name).display()
            );
        }
    }
    println!("{passed} passed, {failed} failed");
    Ok(failed == 0)
}

fn seconds_from_env() -> Result<Duration, String> {
    match std::env::var("SKILLBOX_FUZZ_SECONDS") {
        Ok(text) => text
            .parse()
            .map(Duration::from_secs)
            .map_err(|e| format!("SKILLBOX_FUZZ_SECONDS '{text}': {e}")),
        Err(_) => Ok(Duration::from_secs(DEFAULT_SECONDS)),
    }
}
