//! What a sandbox inherits (nothing), and attacks that strike before the
//! tool runs or from inside a host call: each ends in a clear error and the
//! host keeps serving.

use std::time::{Duration, Instant};

use sandbox_tests::{Host, assert_kind, skill_dir};
use skillbox::LoadError;
use skillbox::{CallErrorKind, MAX_TABLE_ELEMENTS, PrepareError};

#[tokio::test]
async fn a_skill_inherits_no_environment_arguments_stdin_or_files() {
    let host = Host::new();
    assert!(
        std::env::vars().count() > 0,
        "the host process has an environment"
    );
    let reader = host.load("env-reader");
    let report = host.call(&reader, "read", "{}").await;
    let seen: serde_json::Value = serde_json::from_str(&report.result.unwrap()).unwrap();
    assert_eq!(seen["env"], serde_json::json!([]));
    assert_eq!(seen["args"], serde_json::json!([]));
    assert_eq!(seen["stdin"]["bytes"], 0);
    assert_eq!(seen["root"], serde_json::json!([]));
}

#[tokio::test]
async fn a_call_blocked_in_a_host_call_still_meets_its_deadline() {
    let host = Host::new();
    let sleeper = host.load("sleeper");
    let started = Instant::now();
    let error = host.fail(&sleeper, "sleep", "{}").await;
    assert_eq!(error.kind, CallErrorKind::Deadline(Duration::from_secs(1)));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    host.still_serves().await;
}

#[tokio::test]
async fn a_loop_while_instantiating_meets_the_deadline() {
    let host = Host::new();
    let looper = host.load("start-loop");
    let error = host.fail(&looper, "run", "{}").await;
    assert_kind(&error, |k| matches!(k, CallErrorKind::Deadline(_)));
    host.still_serves().await;
}

#[tokio::test]
async fn an_initial_memory_over_the_limit_is_refused() {
    let host = Host::new();
    let big = host.load("big-memory");
    let error = host.fail(&big, "run", "{}").await;
    assert_kind(&error, |k| matches!(k, CallErrorKind::Memory(_)));
    host.still_serves().await;
}

#[tokio::test]
async fn a_table_grown_without_bound_is_stopped() {
    let host = Host::new();
    let bomb = host.load("table-bomb");
    let error = host.fail(&bomb, "grow", "{}").await;
    assert_eq!(error.kind, CallErrorKind::TableLimit(MAX_TABLE_ELEMENTS));
    host.still_serves().await;
}

#[tokio::test]
async fn a_flood_of_host_handles_is_stopped() {
    let host = Host::new();
    let flood = host.load("handle-flood");
    let error = host.fail(&flood, "flood", "{}").await;
    assert_kind(
        &error,
        |k| matches!(k, CallErrorKind::Crashed(m) if m.contains("resource table")),
    );
    host.still_serves().await;
}

#[tokio::test]
async fn header_sets_the_host_holds_are_charged_to_the_calls_memory() {
    let host = Host::new();
    let hog = host.load("field-hog");
    // The skill logs how many copies of 12 KiB of headers it holds as it
    // goes; the call ends when the host stops it.
    let report = host.call(&hog, "hog", r#"{"headers":12}"#).await;
    assert!(report.result.is_err(), "the hog stopped by itself");
    let last = report
        .logs
        .iter()
        .rev()
        .find_map(|r| r.message.strip_prefix("held "))
        .unwrap_or_else(|| panic!("the skill held no copies: {:?}", report.result));
    let numbers: Vec<u64> = last
        .split(' ')
        .filter_map(|word| word.parse().ok())
        .collect();
    let held = numbers[0] * numbers[1];
    let limit = skillbox::Limits::DEFAULT.memory.as_u64();
    assert!(
        held <= limit,
        "the host held {held} bytes of header sets for a call limited to {limit}"
    );
    host.still_serves().await;
}

#[tokio::test]
async fn deeply_nested_output_is_refused_without_harm() {
    let host = Host::new();
    let bomb = host.load("json-bomb");
    let error = host.fail(&bomb, "nest", "{}").await;
    assert_kind(
        &error,
        |k| matches!(k, CallErrorKind::InvalidOutput(m) if m.contains("recursion")),
    );
    host.still_serves().await;
}

#[tokio::test]
async fn output_that_is_not_utf8_is_refused() {
    let host = Host::new();
    let liar = host.load("liar");
    let error = host.fail(&liar, "bad_utf8", "{}").await;
    assert_kind(
        &error,
        |k| matches!(k, CallErrorKind::InvalidOutput(m) if m.contains("utf-8")),
    );
    host.still_serves().await;
}

#[test]
fn an_import_the_host_does_not_provide_is_refused_at_load() {
    let host = Host::new();
    let error = host
        .runtime
        .load_skill(&skill_dir("import-smuggler"))
        .err()
        .expect("refused");
    assert!(
        matches!(
            &error,
            LoadError::Component {
                error: PrepareError::NotASkill { .. },
                ..
            }
        ),
        "{error:?}"
    );
    assert!(
        error.to_string().contains("skillbox:skill/admin@0.1.0"),
        "{error}"
    );
}
