//! The fuzz loop of one target: replay files (its corpus and regressions),
//! then mutate them until the time is up. Every input runs under
//! `catch_unwind` and a clock. An input that panics, or is slower than the
//! bound, is written to a file and reported by its path; the loop stops at
//! the first. A watchdog on the calling thread ends the process on an input
//! that does not finish at all, after writing it out too.

use std::fmt;
use std::panic;
use std::path::PathBuf;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use fastrand::Rng;

use crate::files::artifacts_dir;
use crate::mutate::mutate;
use crate::targets::Target;

/// The stack of a tokio worker thread, where the server parses what it is
/// sent: a parser that recurses too deep for it is a bug, even where the
/// main thread's 8 MiB would do.
const SERVER_STACK: usize = 2 << 20;

/// An input running this many times the slow bound is taken to hang.
const HANG_FACTOR: u32 = 10;

/// How often the watchdog looks at the running input.
const WATCH_EVERY: Duration = Duration::from_millis(50);

/// How often a long run says how it is going.
const STATUS_EVERY: Duration = Duration::from_secs(15);

/// Inputs kept to mutate: the files replayed, then accepted mutants.
const MAX_POOL: usize = 1024;

/// What to do with one target.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Files to run first, and to start mutating from.
    pub replay: Vec<PathBuf>,
    /// Time to spend mutating after the replay; zero to replay only.
    pub fuzz_for: Duration,
    pub seed: u64,
    /// An input that takes longer than this is reported.
    pub slow: Duration,
}

/// What went wrong with one input.
#[derive(Debug, Clone)]
pub enum Problem {
    Panic(String),
    Slow(Duration),
}

impl Problem {
    /// The start of the name of the file an input with this problem is
    /// written to.
    fn kind(&self) -> &'static str {
        match self {
            Problem::Panic(_) => "crash",
            Problem::Slow(_) => "slow",
        }
    }
}

/// An input with a problem, and the file that holds it.
#[derive(Debug, Clone)]
pub struct Finding {
    pub path: PathBuf,
    pub problem: Problem,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.problem {
            Problem::Panic(message) => write!(f, "{}: panicked: {message}", self.path.display()),
            Problem::Slow(took) => write!(f, "{}: took {took:.1?}", self.path.display()),
        }
    }
}

/// What a run of one target did.
#[derive(Debug, Clone)]
pub struct Report {
    pub target: &'static str,
    pub replayed: usize,
    /// Replayed files the parser accepted.
    pub replayed_accepted: usize,
    pub mutated: u64,
    /// Mutated inputs the parser accepted.
    pub accepted: u64,
    pub findings: Vec<Finding>,
    pub took: Duration,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} files replayed ({} accepted), {} mutated inputs ({} accepted) in {:.1?}",
            self.target,
            self.replayed,
            self.replayed_accepted,
            self.mutated,
            self.accepted,
            self.took
        )
    }
}

/// Run `plan` for `target` on a thread of its own, watched from this one.
pub fn run(target: &'static Target, plan: &Plan) -> Report {
    let watch = Arc::new(Watch::default());
    let (done, report) = mpsc::channel();
    let worker = {
        let (watch, plan) = (watch.clone(), plan.clone());
        thread::Builder::new()
            .name(format!("fuzz-{}", target.name))
            .stack_size(SERVER_STACK)
            .spawn(move || {
                let _ = done.send(fuzz(target, &plan, &watch));
            })
            .expect("a thread to fuzz on")
    };
    let hang = plan.slow * HANG_FACTOR;
    loop {
        match report.recv_timeout(WATCH_EVERY) {
            Ok(report) => return report,
            Err(RecvTimeoutError::Timeout) => {
                if let Some(input) = watch.running_longer_than(hang) {
                    let path = save(target, "hang", &input);
                    eprintln!(
                        "{}: an input has run for over {hang:?}: {}",
                        target.name,
                        path.display()
                    );
                    std::process::exit(1);
                }
            }
            // Only a bug of the fuzzer itself gets past `catch_unwind`.
            Err(RecvTimeoutError::Disconnected) => match worker.join() {
                Err(panic) => panic::resume_unwind(panic),
                Ok(()) => unreachable!("the fuzz thread sends its report before it ends"),
            },
        }
    }
}

/// Replay, then mutate until the time is up or an input has a problem.
fn fuzz(target: &'static Target, plan: &Plan, watch: &Watch) -> Report {
    let started = Instant::now();
    let mut report = Report {
        target: target.name,
        replayed: 0,
        replayed_accepted: 0,
        mutated: 0,
        accepted: 0,
        findings: Vec::new(),
        took: Duration::ZERO,
    };
    let mut pool = Vec::new();
    for path in &plan.replay {
        let input = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        report.replayed += 1;
        match check(target, &input, plan.slow, watch) {
            Ok(accepted) => report.replayed_accepted += usize::from(accepted),
            Err(problem) => {
                let path = path.clone();
                report.findings.push(Finding { path, problem });
            }
        }
        pool.push(input);
    }
    let replayed = pool.len();
    if pool.is_empty() {
        pool.push(Vec::new());
    }

    let mut rng = Rng::with_seed(plan.seed ^ fnv1a(target.name.as_bytes()));
    let deadline = started + plan.fuzz_for;
    let mut status = Instant::now();
    while report.findings.is_empty() && Instant::now() < deadline {
        let mut input = pick(&mut rng, &pool, replayed).to_vec();
        mutate(
            &mut rng,
            &mut input,
            &pool,
            target.dictionary,
            target.max_len,
        );
        report.mutated += 1;
        match check(target, &input, plan.slow, watch) {
            Ok(true) => {
                report.accepted += 1;
                keep(&mut rng, &mut pool, replayed, input);
            }
            Ok(false) => {}
            Err(problem) => {
                let path = save(target, problem.kind(), &input);
                report.findings.push(Finding { path, problem });
            }
        }
        if status.elapsed() > STATUS_EVERY {
            status = Instant::now();
            eprintln!(
                "{}: {} inputs, {} accepted, {:.0?}",
                target.name,
                report.mutated,
                report.accepted,
                started.elapsed()
            );
        }
    }
    report.took = started.elapsed();
    report
}

/// Run one input: whether the parser accepted it, or its problem.
fn check(target: &Target, input: &[u8], slow: Duration, watch: &Watch) -> Result<bool, Problem> {
    watch.start(input);
    let started = Instant::now();
    let outcome = panic::catch_unwind(|| (target.parse)(input));
    let took = started.elapsed();
    watch.stop();
    match outcome {
        Err(panic) => Err(Problem::Panic(panic_message(panic.as_ref()))),
        Ok(_) if took > slow => Err(Problem::Slow(took)),
        Ok(accepted) => Ok(accepted),
    }
}

/// An input to mutate: as often one of the replayed files as one of the
/// mutants kept, so that mutants (which tend to shrink to the smallest
/// file the parser accepts) never crowd out the real files.
fn pick<'a>(rng: &mut Rng, pool: &'a [Vec<u8>], replayed: usize) -> &'a [u8] {
    let from_files = replayed > 0 && (replayed == pool.len() || rng.bool());
    let at = if from_files {
        rng.usize(..replayed)
    } else {
        rng.usize(replayed..pool.len())
    };
    &pool[at]
}

/// Keep an accepted input to mutate further; once the pool is full, in
/// place of an earlier mutant (the replayed files stay).
fn keep(rng: &mut Rng, pool: &mut Vec<Vec<u8>>, replayed: usize, input: Vec<u8>) {
    if pool.len() < MAX_POOL {
        pool.push(input);
    } else if replayed < MAX_POOL {
        let at = rng.usize(replayed..MAX_POOL);
        pool[at] = input;
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(text) = panic.downcast_ref::<&str>() {
        (*text).to_owned()
    } else if let Some(text) = panic.downcast_ref::<String>() {
        text.clone()
    } else {
        "a panic without a message".to_owned()
    }
}

/// Write `input` to the target's artifacts, named by its kind and hash.
fn save(target: &Target, kind: &str, input: &[u8]) -> PathBuf {
    let dir = artifacts_dir(target.name);
    let path = dir.join(format!("{kind}-{:016x}", fnv1a(input)));
    std::fs::create_dir_all(&dir)
        .and_then(|()| std::fs::write(&path, input))
        .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    path
}

/// FNV-1a: a hash that stays the same across Rust versions, so that a seed
/// means the same run everywhere.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The input running now, since when.
#[derive(Default)]
struct Watch(Mutex<Option<(Instant, Vec<u8>)>>);

impl Watch {
    fn start(&self, input: &[u8]) {
        *self.lock() = Some((Instant::now(), input.to_vec()));
    }

    fn stop(&self) {
        *self.lock() = None;
    }

    fn running_longer_than(&self, bound: Duration) -> Option<Vec<u8>> {
        let running = self.lock();
        let (since, input) = running.as_ref()?;
        (since.elapsed() > bound).then(|| input.clone())
    }

    fn lock(&self) -> MutexGuard<'_, Option<(Instant, Vec<u8>)>> {
        // A panic is caught while the lock is free; never poisoned, then.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
