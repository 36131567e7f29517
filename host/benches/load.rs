//! Load: many agents making tool calls at once through the HTTP API, for a
//! while: throughput, latency, errors, and whether memory stays flat.
//!
//! `cargo bench --bench load` starts `skillbox serve` with 50 agents and
//! has each call `text.word_count` in a loop (two calls in flight per
//! agent) for 60 s. It reports calls/s, p50/p99, every error, and the
//! server's resident set after the first 10 s and at the end; it fails if
//! any call failed. The baseline, in the same run, is the same calls
//! against `GET /healthz`: the HTTP stack alone. Without `--bench` (as
//! under `cargo test`) it runs for 3 s.

// A benchmark prints its own report; the printing rule is for the command.
#![allow(clippy::disallowed_macros)]

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use support::{Server, client, many_agents, mib, post};

const AGENTS: usize = 50;
const IN_FLIGHT_PER_AGENT: usize = 2;

struct Run {
    calls: u64,
    errors: u64,
    latency: Histogram<u64>,
    elapsed: Duration,
}

/// Every agent calls its tool (or, without `tool`, the health check)
/// until `length` has passed.
async fn run(server_url: &str, token: &str, length: Duration, tool: bool) -> Run {
    let http = client();
    let errors = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..AGENTS * IN_FLIGHT_PER_AGENT)
        .map(|worker| {
            let agent = worker % AGENTS;
            let (http, token, errors) = (http.clone(), token.to_owned(), errors.clone());
            let url = if tool {
                format!("{server_url}/v1/agents/agent-{agent:04}/tools/text.word_count")
            } else {
                format!("{server_url}/healthz")
            };
            tokio::spawn(async move {
                let mut latency = Histogram::<u64>::new(3).unwrap();
                let input = serde_json::json!({ "text": "the quick brown fox" });
                while started.elapsed() < length {
                    let sent = Instant::now();
                    let ok = if tool {
                        matches!(post(&http, &url, &token, &input).await, Ok((200, body)) if body.contains("\"words\":4"))
                    } else {
                        http.get(&url).send().await.is_ok_and(|r| r.status() == 200)
                    };
                    if ok {
                        latency.record(sent.elapsed().as_nanos() as u64).unwrap();
                    } else {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
                latency
            })
        })
        .collect();
    let mut latency = Histogram::<u64>::new(3).unwrap();
    for worker in workers {
        latency.add(worker.await.unwrap()).unwrap();
    }
    Run {
        calls: latency.len(),
        errors: errors.load(Ordering::Relaxed),
        latency,
        elapsed: started.elapsed(),
    }
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let length = Duration::from_secs(if full { 60 } else { 3 });
    let warm_up = Duration::from_secs(if full { 10 } else { 1 });

    // No model is asked: the backend only has to be named.
    let (config, token) = many_agents(AGENTS, "http://127.0.0.1:9/v1");
    let server = Server::start(config.path());
    let rt = tokio::runtime::Runtime::new().unwrap();

    let baseline = rt.block_on(run(&server.url, &token, length / 6, false));
    let (load, rss_warm) = rt.block_on(async {
        let load = tokio::spawn({
            let (url, token) = (server.url.clone(), token.clone());
            async move { run(&url, &token, length, true).await }
        });
        tokio::time::sleep(warm_up).await;
        let rss_warm = server.rss();
        (load.await.unwrap(), rss_warm)
    });
    let rss_end = server.rss();

    let header = format!(
        "path ({AGENTS} agents, {} in flight)",
        AGENTS * IN_FLIGHT_PER_AGENT
    );
    println!("| {header:<34} | calls/s | p50 (µs) | p99 (µs) | errors |");
    println!("|------------------------------------|---------|----------|----------|--------|");
    for (name, run) in [
        ("GET /healthz (baseline)", &baseline),
        ("tool call text.word_count", &load),
    ] {
        println!(
            "| {name:<34} | {:7.0} | {:8.1} | {:8.1} | {:6} |",
            run.calls as f64 / run.elapsed.as_secs_f64(),
            run.latency.value_at_quantile(0.5) as f64 / 1000.0,
            run.latency.value_at_quantile(0.99) as f64 / 1000.0,
            run.errors,
        );
    }
    println!(
        "RSS after {} s: {:.1} MiB; at the end ({} s): {:.1} MiB ({:+.1} MiB)",
        warm_up.as_secs(),
        mib(rss_warm),
        length.as_secs(),
        mib(rss_end),
        mib(rss_end) - mib(rss_warm)
    );
    assert_eq!(load.errors + baseline.errors, 0, "calls failed under load");
}
