//! A skill in each language, from its template (`skillbox skill new`, built
//! with `skillbox skill build`): component size, first compile, load from
//! the compile cache, and the latency of one call of its trivial tool
//! (`hello`), sandbox set-up and tear-down included. The WAT template, the
//! smallest possible skill, is the baseline measured in the same run.
//!
//! `cargo bench --bench languages` (with the toolchains on PATH:
//! `. scripts/toolchains`) measures every language. Without `--bench` (as
//! under `cargo test`) it runs WAT and C, a few calls each, to check that
//! the benchmark works.

// A benchmark prints its own report; the printing rule is for the command.
#![allow(clippy::disallowed_macros)]

use std::path::Path;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use skillbox::Runtime;
use skillbox::Session;
use skillbox::authoring::{self, Language};
use skillbox::{AgentId, HostConfig};
use skillbox::{Sandbox, SandboxConfig};

const INPUT: &str = r#"{"name":"Ada"}"#;

struct Row {
    language: Language,
    size: u64,
    build: Duration,
    first_compile: Duration,
    cached_load: Duration,
    call: Histogram<u64>,
}

fn measure(language: Language, work: &Path, calls: u64) -> Row {
    let dir = authoring::new_skill("bench", language, Some(work.join(format!("{language:?}"))))
        .expect("template");
    let built = authoring::build(&dir).unwrap_or_else(|e| panic!("build {language}: {e:#}"));

    let uncached = Sandbox::new(&SandboxConfig::default()).unwrap();
    let started = Instant::now();
    uncached.prepare(&built.component).unwrap();
    let first_compile = started.elapsed();

    let cache = work.join("cache");
    let cached = SandboxConfig {
        cache_dir: Some(cache.clone()),
        ..SandboxConfig::default()
    };
    Sandbox::new(&cached)
        .unwrap()
        .prepare(&built.component)
        .unwrap();
    let fresh = Sandbox::new(&cached).unwrap();
    let started = Instant::now();
    fresh.prepare(&built.component).unwrap();
    let cached_load = started.elapsed();

    let data = work.join(format!("data-{language:?}"));
    let mut host = HostConfig::with_data_dir(&data);
    host.sandbox.cache_dir = Some(cache);
    let runtime = Runtime::open(&host).unwrap();
    let skill = runtime.load_skill(&dir).unwrap();
    let agent = runtime.local_agent(&AgentId::new("bench").unwrap(), skill);
    let session = Session::new("bench");
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut call = Histogram::<u64>::new(3).unwrap();
    tokio.block_on(async {
        // One call first: what a process pays once (lazy runtime set-up).
        let warm = runtime
            .call(&agent, &session, "bench", "hello", INPUT)
            .await;
        warm.result.unwrap_or_else(|e| panic!("{language}: {e}"));
        for _ in 0..calls {
            let started = Instant::now();
            let report = runtime
                .call(&agent, &session, "bench", "hello", INPUT)
                .await;
            call.record(started.elapsed().as_nanos() as u64).unwrap();
            report.result.unwrap();
        }
    });
    Row {
        language,
        size: built.size,
        build: built.took,
        first_compile,
        cached_load,
        call,
    }
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let (languages, calls): (&[Language], u64) = if full {
        (
            &[
                Language::Wat,
                Language::C,
                Language::Rust,
                Language::Js,
                Language::Python,
            ],
            200,
        )
    } else {
        (&[Language::Wat, Language::C], 3)
    };
    let work = tempfile::tempdir().unwrap();
    let rows: Vec<Row> = languages
        .iter()
        .map(|&l| measure(l, work.path(), calls))
        .collect();

    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "| language   | component  | build (s) | first compile (ms) | cached load (ms) | call p50 (µs) | call p99 (µs) |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for row in &rows {
        println!(
            "| {:<10} | {:>10} | {:>9.1} | {:>18.1} | {:>16.2} | {:>13.0} | {:>13.0} |",
            row.language.to_string(),
            bytesize::ByteSize::b(row.size).to_string(),
            row.build.as_secs_f64(),
            ms(row.first_compile),
            ms(row.cached_load),
            row.call.value_at_quantile(0.5) as f64 / 1e3,
            row.call.value_at_quantile(0.99) as f64 / 1e3,
        );
    }
}
