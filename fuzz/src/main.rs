//! `skillbox-fuzz`: mutation fuzzing of every parser of the host, on the
//! stable toolchain and without outside tools (docs/fuzzing.md).
//!
//! Each target ([`targets`]) replays the files of its corpus and its
//! regressions ([`files`]), then mutates them ([`mutate`]), running every
//! input under `catch_unwind` and a clock ([`engine`]). An input that
//! panics, hangs or is slow is written to `fuzz/artifacts/<target>/` and
//! named.
//!
//! This binary is also the crate's one test: `cargo test` runs it without
//! arguments, every target for 60 s in all from a fixed seed. As a test's
//! arguments would, names pick targets (`cargo test -p skillbox-fuzz --
//! package`), and other flags are left to the test harness they are meant
//! for.

mod engine;
mod files;
mod mutate;
mod targets;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use engine::Plan;
use targets::{TARGETS, Target};

const USAGE: &str = "\
usage: skillbox-fuzz [TARGET...] [--seconds N] [--seed N] [--slow-ms N]
       skillbox-fuzz TARGET --replay FILE...
       skillbox-fuzz --list

Fuzz the targets named (all of them, without a name) for N seconds in all,
split evenly (default 60, or SKILLBOX_FUZZ_SECONDS), from a seed (default
fixed, or SKILLBOX_FUZZ_SEED); an input slower than --slow-ms (default
1000, or SKILLBOX_FUZZ_SLOW_MS) is a finding. --replay runs only the files
given. See docs/fuzzing.md.";

/// The seed unless told otherwise: runs repeat.
const DEFAULT_SEED: u64 = 0x5eed_f022;

const DEFAULT_SECONDS: f64 = 60.0;

const DEFAULT_SLOW_MS: u64 = 1000;

#[derive(Default)]
struct Args {
    /// Target names, or parts of them; `all`, or none, for every target.
    names: Vec<String>,
    seconds: Option<f64>,
    seed: Option<u64>,
    slow_ms: Option<u64>,
    replay: Vec<PathBuf>,
    list: bool,
    help: bool,
}

fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(message) => {
            eprintln!("skillbox-fuzz: {message}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    if args.help {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    if args.list {
        for target in TARGETS {
            println!("{:10} {}", target.name, target.entry);
        }
        return ExitCode::SUCCESS;
    }
    match run(&args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(message) => {
            eprintln!("skillbox-fuzz: {message}");
            ExitCode::from(2)
        }
    }
}

fn parse_args(args: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut parsed = Args::default();
    let mut args = args.peekable();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--seconds" => parsed.seconds = Some(number(&value(&mut args, &arg)?)?),
            "--seed" => parsed.seed = Some(seed(&value(&mut args, &arg)?)?),
            "--slow-ms" => parsed.slow_ms = Some(number(&value(&mut args, &arg)?)?),
            "--replay" => {
                while let Some(file) = args.next_if(|a| !a.starts_with('-')) {
                    parsed.replay.push(file.into());
                }
            }
            "--list" => parsed.list = true,
            "--help" | "-h" => parsed.help = true,
            // A flag of the test harness, as in `cargo test -- --nocapture`.
            flag if flag.starts_with('-') => {}
            name => parsed.names.push(name.to_owned()),
        }
    }
    Ok(parsed)
}

fn value(args: &mut impl Iterator<Item = String>, flag: &str) -> Result<String, String> {
    args.next().ok_or_else(|| format!("{flag} needs a value"))
}

fn number<T: std::str::FromStr<Err: std::fmt::Display>>(text: &str) -> Result<T, String> {
    text.parse().map_err(|e| format!("'{text}': {e}"))
}

/// Decimal, or hexadecimal after `0x`.
fn seed(text: &str) -> Result<u64, String> {
    match text.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).map_err(|e| format!("'{text}': {e}")),
        None => number(text),
    }
}

/// A flag's value, else its variable's, else the default.
fn setting<T>(
    flag: Option<T>,
    variable: &str,
    read: impl Fn(&str) -> Result<T, String>,
    default: T,
) -> Result<T, String> {
    match (flag, std::env::var(variable)) {
        (Some(value), _) => Ok(value),
        (None, Ok(text)) => read(&text).map_err(|e| format!("{variable}: {e}")),
        (None, Err(_)) => Ok(default),
    }
}

/// Run the targets chosen; whether none found anything.
fn run(args: &Args) -> Result<bool, String> {
    let seed = setting(args.seed, "SKILLBOX_FUZZ_SEED", seed, DEFAULT_SEED)?;
    let slow_ms = setting(
        args.slow_ms,
        "SKILLBOX_FUZZ_SLOW_MS",
        number,
        DEFAULT_SLOW_MS,
    )?;
    let seconds = setting(
        args.seconds,
        "SKILLBOX_FUZZ_SECONDS",
        number,
        DEFAULT_SECONDS,
    )?;
    let slow = Duration::from_millis(slow_ms);
    let total = Duration::try_from_secs_f64(seconds).map_err(|e| format!("{seconds} s: {e}"))?;
    let chosen = chosen(&args.names);
    if chosen.is_empty() {
        let known: Vec<&str> = TARGETS.iter().map(|t| t.name).collect();
        println!(
            "no target matches {:?} (targets: {})",
            args.names,
            known.join(", ")
        );
        println!("0 passed, 0 failed");
        return Ok(true);
    }
    if !args.replay.is_empty() {
        let &[target] = chosen.as_slice() else {
            return Err("--replay runs files against one target: name it".into());
        };
        let plan = Plan {
            replay: args.replay.clone(),
            fuzz_for: Duration::ZERO,
            seed,
            slow,
        };
        return Ok(report(&engine::run(target, &plan)));
    }

    println!(
        "fuzzing {} targets for {total:.0?} in all, seed {seed:#x}",
        chosen.len()
    );
    let deadline = Instant::now() + total;
    let (mut passed, mut failed) = (0, 0);
    for (i, &target) in chosen.iter().enumerate() {
        let targets_left = (chosen.len() - i) as u32;
        let plan = Plan {
            replay: files::seed_files(target.name),
            // The replay counts in the share.
            fuzz_for: deadline.saturating_duration_since(Instant::now()) / targets_left,
            seed,
            slow,
        };
        if report(&engine::run(target, &plan)) {
            passed += 1;
        } else {
            failed += 1;
        }
    }
    println!("{passed} passed, {failed} failed");
    Ok(failed == 0)
}

/// The targets whose names hold one of `names`; all for none, or `all`.
fn chosen(names: &[String]) -> Vec<&'static Target> {
    let all = names.is_empty() || names.iter().any(|n| n == "all");
    TARGETS
        .iter()
        .filter(|t| all || names.iter().any(|n| t.name.contains(n.as_str())))
        .collect()
}

/// Print a target's report; whether it came through clean.
fn report(report: &engine::Report) -> bool {
    println!("{report}");
    for finding in &report.findings {
        println!("  {finding}");
    }
    if !report.findings.is_empty() {
        println!(
            "  once the parser is fixed, a new input goes to {} (docs/fuzzing.md)",
            files::regressions_dir(report.target).display()
        );
    }
    report.findings.is_empty()
}
