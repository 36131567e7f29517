//! The agent loop against a scripted model server: tool calls run in
//! sandboxes through the same checks as any call, their results go back to
//! the model marked as untrusted, and finished turns are kept.

use std::sync::Mutex;

use sandbox_tests::http::TestServer;
use sandbox_tests::{Config, open_runtime, session};
use scripted_model::{Exchange, Reply, ScriptedModel};
use serde_json::json;
use skillbox::UNTRUSTED_NOTE;
use skillbox::history;
use skillbox::{TurnError, TurnEvent};

const SYSTEM_PROMPT: &str = "You are ops, a careful infrastructure helper.";

/// A configuration with one backend, `local`, served by `model`, and agent
/// `ops` using it, with text (only word_count allowed), `settings` lines
/// under `[inference]` and `extra` tables.
fn ops(model: &ScriptedModel, settings: &str, extra: &str) -> Config {
    let config = Config::new(&format!(
        "[inference.backends.local]\nkind = \"openai\"\nurl = \"{}\"\nretries = 0\n",
        model.openai_url()
    ));
    std::fs::create_dir(config.path().join("prompts")).unwrap();
    std::fs::write(config.path().join("prompts/ops.md"), SYSTEM_PROMPT).unwrap();
    std::fs::write(
        config.path().join("prompts/runbook.md"),
        "Restart with care.",
    )
    .unwrap();
    config.agent(
        "ops",
        &format!(
            "id = \"ops\"\n\
             [tools]\nallow = [\"text.word_count\"]\n\
             [skills.text]\npath = \"{{skill:text}}\"\n\
             [inference]\nmodel = \"local/m\"\n{settings}\
             [prompts]\nsystem = \"prompts/ops.md\"\ncontext = [\"prompts/runbook.md\"]\n\
             {extra}"
        ),
    );
    config
}

/// Call word_count first; once a tool result is in, answer with it.
fn count_then_answer(exchange: &Exchange) -> Reply {
    let last = exchange.last_message();
    if last["role"] == "tool" {
        Reply::Text(format!("Done: {}", last["content"].as_str().unwrap()))
    } else {
        Reply::call("text_word_count", json!({ "text": "one two three" }))
    }
}

#[tokio::test]
async fn a_multi_step_conversation_calls_a_sandboxed_tool_and_answers() {
    let model = ScriptedModel::start(count_then_answer).await;
    let config = ops(&model, "", "");
    let (runtime, agent) = config.open("ops");
    let events = Mutex::new(Vec::new());
    let on_event = |event: TurnEvent| events.lock().unwrap().push(event);

    let report = runtime
        .turn(&agent, &session(), "c1", "How many words?", Some(&on_event))
        .await
        .expect("the turn ends in an answer");

    assert_eq!(report.steps.len(), 2);
    let run = &report.steps[0].tool_calls[0];
    assert_eq!(run.tool, "text.word_count");
    assert!(run.ok && run.output.contains(r#""words":3"#), "{run:?}");
    assert!(
        report.answer.starts_with("Done: <tool-output"),
        "{}",
        report.answer
    );
    assert_eq!(report.steps[1].model, "local/m");

    // Streamed: the answer arrived in pieces, after the tool call and result.
    let events = events.into_inner().unwrap();
    assert!(matches!(&events[0], TurnEvent::ToolCall { tool, .. } if tool == "text.word_count"));
    assert!(matches!(&events[1], TurnEvent::ToolResult { ok: true, .. }));
    let tokens: Vec<&str> = events[2..]
        .iter()
        .map(|e| match e {
            TurnEvent::Token { text } => text.as_str(),
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert!(tokens.len() > 1);
    assert_eq!(tokens.concat(), report.answer);

    let exchanges = model.exchanges();
    assert_eq!(exchanges.len(), 2);
    let first = &exchanges[0];
    assert_eq!(first.body["stream"], true);
    // Exactly the tools the agent may call: not text's other two.
    assert_eq!(first.tool_names(), ["text_word_count"]);
    let system = first.messages()[0]["content"].as_str().unwrap();
    assert!(system.starts_with(SYSTEM_PROMPT), "{system}");
    assert!(system.contains("<context file=\"runbook.md\">\nRestart with care."));
    assert!(system.ends_with(UNTRUSTED_NOTE));
    assert_eq!(first.last_message()["content"], "How many words?");

    let result = exchanges[1].last_message();
    assert_eq!(result["role"], "tool");
    assert_eq!(result["tool_call_id"], "call_0");
    let content = result["content"].as_str().unwrap();
    assert!(
        content.starts_with("<tool-output tool=\"text.word_count\" status=\"ok\">\n")
            && content.ends_with("\n</tool-output>"),
        "{content}"
    );
}

#[tokio::test]
async fn tool_errors_and_denials_go_back_to_the_model() {
    let model = ScriptedModel::start(|exchange| {
        if exchange.last_message()["role"] == "tool" {
            return Reply::text("I could not do it.");
        }
        Reply::Calls(vec![
            // Not allowed for the agent: refused before any sandbox.
            (
                "text_regex_extract".into(),
                r#"{"text":"a","pattern":"a"}"#.into(),
            ),
            // No such skill, no such tool.
            ("web_fetch".into(), "{}".into()),
            ("search".into(), "{}".into()),
            // Input that does not match the schema, and input that is not JSON.
            ("text_word_count".into(), r#"{"text":5}"#.into()),
            ("text_word_count".into(), "{not json".into()),
        ])
    })
    .await;
    let config = ops(&model, "", "");
    let (runtime, agent) = config.open("ops");

    let report = runtime
        .turn(&agent, &session(), "c1", "Try everything", None)
        .await
        .expect("errors are results, not crashes");
    assert_eq!(report.answer, "I could not do it.");
    let runs = &report.steps[0].tool_calls;
    assert!(runs.iter().all(|r| !r.ok), "{runs:?}");
    assert!(
        runs[0].output.contains("not allowed for agent 'ops'"),
        "{}",
        runs[0].output
    );
    assert!(
        runs[1].output.contains("has no skill 'web'"),
        "{}",
        runs[1].output
    );
    assert!(
        runs[2].output.contains("no tool named 'search'"),
        "{}",
        runs[2].output
    );
    assert!(
        runs[3].output.contains("invalid input"),
        "{}",
        runs[3].output
    );
    assert!(
        runs[4].output.contains("invalid input"),
        "{}",
        runs[4].output
    );

    let results: Vec<String> = model.exchanges()[1]
        .messages()
        .iter()
        .filter(|m| m["role"] == "tool")
        .map(|m| m["content"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(results.len(), 5);
    assert!(results[0].starts_with(r#"<tool-output tool="text.regex_extract" status="denied">"#));
    assert!(results[2].starts_with(r#"<tool-output tool="search" status="invalid_input">"#));
    assert!(
        results[3].starts_with(r#"<tool-output tool="text.word_count" status="invalid_input">"#)
    );
}

#[tokio::test]
async fn at_most_sixteen_tool_calls_of_a_step_run() {
    let model = ScriptedModel::start(|exchange| {
        if exchange.last_message()["role"] == "tool" {
            return Reply::text("enough");
        }
        let call = ("text_word_count".to_owned(), r#"{"text":"a"}"#.to_owned());
        Reply::Calls(vec![call; 20])
    })
    .await;
    let config = ops(&model, "", "");
    let (runtime, agent) = config.open("ops");
    let report = runtime
        .turn(&agent, &session(), "c1", "Many", None)
        .await
        .unwrap();
    let runs = &report.steps[0].tool_calls;
    assert_eq!(runs.len(), 20);
    assert!(runs[..16].iter().all(|r| r.ok));
    assert!(
        runs[16..]
            .iter()
            .all(|r| !r.ok && r.output.contains("at most 16 tool calls"))
    );
    let results = model.exchanges()[1]
        .messages()
        .iter()
        .filter(|m| m["role"] == "tool")
        .count();
    assert_eq!(results, 20, "every call is answered");
}

#[tokio::test]
async fn independent_tool_calls_run_at_once() {
    let server = TestServer::start().await;
    let barrier = server.url("/barrier?n=2");
    let model = ScriptedModel::start(move |exchange| {
        if exchange.last_message()["role"] == "tool" {
            return Reply::text("both answered");
        }
        let call = (
            "net-probe_fetch".to_owned(),
            json!({ "url": barrier }).to_string(),
        );
        Reply::Calls(vec![call.clone(), call])
    })
    .await;
    let config = ops(
        &model,
        "",
        &format!(
            "[skills.net-probe]\npath = \"{{skill:net-probe}}\"\n\
             [skills.net-probe.grants]\nnetwork = [\"http://127.0.0.1:{}\"]\n",
            server.port()
        ),
    );
    // Allow net-probe.fetch beside word_count.
    let text = std::fs::read_to_string(config.path().join("agents/ops.toml")).unwrap();
    std::fs::write(
        config.path().join("agents/ops.toml"),
        text.replace(
            "[\"text.word_count\"]",
            "[\"text.word_count\", \"net-probe.fetch\"]",
        ),
    )
    .unwrap();
    let (runtime, agent) = config.open("ops");

    let report = runtime
        .turn(&agent, &session(), "c1", "Fetch twice", None)
        .await
        .unwrap();
    // Each request is answered only once the other has arrived too.
    for run in &report.steps[0].tool_calls {
        assert!(run.ok && run.output.contains(r#""status":200"#), "{run:?}");
    }
}

#[tokio::test]
async fn a_model_that_never_answers_stops_at_max_steps_and_nothing_is_kept() {
    let model =
        ScriptedModel::start(|_| Reply::call("text_word_count", json!({ "text": "again" }))).await;
    let config = ops(&model, "max_steps = 3\n", "");
    let (runtime, agent) = config.open("ops");

    let error = runtime
        .turn(&agent, &session(), "c1", "Loop", None)
        .await
        .unwrap_err();
    assert!(
        matches!(error, TurnError::MaxSteps { max_steps: 3, .. }),
        "{error}"
    );
    assert!(error.to_string().contains("3 steps"), "{error}");
    assert_eq!(model.exchanges().len(), 3);
    let kept = history::recent(runtime.db(), "ops", "c1", 100).unwrap();
    assert!(kept.is_empty(), "{kept:?}");
}

#[tokio::test]
async fn history_survives_a_restart_and_conversations_stay_apart() {
    let model =
        ScriptedModel::start(|exchange| Reply::Text(format!("Noted: {}", exchange.user_text())))
            .await;
    let config = ops(&model, "", "");
    {
        let (runtime, agent) = config.open("ops");
        runtime
            .turn(&agent, &session(), "c1", "My name is Ada.", None)
            .await
            .unwrap();
    }
    // A new runtime over the same data directory.
    let loaded = config.load();
    let runtime = open_runtime(loaded.host.clone());
    let agent = runtime.load_agent(&loaded.agents["ops"]).unwrap();
    runtime
        .turn(&agent, &session(), "c1", "What is my name?", None)
        .await
        .unwrap();
    runtime
        .turn(&agent, &session(), "other", "Hello", None)
        .await
        .unwrap();

    let exchanges = model.exchanges();
    let roles_and_text = |exchange: &Exchange| -> Vec<(String, String)> {
        exchange.messages()[1..]
            .iter()
            .map(|m| {
                (
                    m["role"].as_str().unwrap().to_owned(),
                    m["content"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    let pair = |role: &str, text: &str| (role.to_owned(), text.to_owned());
    assert_eq!(
        roles_and_text(&exchanges[1]),
        [
            pair("user", "My name is Ada."),
            pair("assistant", "Noted: My name is Ada."),
            pair("user", "What is my name?"),
        ]
    );
    assert_eq!(roles_and_text(&exchanges[2]), [pair("user", "Hello")]);
    assert_eq!(
        history::conversations(runtime.db(), "ops").unwrap(),
        [("c1".to_owned(), 4), ("other".to_owned(), 2)]
    );
}

#[tokio::test]
async fn an_agent_without_a_model_or_with_a_bad_conversation_name_is_refused() {
    let model = ScriptedModel::start(|_| Reply::text("hi")).await;
    let config = ops(&model, "", "");
    config.agent(
        "quiet",
        "id = \"quiet\"\n[skills.text]\npath = \"{skill:text}\"\n",
    );
    let loaded = config.load();
    let runtime = open_runtime(loaded.host.clone());
    let quiet = runtime.load_agent(&loaded.agents["quiet"]).unwrap();
    let error = runtime
        .turn(&quiet, &session(), "c1", "Hello", None)
        .await
        .unwrap_err();
    assert!(
        error.to_string().contains("agent 'quiet' has no model"),
        "{error}"
    );

    let ops = runtime.load_agent(&loaded.agents["ops"]).unwrap();
    let error = runtime
        .turn(&ops, &session(), "../etc", "Hello", None)
        .await
        .unwrap_err();
    assert!(
        error.to_string().contains("not a conversation name"),
        "{error}"
    );
    assert!(model.exchanges().is_empty());
}
