//! Density: how much memory a host of many agents holds when they are
//! configured, when some have talked, and when all are idle again.
//!
//! `cargo bench --bench density` configures 1,000 agents, starts
//! `skillbox serve`, sends one message each to 10% of them (against the
//! scripted model, which answers at once) and reads the server's resident
//! set at each stage. The baseline, in the same run, is the same server
//! with no agents at all. Without `--bench` (as under `cargo test`) it
//! does the same with 50 agents, to check that the benchmark works.

// A benchmark prints its own report; the printing rule is for the command.
#![allow(clippy::disallowed_macros)]

mod support;

use std::time::Duration;

use scripted_model::{Reply, ScriptedModel};
use support::{Server, client, many_agents, mib, post};

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let agents = if full { 1_000 } else { 50 };
    let talking = agents / 10;

    let backend = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let model = backend.block_on(ScriptedModel::start(|_| Reply::text("pong")));
    let rt = tokio::runtime::Runtime::new().unwrap();

    let (empty, _) = many_agents(0, &model.openai_url());
    let baseline = Server::start(empty.path());
    std::thread::sleep(Duration::from_millis(500));
    let baseline_rss = baseline.rss();
    drop(baseline);

    let (config, token) = many_agents(agents, &model.openai_url());
    let server = Server::start(config.path());
    std::thread::sleep(Duration::from_millis(500));
    let configured = server.rss();

    let http = client();
    rt.block_on(async {
        let sends = (0..talking).map(|n| {
            let url = format!("{}/v1/agents/agent-{:04}/messages", server.url, n * 10);
            let (http, token) = (http.clone(), token.clone());
            tokio::spawn(async move {
                let message = serde_json::json!({ "message": "hello" });
                let (status, body) = post(&http, &url, &token, &message).await.unwrap();
                assert_eq!(status, 200, "{body}");
            })
        });
        for send in futures_util::future::join_all(sends).await {
            send.unwrap();
        }
    });
    let after_turns = server.rss();
    std::thread::sleep(Duration::from_secs(if full { 5 } else { 1 }));
    let idle = server.rss();

    println!("| host                                  | RSS (MiB) |");
    println!("|---------------------------------------|-----------|");
    for (stage, rss) in [
        ("no agents (baseline)".to_owned(), baseline_rss),
        (format!("{agents} agents configured"), configured),
        (
            format!("after one message to {talking} of them"),
            after_turns,
        ),
        ("idle again".to_owned(), idle),
    ] {
        println!("| {stage:<37} | {:9.1} |", mib(rss));
    }
    println!(
        "{agents} agents, {talking} of them used: idle RSS {:.1} MiB ({:.1} KiB per agent over the baseline); target ≤ 500 MB",
        mib(idle),
        (idle.saturating_sub(baseline_rss)) as f64 / 1024.0 / agents as f64
    );
}
