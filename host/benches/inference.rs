//! What the inference service adds to a model request: budget check, fair
//! queue, egress checks, protocol and metering, against the same request
//! sent straight to the same backend, in the same run.
//!
//! The backend is the scripted model server, answering at once, so that
//! what is measured is the host's own time. `cargo bench --bench inference`
//! prints p50/p99 latency at 1, 16 and 64 concurrent requests. Without
//! `--bench` (as under `cargo test`) it sends a few requests of each kind to
//! check that the benchmark works.

// A benchmark prints its own report; the printing rule is for the command.
#![allow(clippy::disallowed_macros)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use scripted_model::{Reply, ScriptedModel};
use skillbox::ConfigDir;
use skillbox::Deadline;
use skillbox::Runtime;
use skillbox::SecretScanner;
use skillbox::{AgentClient, ChatRequest, Message, Role};
use skillbox::{CallConsent, ConsentSettings, Session};

/// Each path is measured in this many interleaved rounds.
const ROUNDS: usize = 10;

const CONCURRENCY: [usize; 3] = [1, 16, 64];

/// How one request is sent.
#[derive(Clone)]
enum Path {
    Direct {
        client: reqwest::Client,
        url: String,
        body: bytes::Bytes,
    },
    Skillbox {
        client: AgentClient,
        consent: CallConsent,
    },
}

impl Path {
    fn name(&self) -> &'static str {
        match self {
            Path::Direct { .. } => "direct to the backend",
            Path::Skillbox { .. } => "through skillbox",
        }
    }

    async fn send(&self, request: &ChatRequest) {
        match self {
            Path::Direct { client, url, body } => {
                let response = client
                    .post(url)
                    .header("content-type", "application/json")
                    .body(body.clone())
                    .send()
                    .await
                    .unwrap();
                assert!(response.status().is_success());
                let answer: serde_json::Value =
                    serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
                assert_eq!(answer["choices"][0]["message"]["content"], "pong");
            }
            Path::Skillbox { client, consent } => {
                let answer = client.chat(request, None, consent, None).await.unwrap();
                assert_eq!(answer.message.content, "pong");
            }
        }
    }
}

/// Send `per_task` requests from each of `tasks` concurrent tasks.
async fn measure(path: &Path, tasks: usize, per_task: usize, latency: &mut Histogram<u64>) {
    let request = Arc::new(ChatRequest {
        messages: vec![Message::new(Role::User, "ping")],
        ..ChatRequest::default()
    });
    let running: Vec<_> = (0..tasks)
        .map(|_| {
            let (path, request) = (path.clone(), request.clone());
            tokio::spawn(async move {
                let mut latency = Histogram::<u64>::new(3).unwrap();
                for _ in 0..per_task {
                    let started = Instant::now();
                    path.send(&request).await;
                    latency.record(started.elapsed().as_nanos() as u64).unwrap();
                }
                latency
            })
        })
        .collect();
    for task in running {
        latency.add(task.await.unwrap()).unwrap();
    }
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    // At least 500 requests per task, so that each round's p99 rests on
    // enough samples at every level.
    let per_level = |tasks: usize| if full { (tasks * 500).max(6_400) } else { 64 };

    // The backend has a runtime of its own, as it would a process.
    let backend = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let model = backend.block_on(ScriptedModel::start(|_| Reply::text("pong")));

    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("agents")).unwrap();
    std::fs::write(
        dir.path().join("skillbox.toml"),
        format!(
            "[inference.backends.local]\nkind = \"openai\"\nurl = \"{}\"\nmax_concurrency = 64\n",
            model.openai_url()
        ),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("agents/bench.toml"),
        "id = \"bench\"\n[inference]\nmodel = \"local/m\"\n",
    )
    .unwrap();
    let config = ConfigDir::load(dir.path()).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let _guard = rt.enter();
    let runtime = Runtime::open(&config.host).unwrap();
    let agent = runtime.load_agent(&config.agents["bench"]).unwrap();
    let consent = CallConsent::new(
        runtime.consent().clone(),
        agent.id().clone(),
        Arc::new(ConsentSettings::default()),
        Session::new("bench"),
        "(model)".into(),
        "bench",
        "",
        Arc::new(SecretScanner::new([])),
        Deadline::after(Duration::from_secs(3600)),
    );
    let body = serde_json::json!({
        "model": "m",
        "messages": [{ "role": "user", "content": "ping" }],
        "stream": false,
    });
    // The direct client speaks plain HTTP, but reqwest wants a TLS provider.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let paths = [
        Path::Direct {
            client: reqwest::Client::builder().no_proxy().build().unwrap(),
            url: format!("{}/chat/completions", model.openai_url()),
            body: body.to_string().into(),
        },
        Path::Skillbox {
            client: agent.inference.clone().unwrap(),
            consent,
        },
    ];

    println!("| path                  | concurrent | p50 (µs) | p99 (µs) | requests/s |");
    println!("|-----------------------|------------|----------|----------|------------|");
    let mut added = Vec::new();
    for tasks in CONCURRENCY {
        let per_task = (per_level(tasks) / ROUNDS / tasks).max(1);
        let mut results = Vec::new();
        for path in &paths {
            rt.block_on(measure(
                path,
                tasks,
                per_task,
                &mut Histogram::new(3).unwrap(),
            ));
            results.push((Histogram::<u64>::new(3).unwrap(), Duration::ZERO));
        }
        // Paths take turns, round by round, so that a noisy neighbour on a
        // shared machine weighs on both alike. p99 at high concurrency
        // swings from round to round, so the difference is also taken per
        // round, and its median and range reported.
        let mut round_p99: Vec<f64> = Vec::new();
        for _ in 0..ROUNDS {
            let mut p99s = Vec::new();
            for (path, (latency, elapsed)) in paths.iter().zip(results.iter_mut()) {
                let mut round = Histogram::<u64>::new(3).unwrap();
                let started = Instant::now();
                rt.block_on(measure(path, tasks, per_task, &mut round));
                *elapsed += started.elapsed();
                p99s.push(round.value_at_quantile(0.99) as f64 / 1000.0);
                latency.add(round).unwrap();
            }
            round_p99.push(p99s[1] - p99s[0]);
        }
        round_p99.sort_by(f64::total_cmp);
        let us = |ns: u64| ns as f64 / 1000.0;
        for (path, (latency, elapsed)) in paths.iter().zip(&results) {
            println!(
                "| {:<21} | {:>10} | {:>8.1} | {:>8.1} | {:>10.0} |",
                path.name(),
                tasks,
                us(latency.value_at_quantile(0.5)),
                us(latency.value_at_quantile(0.99)),
                latency.len() as f64 / elapsed.as_secs_f64(),
            );
        }
        let p = |i: usize, q: f64| us(results[i].0.value_at_quantile(q));
        added.push((
            tasks,
            p(1, 0.5) - p(0, 0.5),
            p(1, 0.99) - p(0, 0.99),
            round_p99[ROUNDS / 2],
            round_p99[0],
            round_p99[ROUNDS - 1],
        ));
    }
    for (tasks, p50, p99, median, low, high) in added {
        println!(
            "{tasks} concurrent: skillbox adds {p50:.0} µs at p50 and {p99:.0} µs at p99 \
             (per round at p99: median {median:.0} µs, from {low:.0} to {high:.0})"
        );
    }
}
