//! One tool call on a trivial skill (`echo`): sandbox set-up, call and
//! tear-down, measured through skillbox and against two baselines in the same
//! run: bare wasmtime (instantiate from an `InstancePre` and call, with an
//! empty WASI context) and spawning a native process per call.
//!
//! `cargo bench --bench tool_call` prints p50/p99 latency and calls/s on 1
//! and 2 threads, then the latency of a bystander agent's calls while
//! another agent fills the instance pool. Without `--bench` (as under
//! `cargo test`) it runs a few calls of each to check that the benchmark
//! works.
//!
//! Needs the skills built: `scripts/build-skills`.

// A benchmark prints its own report; the printing rule is for the command.
#![allow(clippy::disallowed_macros)]

use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use skillbox::Agent;
use skillbox::Runtime;
use skillbox::Session;
use skillbox::{AgentId, ConfigDir, HostConfig};
use skillbox::{SandboxConfig, pooling_allocator};
use wasmtime::component::{Component, ComponentType, InstancePre, Lift, Linker, ResourceTable};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

const INPUT: &str = r#"{"message":"hello"}"#;

/// Each path is measured in this many interleaved rounds.
const ROUNDS: u64 = 10;

fn echo_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../sandbox-tests/skills/echo")
}

/// Latencies of one measured run.
struct Run {
    name: &'static str,
    threads: usize,
    calls: u64,
    elapsed: Duration,
    latency: Histogram<u64>,
}

impl Run {
    fn absorb(&mut self, other: Run) {
        self.calls += other.calls;
        self.elapsed += other.elapsed;
        self.latency.add(other.latency).unwrap();
    }

    fn row(&self) -> String {
        let us = |ns: u64| ns as f64 / 1000.0;
        format!(
            "| {:<28} | {:>7} | {:>9.1} | {:>9.1} | {:>10.0} |",
            self.name,
            self.threads,
            us(self.latency.value_at_quantile(0.5)),
            us(self.latency.value_at_quantile(0.99)),
            self.calls as f64 / self.elapsed.as_secs_f64(),
        )
    }
}

/// One call of a measured path.
type CallFn = Arc<dyn Fn() -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

/// Run `call` `per_thread` times on each of `threads` tasks of a runtime
/// with `threads` workers, after a warm-up.
fn measure(name: &'static str, threads: usize, per_thread: u64, call: CallFn) -> Run {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        for _ in 0..(per_thread / 10).max(1) {
            call().await;
        }
        let started = Instant::now();
        let tasks: Vec<_> = (0..threads)
            .map(|_| {
                let call = call.clone();
                tokio::spawn(async move {
                    let mut latency = Histogram::<u64>::new(3).unwrap();
                    for _ in 0..per_thread {
                        let t = Instant::now();
                        call().await;
                        latency.record(t.elapsed().as_nanos() as u64).unwrap();
                    }
                    latency
                })
            })
            .collect();
        let mut latency = Histogram::<u64>::new(3).unwrap();
        for task in tasks {
            latency.add(task.await.unwrap()).unwrap();
        }
        Run {
            name,
            threads,
            calls: per_thread * threads as u64,
            elapsed: started.elapsed(),
            latency,
        }
    })
}

/// The whole skillbox path: allowlist, input schema, fresh store with limits
/// and capabilities, instantiate, call, output checks.
fn skillbox_call(runtime: Arc<Runtime>, agent: Arc<Agent>) -> CallFn {
    let session = Session::new("bench");
    Arc::new(move || {
        let (runtime, agent, session) = (runtime.clone(), agent.clone(), session.clone());
        Box::pin(async move {
            let report = runtime.call(&agent, &session, "echo", "echo", INPUT).await;
            assert_eq!(report.result.unwrap(), INPUT);
        })
    })
}

/// An agent that grants `echo` memory, a network host and a directory (the
/// skill asks for them and leaves them unused): what grants add to a call.
fn agent_with_grants(runtime: &Runtime, config_dir: &Path) -> Agent {
    std::fs::create_dir_all(config_dir.join("agents")).unwrap();
    std::fs::create_dir_all(config_dir.join("data")).unwrap();
    std::fs::write(
        config_dir.join("agents/granted.toml"),
        format!(
            "id = \"granted\"\n[tools]\nallow = [\"echo.*\"]\n\
             [mounts]\ndata = {{ path = \"data\", access = \"read-only\" }}\n\
             [skills.echo]\npath = \"{}\"\n[skills.echo.grants]\nmemory = true\n\
             network = [\"http://api.example.test:8080\"]\n\
             filesystem = [{{ mount = \"data\", guest = \"/data\", access = \"read-only\" }}]\n",
            echo_dir().display()
        ),
    )
    .unwrap();
    let config = ConfigDir::load(config_dir).unwrap();
    runtime.load_agent(&config.agents["granted"]).unwrap()
}

struct Bare {
    wasi: WasiCtx,
    table: ResourceTable,
}

impl WasiView for Bare {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

#[derive(ComponentType, Lift)]
#[component(variant)]
#[allow(dead_code)]
enum ToolError {
    #[component(name = "invalid-input")]
    InvalidInput(String),
    #[component(name = "denied")]
    Denied(String),
    #[component(name = "failed")]
    Failed(String),
}

/// Bare wasmtime: the same component and the same pooling allocator, but
/// stock engine settings and no limits, capabilities or checks.
fn bare_wasmtime() -> CallFn {
    let mut config = Config::new();
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(
        pooling_allocator(&SandboxConfig::default()).unwrap(),
    ));
    let engine = Engine::new(&config).unwrap();
    let component = Component::from_file(&engine, echo_dir().join("echo.wasm")).unwrap();
    let mut linker = Linker::<Bare>::new(&engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker).unwrap();
    let pre: Arc<InstancePre<Bare>> = Arc::new(linker.instantiate_pre(&component).unwrap());
    let tools = component
        .get_export_index(None, "skillbox:skill/tools@0.1.0")
        .unwrap();
    let call = Arc::new(component.get_export_index(Some(&tools), "call").unwrap());
    Arc::new(move || {
        let (pre, call, engine) = (pre.clone(), call.clone(), engine.clone());
        Box::pin(async move {
            let mut store = Store::new(
                &engine,
                Bare {
                    wasi: WasiCtx::builder().build(),
                    table: ResourceTable::new(),
                },
            );
            let instance = pre.instantiate_async(&mut store).await.unwrap();
            let func = instance
                .get_typed_func::<(&str, &str), (Result<String, ToolError>,)>(&mut store, &*call)
                .unwrap();
            let (out,) = func.call_async(&mut store, ("echo", INPUT)).await.unwrap();
            assert_eq!(out.ok().unwrap(), INPUT);
        })
    })
}

/// A native process per call: `cat` echoing the input.
fn process_spawn() -> CallFn {
    Arc::new(|| {
        Box::pin(async {
            use tokio::io::AsyncWriteExt;
            let mut child = tokio::process::Command::new("cat")
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            let mut stdin = child.stdin.take().unwrap();
            stdin.write_all(INPUT.as_bytes()).await.unwrap();
            drop(stdin);
            let out = child.wait_with_output().await.unwrap();
            assert_eq!(out.stdout, INPUT.as_bytes());
        })
    })
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let (calls, spawns) = if full { (20_000, 1_000) } else { (20, 5) };

    let data_dir = tempfile::tempdir().unwrap();
    let runtime = Arc::new(Runtime::open(&HostConfig::with_data_dir(data_dir.path())).unwrap());
    let skill = runtime
        .load_skill(&echo_dir())
        .unwrap_or_else(|e| panic!("{e} (build the skills first: scripts/build-skills)"));
    let local = Arc::new(runtime.local_agent(&AgentId::new("bench").unwrap(), skill));
    let granted = Arc::new(agent_with_grants(&runtime, &data_dir.path().join("config")));

    // Like other benchmarks, a free argument filters the paths by name.
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let paths: Vec<(&'static str, u64, CallFn)> = vec![
        (
            "skillbox tool call",
            calls,
            skillbox_call(runtime.clone(), local),
        ),
        (
            "skillbox, skill with grants",
            calls,
            skillbox_call(runtime.clone(), granted),
        ),
        ("bare wasmtime", calls, bare_wasmtime()),
        ("native process spawn", spawns, process_spawn()),
    ]
    .into_iter()
    .filter(|(name, _, _)| filter.is_empty() || filter.iter().any(|f| name.contains(f.as_str())))
    .collect();

    // Paths take turns, round by round, so that a noisy neighbour on a shared
    // machine weighs on all of them alike.
    let mut runs: Vec<Run> = Vec::new();
    for threads in [1, 2] {
        for _round in 0..ROUNDS {
            for (name, count, call) in &paths {
                let run = measure(name, threads, count.div_ceil(ROUNDS), call.clone());
                match runs
                    .iter_mut()
                    .find(|r| r.name == *name && r.threads == threads)
                {
                    Some(total) => total.absorb(run),
                    None => runs.push(run),
                }
            }
        }
    }

    println!("| path                         | threads | p50 (µs)  | p99 (µs)  | calls/s    |");
    println!("|------------------------------|---------|-----------|-----------|------------|");
    for run in &runs {
        println!("{}", run.row());
    }
    if filter.is_empty() || filter.iter().any(|f| "bystander".contains(f.as_str())) {
        bystander(full);
    }
    for threads in [1, 2] {
        let p50 = |name: &str| {
            runs.iter()
                .find(|r| r.name == name && r.threads == threads)
                .map(|r| r.latency.value_at_quantile(0.5) as f64)
        };
        if let (Some(skillbox), Some(bare)) = (p50("skillbox tool call"), p50("bare wasmtime")) {
            println!(
                "{threads} thread(s): skillbox p50 is {:.2}× bare wasmtime",
                skillbox / bare
            );
        }
        if let (Some(granted), Some(plain)) = (
            p50("skillbox, skill with grants"),
            p50("skillbox tool call"),
        ) {
            println!(
                "{threads} thread(s): a skill with grants costs {:+.1}% at p50",
                (granted / plain - 1.0) * 100.0
            );
        }
    }
}

/// The latency of one agent's `echo` calls, one after another, alone and
/// while another agent keeps twice the pool of `sleeper` calls (each holding
/// its slot until its 1 s deadline) in flight: with the per-agent share
/// (the default, half the pool), and without one (a share of the whole
/// pool), as before shares existed.
fn bystander(full: bool) {
    let calls = if full { 2_000 } else { 5 };
    let sleeper = Path::new(env!("CARGO_MANIFEST_DIR")).join("../sandbox-tests/skills/sleeper");
    let mut rows = Vec::new();
    let cases: &[(&str, u32, bool)] = &[
        ("bystander alone", 4, false),
        ("bystander, a hog at its share", 4, true),
        ("bystander, a hog, no share", 8, true),
    ];
    for &(name, share, hog) in cases {
        // Without a share the bystander waits out a hog's call per call:
        // a few of those say enough.
        let calls = if share == 8 { calls.min(20) } else { calls };
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let latency = rt.block_on(async {
            let data_dir = tempfile::tempdir().unwrap();
            let mut host = HostConfig::with_data_dir(data_dir.path());
            host.sandbox.max_concurrent_calls = 8;
            host.sandbox.max_calls_per_agent = share;
            let runtime = Arc::new(Runtime::open(&host).unwrap());
            let agent = |id: &str, dir: &Path| {
                let skill = runtime.load_skill(dir).unwrap();
                Arc::new(runtime.local_agent(&AgentId::new(id).unwrap(), skill))
            };
            let (bystander, hogger) = (agent("bystander", &echo_dir()), agent("hog", &sleeper));
            let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
            let mut hogs = tokio::task::JoinSet::new();
            for _ in 0..if hog { 16 } else { 0 } {
                let (runtime, hogger, stop) = (runtime.clone(), hogger.clone(), stop.clone());
                hogs.spawn(async move {
                    let session = Session::new("hog");
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        let _ = runtime
                            .call(&hogger, &session, "sleeper", "sleep", "{}")
                            .await;
                    }
                });
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
            let call = skillbox_call(runtime.clone(), bystander);
            let mut latency = Histogram::<u64>::new(3).unwrap();
            for _ in 0..calls {
                let t = Instant::now();
                call().await;
                latency.record(t.elapsed().as_nanos() as u64).unwrap();
            }
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
            hogs.abort_all();
            latency
        });
        rows.push((name, share, latency));
    }
    println!();
    println!("| bystander's echo, 8-slot pool    | hog's share | p50 (µs)   | p99 (µs)   |");
    println!("|----------------------------------|-------------|------------|------------|");
    for (name, share, latency) in rows {
        let us = |q: f64| latency.value_at_quantile(q) as f64 / 1000.0;
        println!(
            "| {name:<32} | {:>11} | {:>10.1} | {:>10.1} |",
            format!("{share} of 8"),
            us(0.5),
            us(0.99)
        );
    }
}
