//! One tool call on a trivial skill (`echo`): sandbox set-up, call and
//! tear-down, measured through skillbox and against two baselines in the same
//! run: bare wasmtime (instantiate from an `InstancePre` and call, with an
//! empty WASI context) and spawning a native process per call.
//!
//! `cargo bench --bench tool_call` prints p50/p99 latency and calls/s on 1
//! and 2 threads. Without `--bench` (as under `cargo test`) it runs a few
//! calls of each to check that the benchmark works.
//!
//! Needs the skills built: `scripts/build-skills`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use skillbox::Runtime;
use skillbox::config::AgentId;
use skillbox::skill::Skill;
use wasmtime::component::{Component, ComponentType, InstancePre, Lift, Linker, ResourceTable};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

const INPUT: &str = r#"{"message":"hello"}"#;

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
    fn row(&self) -> String {
        let us = |ns: u64| ns as f64 / 1000.0;
        format!(
            "| {:<22} | {:>7} | {:>9.1} | {:>9.1} | {:>10.0} |",
            self.name,
            self.threads,
            us(self.latency.value_at_quantile(0.5)),
            us(self.latency.value_at_quantile(0.99)),
            self.calls as f64 / self.elapsed.as_secs_f64(),
        )
    }
}

/// Run `call` `per_thread` times on each of `threads` tasks of a runtime
/// with `threads` workers, after a warm-up.
fn measure<F, Fut>(name: &'static str, threads: usize, per_thread: u64, call: F) -> Run
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send,
{
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
        .unwrap();
    let call = Arc::new(call);
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

/// The whole skillbox path: policy, input schema, fresh store with limits
/// and capabilities, instantiate, call, output checks.
fn skillbox_call(
    runtime: Arc<Runtime>,
    skill: Arc<Skill>,
) -> impl Fn() -> std::pin::Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync {
    let agent = AgentId::new("bench").unwrap();
    move || {
        let (runtime, skill, agent) = (runtime.clone(), skill.clone(), agent.clone());
        Box::pin(async move {
            let report = runtime.call(&agent, &skill, "echo", INPUT).await;
            assert_eq!(report.result.unwrap(), INPUT);
        })
    }
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

/// Bare wasmtime: the same component and pooling allocator, no limits, no
/// capabilities, no checks.
fn bare_wasmtime() -> impl Fn() -> std::pin::Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync
{
    let mut config = Config::new();
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(
        PoolingAllocationConfig::new(),
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
    move || {
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
    }
}

/// A native process per call: `cat` echoing the input.
fn process_spawn() -> impl Fn() -> std::pin::Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync
{
    || {
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
    }
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let (calls, spawns) = if full { (20_000, 1_000) } else { (20, 5) };

    let data_dir = tempfile::tempdir().unwrap();
    let runtime = Arc::new(Runtime::open(data_dir.path()).unwrap());
    let skill = Arc::new(
        runtime
            .load_skill(&echo_dir())
            .unwrap_or_else(|e| panic!("{e} (build the skills first: scripts/build-skills)")),
    );

    let mut runs = Vec::new();
    for threads in [1, 2] {
        runs.push(measure(
            "skillbox tool call",
            threads,
            calls,
            skillbox_call(runtime.clone(), skill.clone()),
        ));
        runs.push(measure("bare wasmtime", threads, calls, bare_wasmtime()));
        runs.push(measure(
            "native process spawn",
            threads,
            spawns,
            process_spawn(),
        ));
    }

    println!("| path                   | threads | p50 (µs)  | p99 (µs)  | calls/s    |");
    println!("|------------------------|---------|-----------|-----------|------------|");
    for run in &runs {
        println!("{}", run.row());
    }
    for threads in [1, 2] {
        let p50 = |name: &str| {
            runs.iter()
                .find(|r| r.name == name && r.threads == threads)
                .map(|r| r.latency.value_at_quantile(0.5) as f64)
                .unwrap()
        };
        println!(
            "{threads} thread(s): skillbox p50 is {:.2}× bare wasmtime",
            p50("skillbox tool call") / p50("bare wasmtime")
        );
    }
}
