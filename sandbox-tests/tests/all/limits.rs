//! Skills that try to use up the host: each is stopped by its limit with a
//! clear error, and the host serves the next call.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytesize::ByteSize;
use sandbox_tests::{Config, Host, assert_kind, fail, still_serves};
use skillbox::{CallErrorKind, Limits};
use tokio::task::JoinSet;

#[tokio::test]
async fn an_infinite_loop_hits_its_deadline() {
    let host = Host::new();
    let spin = host.load("spin");
    let started = Instant::now();
    let error = host.fail(&spin, "spin", "{}").await;
    assert_eq!(error.kind, CallErrorKind::Deadline(Duration::from_secs(1)));
    assert_eq!(
        error.to_string(),
        "skill 'spin' exceeded its 1s deadline on tool 'spin'"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    host.still_serves().await;
}

#[tokio::test]
async fn an_infinite_loop_runs_out_of_fuel_under_a_cpu_budget() {
    // Five million instructions take milliseconds: fuel runs out long
    // before the one-second deadline.
    let config = Config::new("");
    config.agent(
        "budgeted",
        "id = \"budgeted\"\n[tools]\nallow = [\"spin.*\"]\n\
         [skills.spin]\npath = \"{skill:spin}\"\n[limits]\nfuel = 5000000\n",
    );
    let (runtime, agent) = config.open("budgeted");
    let error = fail(&runtime, &agent, "spin", "{}").await;
    assert_kind(&error, |k| *k == CallErrorKind::OutOfFuel(5_000_000));
    assert!(error.to_string().contains("CPU budget"), "{error}");
    still_serves(&runtime).await;
}

#[tokio::test]
async fn a_memory_bomb_hits_its_memory_ceiling() {
    let host = Host::new();
    let bomb = host.load("bomb");
    let error = host.fail(&bomb, "allocate", "{}").await;
    assert_kind(&error, |k| *k == CallErrorKind::Memory(ByteSize::mib(32)));
    assert_eq!(
        error.to_string(),
        "skill 'bomb' exceeded its 32.0 MiB memory limit on tool 'allocate'"
    );
    host.still_serves().await;
}

#[tokio::test]
async fn unbounded_recursion_overflows_the_stack() {
    let host = Host::new();
    let recurse = host.load("recurse");
    let error = host.fail(&recurse, "recurse", "{}").await;
    assert_kind(&error, |k| *k == CallErrorKind::StackOverflow);
    assert!(
        error.to_string().contains("overflowed its stack"),
        "{error}"
    );
    host.still_serves().await;
}

#[tokio::test]
async fn a_100_mb_output_is_refused() {
    let host = Host::new();
    let flood = host.load("flood");
    let error = host.fail(&flood, "huge_output", "{}").await;
    assert_kind(&error, |k| {
        matches!(k, CallErrorKind::OutputTooLarge { size, limit }
            if *size > 100_000_000 && *limit == Limits::DEFAULT.output)
    });
    assert!(
        error.to_string().contains("over its 1.0 MiB output limit"),
        "{error}"
    );
    host.still_serves().await;
}

#[tokio::test]
async fn a_log_flood_is_stopped_at_the_log_limit() {
    let host = Host::new();
    let flood = host.load("flood");
    for tool in ["log_flood", "stdout_flood"] {
        let report = host.call(&flood, tool, "{}").await;
        let error = report.result.unwrap_err();
        assert_kind(&error, |k| {
            *k == CallErrorKind::LogLimit(Limits::DEFAULT.log)
        });
        assert!(error.to_string().contains("log limit"), "{error}");
        let kept: usize = report.logs.iter().map(|r| r.message.len()).sum();
        assert!(
            kept > 0 && kept as u64 <= Limits::DEFAULT.log.as_u64(),
            "kept {kept}"
        );
    }
    host.still_serves().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spinning_calls_do_not_hold_up_others() {
    let host = Arc::new(Host::new());
    let spin = Arc::new(host.load("spin"));
    let echo = host.load("echo");
    let spinners_done = Arc::new(AtomicUsize::new(0));
    let mut spinners = JoinSet::new();
    for _ in 0..4 {
        let (host, spin, done) = (host.clone(), spin.clone(), spinners_done.clone());
        spinners.spawn(async move {
            let report = host.call(&spin, "spin", "{}").await;
            done.fetch_add(1, Ordering::SeqCst);
            report
        });
    }
    for i in 0..5 {
        let input = format!(r#"{{"message":"{i}"}}"#);
        assert!(host.call(&echo, "echo", &input).await.result.is_ok());
    }
    // Every echo was answered while all four spinners were still running.
    assert_eq!(spinners_done.load(Ordering::SeqCst), 0);
    while let Some(report) = spinners.join_next().await {
        let error = report.expect("spinner task").result.unwrap_err();
        assert_kind(&error, |k| matches!(k, CallErrorKind::Deadline(_)));
    }
}

#[tokio::test]
async fn a_call_finds_nothing_an_earlier_call_left_in_memory() {
    let host = Host::new();
    let snoop = host.load("snoop");
    // The scan finds the marker while it is there, in the same call.
    let report = host.call(&snoop, "leave_and_look", "{}").await;
    assert_eq!(report.result.unwrap(), "true");
    for _ in 0..20 {
        assert_eq!(
            host.call(&snoop, "leave", "{}").await.result.unwrap(),
            "true"
        );
        assert_eq!(
            host.call(&snoop, "look", "{}").await.result.unwrap(),
            "false"
        );
    }
}

/// The interpreters bundled in Python and JavaScript components run as wasm
/// like any other code: the deadline stops a loop in either.
#[tokio::test]
async fn an_infinite_loop_in_python_or_javascript_hits_its_deadline() {
    let host = Host::new();
    for name in ["spin-python", "spin-js"] {
        let skill = host.load(name);
        let started = Instant::now();
        let error = host.fail(&skill, "spin", "{}").await;
        assert_eq!(
            error.kind,
            CallErrorKind::Deadline(Duration::from_secs(1)),
            "{name}"
        );
        assert_eq!(
            error.to_string(),
            format!("skill '{name}' exceeded its 1s deadline on tool 'spin'")
        );
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{name} took {:?}",
            started.elapsed()
        );
    }
    host.still_serves().await;
}

/// Limits belong to the operator: a skill that asks for more than the
/// defaults (here the memory bomb asking for 1 GiB and ten minutes) gets
/// the defaults and is told what it did not get; it gets more only where
/// the operator grants it, for that skill.
#[tokio::test]
async fn a_skill_asking_for_more_than_the_defaults_gets_only_what_the_operator_grants() {
    let greedy = tempfile::tempdir().unwrap();
    let bomb = sandbox_tests::skill_dir("bomb");
    std::fs::copy(bomb.join("bomb.wasm"), greedy.path().join("bomb.wasm")).unwrap();
    let manifest = std::fs::read_to_string(bomb.join("skill.toml"))
        .unwrap()
        .replace("memory = \"32MiB\"", "memory = \"1GiB\"\ntimeout = \"10m\"");
    std::fs::write(greedy.path().join("skill.toml"), manifest).unwrap();
    let config = Config::new("");
    let agent = |id: &str, extra: &str| {
        format!(
            "id = \"{id}\"\n[tools]\nallow = [\"bomb.*\"]\n[skills.bomb]\npath = \"{}\"\n{extra}",
            greedy.path().display()
        )
    };
    config.agent("plain", &agent("plain", ""));
    config.agent(
        "trusting",
        &agent("trusting", "[skills.bomb.limits]\nmemory = \"128MiB\"\n"),
    );

    let (runtime, plain) = config.open("plain");
    let explained = plain.explain();
    assert!(
        explained.contains("limit memory 1.0 GiB (granted 64.0 MiB)")
            && explained.contains("limit timeout 10m (granted 10s)"),
        "{explained}"
    );
    let error = fail(&runtime, &plain, "allocate", "{}").await;
    assert_kind(&error, |k| *k == CallErrorKind::Memory(ByteSize::mib(64)));
    drop((runtime, plain));

    let (runtime, trusting) = config.open("trusting");
    let error = fail(&runtime, &trusting, "allocate", "{}").await;
    assert_kind(&error, |k| *k == CallErrorKind::Memory(ByteSize::mib(128)));
    still_serves(&runtime).await;
}

/// One agent cannot starve the others: it gets its share of the instance
/// pool (here 4 of 8 slots), and its calls past that wait behind its own,
/// while another agent's calls still find a free slot at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_agent_that_fills_its_share_of_the_pool_leaves_the_rest_to_others() {
    let data = tempfile::tempdir().unwrap();
    let mut host = skillbox::HostConfig::with_data_dir(data.path());
    host.sandbox.max_concurrent_calls = 8;
    host.sandbox.max_calls_per_agent = 4;
    let runtime = Arc::new(sandbox_tests::open_runtime(host));
    let local = |id: &str, skill: &str| {
        let skill = runtime
            .load_skill(&sandbox_tests::skill_dir(skill))
            .unwrap();
        Arc::new(runtime.local_agent(&skillbox::AgentId::new(id).unwrap(), skill))
    };
    let (hog, bystander) = (local("hog", "sleeper"), local("bystander", "echo"));

    // Sixteen calls that each hold a slot until their 1 s deadline.
    let first_hog_done = Arc::new(AtomicUsize::new(0));
    let mut hogs = JoinSet::new();
    for _ in 0..16 {
        let (runtime, hog, done) = (runtime.clone(), hog.clone(), first_hog_done.clone());
        hogs.spawn(async move {
            let error = fail(&runtime, &hog, "sleep", "{}").await;
            done.fetch_add(1, Ordering::SeqCst);
            error
        });
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    for _ in 0..10 {
        let report = sandbox_tests::call(&runtime, &bystander, "echo", r#"{"message":"hi"}"#).await;
        assert!(report.result.is_ok(), "{:?}", report.result);
    }
    assert_eq!(
        first_hog_done.load(Ordering::SeqCst),
        0,
        "the bystander's calls ran while every hog call was still holding on"
    );
    while let Some(error) = hogs.join_next().await {
        assert_kind(&error.unwrap(), |k| {
            *k == CallErrorKind::Deadline(Duration::from_secs(1))
        });
    }
}
