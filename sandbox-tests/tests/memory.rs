//! Skill memory: durable across runtimes, private to its agent and skill,
//! bounded by quotas.

use sandbox_tests::{Host, assert_kind, open_runtime};
use skillbox::config::AgentId;
use skillbox::sandbox::CallErrorKind;

#[tokio::test]
async fn notes_survive_a_restart_of_the_runtime() {
    let data_dir = tempfile::tempdir().unwrap();
    let agent = AgentId::new("alice").unwrap();
    let notes_dir = sandbox_tests::skill_dir("notes");
    {
        let runtime = open_runtime(data_dir.path());
        let notes = runtime.load_skill(&notes_dir).unwrap();
        let report = runtime
            .call(
                &agent,
                &notes,
                "remember",
                r#"{"key":"milk","text":"2 litres"}"#,
            )
            .await;
        assert_eq!(report.result.unwrap(), r#"{"remembered":"milk"}"#);
        assert!(report.logs.iter().any(|r| r.message == "remembered 'milk'"));
    }
    let runtime = open_runtime(data_dir.path());
    let notes = runtime.load_skill(&notes_dir).unwrap();
    let report = runtime
        .call(&agent, &notes, "recall", r#"{"key":"milk"}"#)
        .await;
    assert_eq!(
        report.result.unwrap(),
        r#"{"key":"milk","found":true,"text":"2 litres"}"#
    );
    let report = runtime.call(&agent, &notes, "list", "{}").await;
    assert_eq!(report.result.unwrap(), r#"{"keys":["milk"]}"#);
    let report = runtime
        .call(&agent, &notes, "forget", r#"{"key":"milk"}"#)
        .await;
    assert_eq!(report.result.unwrap(), r#"{"forgotten":true}"#);
}

#[tokio::test]
async fn an_agent_cannot_read_another_agents_memory() {
    let host = Host::new();
    let notes = host.load("notes");
    let (alice, bob) = (AgentId::new("alice").unwrap(), AgentId::new("bob").unwrap());
    let report = host
        .runtime
        .call(&alice, &notes, "remember", r#"{"key":"pin","text":"1234"}"#)
        .await;
    assert!(report.result.is_ok());
    for (tool, input, expected) in [
        (
            "recall",
            r#"{"key":"pin"}"#,
            r#"{"key":"pin","found":false,"text":null}"#,
        ),
        ("list", "{}", r#"{"keys":[]}"#),
    ] {
        let report = host.runtime.call(&bob, &notes, tool, input).await;
        assert_eq!(report.result.unwrap(), expected);
    }
}

#[tokio::test]
async fn a_write_over_quota_is_refused() {
    let host = Host::new();
    let notes = host.load("notes");
    // notes keeps at most 4 MiB; values are at most 1 MiB each.
    let big = "x".repeat(1000 * 1000);
    for i in 0..4 {
        let input = format!(r#"{{"key":"k{i}","text":"{big}"}}"#);
        assert!(host.call(&notes, "remember", &input).await.result.is_ok());
    }
    let input = format!(r#"{{"key":"k4","text":"{big}"}}"#);
    let error = host.fail(&notes, "remember", &input).await;
    assert_kind(
        &error,
        |k| matches!(k, CallErrorKind::Failed(m) if m.contains("memory quota exceeded")),
    );
    let error = host
        .fail(
            &notes,
            "remember",
            &format!(r#"{{"key":"k5","text":"{}"}}"#, "y".repeat(1 << 21)),
        )
        .await;
    // Over the input limit before it is over the value limit.
    assert_kind(&error, |k| matches!(k, CallErrorKind::InvalidInput(_)));
}
