//! Skill memory: durable across runtimes, private to its agent and skill,
//! bounded by quotas.

use sandbox_tests::{Config, Host, assert_kind, open_runtime, session};
use skillbox::CallErrorKind;
use skillbox::{AgentId, HostConfig};

#[tokio::test]
async fn notes_survive_a_restart_of_the_runtime() {
    let data_dir = tempfile::tempdir().unwrap();
    let alice = AgentId::new("alice").unwrap();
    let notes_dir = sandbox_tests::skill_dir("notes");
    let open = || {
        let runtime = open_runtime(HostConfig::with_data_dir(data_dir.path()));
        let agent = runtime.local_agent(&alice, runtime.load_skill(&notes_dir).unwrap());
        (runtime, agent)
    };
    {
        let (runtime, agent) = open();
        let report = runtime
            .call(
                &agent,
                &session(),
                "notes",
                "remember",
                r#"{"key":"milk","text":"2 litres"}"#,
            )
            .await;
        assert_eq!(report.result.unwrap(), r#"{"remembered":"milk"}"#);
        assert!(report.logs.iter().any(|r| r.message == "remembered 'milk'"));
    }
    let (runtime, agent) = open();
    let session = session();
    let call = |tool, input| runtime.call(&agent, &session, "notes", tool, input);
    let recalled = call("recall", r#"{"key":"milk"}"#).await.result.unwrap();
    assert_eq!(recalled, r#"{"key":"milk","found":true,"text":"2 litres"}"#);
    assert_eq!(
        call("list", "{}").await.result.unwrap(),
        r#"{"keys":["milk"]}"#
    );
    let forgotten = call("forget", r#"{"key":"milk"}"#).await.result.unwrap();
    assert_eq!(forgotten, r#"{"forgotten":true}"#);
}

#[tokio::test]
async fn an_agent_cannot_read_another_agents_memory() {
    let host = Host::new();
    let notes = host
        .runtime
        .load_skill(&sandbox_tests::skill_dir("notes"))
        .unwrap();
    let alice = host
        .runtime
        .local_agent(&AgentId::new("alice").unwrap(), notes.clone());
    let bob = host
        .runtime
        .local_agent(&AgentId::new("bob").unwrap(), notes);
    let report = host
        .call(&alice, "remember", r#"{"key":"pin","text":"1234"}"#)
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
        let report = host.call(&bob, tool, input).await;
        assert_eq!(report.result.unwrap(), expected);
    }
}

#[tokio::test]
async fn keys_cannot_climb_out_of_a_namespace() {
    // Alice's notes hold a secret; a thief skill in another agent (and in
    // Alice's own agent) names keys that try to reach it.
    let config = Config::new("");
    let thief_and_notes = "[tools]\nallow = [\"*\"]\n\
        [skills.notes]\npath = \"{skill:notes}\"\ngrants = { memory = true }\n\
        [skills.memory-thief]\npath = \"{skill:memory-thief}\"\ngrants = { memory = true }\n";
    config.agent("alice", &format!("id = \"alice\"\n{thief_and_notes}"));
    config.agent("bob", &format!("id = \"bob\"\n{thief_and_notes}"));
    let loaded = config.load();
    let runtime = open_runtime(loaded.host.clone());
    let alice = runtime.load_agent(&loaded.agents["alice"]).unwrap();
    let bob = runtime.load_agent(&loaded.agents["bob"]).unwrap();
    let stored = runtime
        .call(
            &alice,
            &session(),
            "notes",
            "remember",
            r#"{"key":"pin","text":"4711"}"#,
        )
        .await;
    assert!(stored.result.is_ok());

    let keys = serde_json::json!({ "keys": [
        "pin", "../pin", "../notes/pin", "../../alice/notes/pin", "kv/alice/notes/kpin",
        "/kv/alice/notes/pin", "alice/notes/pin", "\u{0}pin", "kpin", "u",
    ]})
    .to_string();
    for agent in [&alice, &bob] {
        let report = runtime
            .call(agent, &session(), "memory-thief", "steal", &keys)
            .await;
        let loot: serde_json::Value = serde_json::from_str(&report.result.unwrap()).unwrap();
        assert_eq!(
            loot,
            serde_json::json!({ "found": {}, "listed": [] }),
            "agent {}",
            agent.id()
        );
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
    let too_big = format!(r#"{{"key":"k5","text":"{}"}}"#, "y".repeat(1 << 21));
    let error = host.fail(&notes, "remember", &too_big).await;
    // Over the input limit before it is over the value limit.
    assert_kind(&error, |k| matches!(k, CallErrorKind::InvalidInput(_)));
}
