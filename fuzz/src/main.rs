//! `skillbox-fuzz`: fuzz the host's parsers for as long as asked.
//!
//! ```sh
//! cargo run -p skillbox-fuzz --release -- manifest --seconds 600
//! cargo run -p skillbox-fuzz --release -- all --seconds 120 --seed 7
//! cargo run -p skillbox-fuzz --release -- package --replay fuzz/artifacts/package/crash-...
//! ```

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use skillbox_fuzz::{TARGETS, Target, engine, seed_files, summary, targets};

#[derive(Parser)]
#[command(about = "Fuzz the parsers of skillbox (docs/fuzzing.md)")]
struct Args {
    /// Targets to fuzz, or `all`.
    #[arg(default_value = "all")]
    targets: Vec<String>,
    /// Time to fuzz each target for.
    #[arg(long, default_value_t = 60.0)]
    seconds: f64,
    /// Seed of the mutations [default: SKILLBOX_FUZZ_SEED, or a fixed one].
    #[arg(long, value_parser = skillbox_fuzz::parse_seed)]
    seed: Option<u64>,
    /// An input slower than this is a finding [default: SKILLBOX_FUZZ_SLOW_MS, or 1000].
    #[arg(long)]
    slow_ms: Option<u64>,
    /// Run only these files (say, a crash found earlier), without fuzzing.
    #[arg(long, num_args = 1..)]
    replay: Vec<PathBuf>,
    /// List the targets and what each calls.
    #[arg(long)]
    list: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    if args.list {
        for target in TARGETS {
            println!("{:10} {}", target.name, target.entry);
        }
        return ExitCode::SUCCESS;
    }
    match fuzz(&args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(message) => {
            eprintln!("skillbox-fuzz: {message}");
            ExitCode::from(2)
        }
    }
}

/// Run each target asked for; whether none found anything.
fn fuzz(args: &Args) -> Result<bool, String> {
    let chosen = chosen_targets(&args.targets)?;
    if !args.replay.is_empty() && chosen.len() != 1 {
        return Err("--replay runs the files against one target: name it".into());
    }
    let seed = match args.seed {
        Some(seed) => seed,
        None => skillbox_fuzz::seed_from_env()?,
    };
    let slow = match args.slow_ms {
        Some(ms) => Duration::from_millis(ms),
        None => skillbox_fuzz::slow_from_env()?,
    };
    let fuzz_for = Duration::try_from_secs_f64(args.seconds)
        .map_err(|e| format!("--seconds {}: {e}", args.seconds))?;
    if args.replay.is_empty() {
        println!("seed {seed:#x}, {fuzz_for:?} per target");
    }
    let mut clean = true;
    for target in chosen {
        let plan = if args.replay.is_empty() {
            engine::Plan {
                replay: seed_files(target.name),
                fuzz_for,
                seed,
                slow,
            }
        } else {
            engine::Plan {
                replay: args.replay.clone(),
                fuzz_for: Duration::ZERO,
                seed,
                slow,
            }
        };
        let report = engine::run(target, &plan);
        println!("{}", summary(&report));
        for finding in &report.findings {
            println!("  {finding}");
            clean = false;
        }
    }
    Ok(clean)
}

fn chosen_targets(names: &[String]) -> Result<Vec<&'static Target>, String> {
    if names.iter().any(|n| n == "all") {
        return Ok(TARGETS.iter().collect());
    }
    names
        .iter()
        .map(|name| {
            targets::find(name).ok_or_else(|| {
                let known: Vec<&str> = TARGETS.iter().map(|t| t.name).collect();
                format!("no target '{name}' (targets: {})", known.join(", "))
            })
        })
        .collect()
}
