//! The shared inference service against scripted model servers: retries,
//! fallback, fair sharing, budgets, cancellation, metering, both wire
//! protocols, and the `inference` import of skills.

use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sandbox_tests::{Config, open_runtime, session};
use scripted_model::{COMPLETION_TOKENS, PROMPT_TOKENS, Reply, ScriptedModel};
use serde_json::{Value, json};
use skillbox::InferenceError;
use skillbox::{Answer, Capability, PromptQueue};
use skillbox::{TurnError, TurnEvent};
use skillbox::{audit, history, usage};

/// `skillbox.toml` with one backend per (name, kind, url, extra lines).
fn backends(list: &[(&str, &str, String, &str)]) -> String {
    list.iter()
        .map(|(name, kind, url, extra)| {
            format!("[inference.backends.{name}]\nkind = \"{kind}\"\nurl = \"{url}\"\n{extra}\n")
        })
        .collect()
}

/// An agent file: `inference` lines under `[inference]`, then `extra`.
fn agent(id: &str, inference: &str, extra: &str) -> String {
    format!(
        "id = \"{id}\"\n[skills.text]\npath = \"{{skill:text}}\"\n[inference]\n{inference}\n{extra}"
    )
}

fn failures(error: &TurnError) -> &[(skillbox::ModelRef, skillbox::Failure)] {
    match error {
        TurnError::Inference(InferenceError::Failed(failures)) => failures,
        other => panic!("expected model failures, got {other}"),
    }
}

#[tokio::test]
async fn a_failing_backend_is_retried_then_the_fallback_answers() {
    let broken = ScriptedModel::start(|_| Reply::Status(500, None)).await;
    let backup = ScriptedModel::start(|_| Reply::text("from the backup")).await;
    let config = Config::new(&backends(&[
        (
            "main",
            "openai",
            broken.openai_url(),
            "retries = 2\nbackoff = \"10ms\"",
        ),
        ("backup", "openai", backup.openai_url(), ""),
    ]));
    config.agent(
        "ops",
        &agent("ops", "model = \"main/m\"\nfallback = [\"backup/n\"]", ""),
    );
    let (runtime, ops) = config.open("ops");

    let report = runtime
        .turn(&ops, &session(), "c", "Hi", None)
        .await
        .unwrap();
    assert_eq!(report.answer, "from the backup");
    assert_eq!(report.steps[0].model, "backup/n");
    assert_eq!(broken.exchanges().len(), 3, "one attempt and two retries");
    assert_eq!(backup.exchanges()[0].model(), "n");
}

#[tokio::test]
async fn a_429_is_retried_after_the_wait_it_asks_for() {
    let model = ScriptedModel::start(|exchange| match exchange.index {
        0 => Reply::Status(429, Some(1)),
        _ => Reply::text("at last"),
    })
    .await;
    let config = Config::new(&backends(&[(
        "main",
        "openai",
        model.openai_url(),
        "retries = 1",
    )]));
    config.agent("ops", &agent("ops", "model = \"main/m\"", ""));
    let (runtime, ops) = config.open("ops");

    let report = runtime
        .turn(&ops, &session(), "c", "Hi", None)
        .await
        .unwrap();
    assert_eq!(report.answer, "at last");
    let exchanges = model.exchanges();
    let waited = exchanges[1].arrived - exchanges[0].arrived;
    assert!(
        waited >= Duration::from_millis(900),
        "retried after {waited:?}"
    );
}

#[tokio::test]
async fn errors_that_a_retry_cannot_fix_go_straight_to_the_fallback_and_every_failure_is_named() {
    let refusing = ScriptedModel::start(|_| Reply::Status(400, None)).await;
    // A port nothing listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed_url = format!("http://{}/v1", closed.local_addr().unwrap());
    drop(closed);
    let config = Config::new(&backends(&[
        (
            "main",
            "openai",
            refusing.openai_url(),
            "retries = 3\nbackoff = \"10ms\"",
        ),
        (
            "gone",
            "openai",
            closed_url,
            "retries = 1\nbackoff = \"10ms\"",
        ),
    ]));
    config.agent(
        "ops",
        &agent("ops", "model = \"main/m\"\nfallback = [\"gone/m\"]", ""),
    );
    let (runtime, ops) = config.open("ops");

    let error = runtime
        .turn(&ops, &session(), "c", "Hi", None)
        .await
        .unwrap_err();
    assert_eq!(refusing.exchanges().len(), 1, "a 400 is not retried");
    let failures = failures(&error);
    assert_eq!(failures.len(), 2);
    let message = error.to_string();
    assert!(message.contains("main/m: 400"), "{message}");
    assert!(message.contains("gone/m: cannot connect"), "{message}");
}

#[tokio::test]
async fn an_answer_that_breaks_off_midway_is_not_answered_again() {
    let breaking = ScriptedModel::start(|_| Reply::BreakAfter("Half an ".into())).await;
    let backup = ScriptedModel::start(|_| Reply::text("a whole answer")).await;
    let config = Config::new(&backends(&[
        (
            "main",
            "openai",
            breaking.openai_url(),
            "retries = 2\nbackoff = \"10ms\"",
        ),
        ("backup", "openai", backup.openai_url(), ""),
    ]));
    config.agent(
        "ops",
        &agent("ops", "model = \"main/m\"\nfallback = [\"backup/m\"]", ""),
    );
    let (runtime, ops) = config.open("ops");
    let shown = std::sync::Mutex::new(String::new());
    let on_event = |event: TurnEvent| {
        if let TurnEvent::Token { text } = event {
            shown.lock().unwrap().push_str(&text);
        }
    };

    let error = runtime
        .turn(&ops, &session(), "c", "Hi", Some(&on_event))
        .await
        .unwrap_err();
    assert!(error.to_string().contains("broke off"), "{error}");
    // What was shown stays the only answer: no retry, no other model.
    assert_eq!(*shown.lock().unwrap(), "Half an ");
    assert_eq!(breaking.exchanges().len(), 1);
    assert!(backup.exchanges().is_empty());
}

#[tokio::test]
async fn one_agent_flooding_the_backend_does_not_starve_another() {
    const SERVICE: Duration = Duration::from_millis(50);
    const FLOOD: usize = 40;
    let model = ScriptedModel::start(|exchange| {
        Reply::after(
            SERVICE,
            Reply::Text(format!("re: {}", exchange.user_text())),
        )
    })
    .await;
    let config = Config::new(&backends(&[(
        "main",
        "openai",
        model.openai_url(),
        "max_concurrency = 1",
    )]));
    config.agent("flood", &agent("flood", "model = \"main/m\"", ""));
    config.agent("calm", &agent("calm", "model = \"main/m\"", ""));
    let loaded = config.load();
    let runtime = Arc::new(open_runtime(loaded.host.clone()));
    let flood = Arc::new(runtime.load_agent(&loaded.agents["flood"]).unwrap());
    let calm = runtime.load_agent(&loaded.agents["calm"]).unwrap();

    let started = Instant::now();
    let flooding: Vec<_> = (0..FLOOD)
        .map(|i| {
            let (runtime, flood) = (runtime.clone(), flood.clone());
            tokio::spawn(async move {
                let conversation = format!("f{i}");
                runtime
                    .turn(&flood, &session(), &conversation, "flood", None)
                    .await
                    .unwrap();
            })
        })
        .collect();
    tokio::time::sleep(SERVICE * 2).await;
    let mut calm_latencies = Vec::new();
    for i in 0..3 {
        let asked = Instant::now();
        runtime
            .turn(&calm, &session(), &format!("c{i}"), "calm", None)
            .await
            .unwrap();
        calm_latencies.push(asked.elapsed());
    }
    for task in flooding {
        task.await.unwrap();
    }
    let flood_took = started.elapsed();

    // In arrival order, the calm agent would wait behind most of the flood
    // (about 2 s); fair queueing lets it in after at most the request in
    // flight and one more of the flood's.
    assert!(flood_took >= SERVICE * FLOOD as u32, "{flood_took:?}");
    let worst = calm_latencies.iter().max().unwrap();
    assert!(
        *worst < Duration::from_millis(600),
        "calm waited {calm_latencies:?}"
    );
    assert_eq!(model.max_in_flight(), 1, "max_concurrency holds");
}

#[tokio::test]
async fn an_exhausted_budget_refuses_with_a_clear_error() {
    let model = ScriptedModel::start(|_| Reply::text("ok")).await;
    let config = Config::new(&backends(&[("main", "openai", model.openai_url(), "")]));
    // Every answer costs 15 tokens: two fit in 30.
    config.agent(
        "ops",
        &agent(
            "ops",
            "model = \"main/m\"\n[inference.budget]\ntokens_per_day = 30",
            "",
        ),
    );
    let (runtime, ops) = config.open("ops");
    for i in 0..2 {
        let conversation = format!("c{i}");
        runtime
            .turn(&ops, &session(), &conversation, "Hi", None)
            .await
            .unwrap();
    }

    let error = runtime
        .turn(&ops, &session(), "c3", "Hi", None)
        .await
        .unwrap_err();
    assert!(
        matches!(error, TurnError::Inference(InferenceError::OverBudget(_))),
        "{error}"
    );
    let message = error.to_string();
    assert!(
        message.contains("agent 'ops' has used its budget of 30 tokens per day (30 used)"),
        "{message}"
    );
    assert_eq!(model.exchanges().len(), 2);
    let refusal = audit::read(runtime.db(), "ops", None).await.unwrap();
    assert_eq!(
        refusal.last().unwrap().capability,
        "inference beyond tokens_per_day"
    );
    assert_eq!(refusal.last().unwrap().decision, "denied");
}

#[tokio::test]
async fn beyond_its_budget_an_agent_in_ask_mode_asks_a_person() {
    let model = ScriptedModel::start(|_| Reply::text("ok")).await;
    let config = Config::new(&backends(&[("main", "openai", model.openai_url(), "")]));
    config.agent(
        "ops",
        &agent(
            "ops",
            "model = \"main/m\"\n[inference.budget]\nrequests_per_day = 1",
            "[consent]\nmode = \"ask\"\n",
        ),
    );
    let (runtime, ops) = config.open("ops");
    let queue = Arc::new(PromptQueue::default());
    runtime.consent().attach(queue.clone());
    runtime
        .turn(&ops, &session(), "c1", "Hi", None)
        .await
        .unwrap();

    let mut asked = queue.subscribe();
    let answering = async {
        let prompt = tokio::time::timeout(Duration::from_secs(10), asked.recv())
            .await
            .expect("a prompt")
            .unwrap();
        queue
            .answer(&prompt.id, Answer::ALLOW_ONCE, "a test".into())
            .await
            .unwrap();
        prompt
    };
    let session = session();
    let (turn, prompt) = tokio::join!(
        runtime.turn(&ops, &session, "c2", "Once more", None),
        answering
    );
    turn.expect("allowed by a person");
    assert_eq!(
        prompt.capability,
        Capability::Budget {
            limit: "requests_per_day".into()
        }
    );
    assert!(
        prompt.reason.contains("budget of 1 requests per day"),
        "{}",
        prompt.reason
    );
    assert_eq!(prompt.arguments, "Once more");
    assert_eq!(model.exchanges().len(), 2);
}

#[tokio::test]
async fn without_anyone_to_ask_a_budget_holds_whatever_the_fallback() {
    let model = ScriptedModel::start(|_| Reply::text("ok")).await;
    let config = Config::new(&backends(&[("main", "openai", model.openai_url(), "")]));
    config.agent(
        "ops",
        &agent(
            "ops",
            "model = \"main/m\"\n[inference.budget]\nrequests_per_day = 1",
            "[consent]\nmode = \"ask\"\nfallback = \"allow-once\"\n",
        ),
    );
    let (runtime, ops) = config.open("ops");
    runtime
        .turn(&ops, &session(), "c1", "Hi", None)
        .await
        .unwrap();
    let error = runtime
        .turn(&ops, &session(), "c2", "Hi", None)
        .await
        .unwrap_err();
    assert!(error.to_string().contains("no one to ask"), "{error}");
    assert_eq!(model.exchanges().len(), 1);
}

#[tokio::test]
async fn a_stream_that_ends_unfinished_is_not_an_answer() {
    let model = ScriptedModel::start(|_| Reply::Unfinished("Half of it".into())).await;
    let config = Config::new(&backends(&[("main", "openai", model.openai_url(), "")]));
    config.agent("ops", &agent("ops", "model = \"main/m\"", ""));
    let (runtime, ops) = config.open("ops");
    let on_event = |_: TurnEvent| {};
    let error = runtime
        .turn(&ops, &session(), "c", "Hi", Some(&on_event))
        .await
        .unwrap_err();
    assert!(
        error.to_string().contains("ended before it was complete"),
        "{error}"
    );
    assert!(
        history::recent(runtime.db(), "ops", "c", 10)
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn an_api_key_is_read_when_first_needed_and_its_absence_named() {
    let model = ScriptedModel::start(|_| Reply::text("ok")).await;
    let config = Config::new(&backends(&[(
        "cloud",
        "openai",
        model.openai_url(),
        "api_key = { env = \"SKILLBOX_TEST_KEY_THAT_IS_NOT_SET\" }",
    )]));
    config.agent("ops", &agent("ops", "model = \"cloud/m\"", ""));
    // Opening the host and the agent needs no key: only asking a model does.
    let (runtime, ops) = config.open("ops");
    let error = runtime
        .turn(&ops, &session(), "c", "Hi", None)
        .await
        .unwrap_err();
    let message = error.to_string();
    assert!(
        message.contains("inference.backends.cloud.api_key")
            && message.contains("SKILLBOX_TEST_KEY_THAT_IS_NOT_SET is not set"),
        "{message}"
    );
    assert!(model.exchanges().is_empty());
}

#[tokio::test]
async fn a_caller_that_goes_away_cancels_its_request_and_frees_the_backend() {
    let model = ScriptedModel::start(|exchange| match exchange.user_text() {
        "slow" => Reply::after(Duration::from_secs(30), Reply::text("too late")),
        _ => Reply::text("quick"),
    })
    .await;
    let config = Config::new(&backends(&[(
        "main",
        "openai",
        model.openai_url(),
        "max_concurrency = 1",
    )]));
    config.agent("ops", &agent("ops", "model = \"main/m\"", ""));
    let (runtime, ops) = config.open("ops");

    let gave_up = tokio::time::timeout(
        Duration::from_millis(300),
        runtime.turn(&ops, &session(), "c", "slow", None),
    )
    .await;
    assert!(gave_up.is_err());
    // The backend's one place is free again at once, not in 30 s.
    let next = tokio::time::timeout(
        Duration::from_secs(10),
        runtime.turn(&ops, &session(), "c", "after", None),
    )
    .await
    .expect("the next request is not stuck behind the cancelled one")
    .unwrap();
    assert_eq!(next.answer, "quick");
    let slow = &model.exchanges()[0];
    let deadline = Instant::now() + Duration::from_secs(10);
    while !slow.abandoned() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(slow.abandoned(), "the server saw the request go away");
    // The cancelled turn left nothing in the history.
    let kept = history::recent(runtime.db(), "ops", "c", 100).unwrap();
    assert_eq!(kept.len(), 2);
    assert_eq!(kept[0].content, "after");
}

#[tokio::test]
async fn usage_is_metered_per_agent_backend_and_model() {
    let model = ScriptedModel::start(|_| Reply::text("ok")).await;
    let config = Config::new(&backends(&[("main", "openai", model.openai_url(), "")]));
    config.agent("ops", &agent("ops", "model = \"main/big\"", ""));
    config.agent("dev", &agent("dev", "model = \"main/small\"", ""));
    let loaded = config.load();
    let runtime = open_runtime(loaded.host.clone());
    for (id, turns) in [("ops", 2), ("dev", 1)] {
        let agent = runtime.load_agent(&loaded.agents[id]).unwrap();
        for i in 0..turns {
            let conversation = format!("c{i}");
            runtime
                .turn(&agent, &session(), &conversation, "Hi", None)
                .await
                .unwrap();
        }
    }
    let today = usage::today();
    let id = |id: &str| skillbox::AgentId::new(id).unwrap();
    let ops = runtime.inference().usage(&id("ops")).unwrap();
    let spent = ops[&(today.clone(), "main/big".to_owned())];
    assert_eq!(spent.requests, 2);
    assert_eq!(spent.prompt_tokens, 2 * PROMPT_TOKENS);
    assert_eq!(spent.completion_tokens, 2 * COMPLETION_TOKENS);
    let dev = runtime.inference().usage(&id("dev")).unwrap();
    assert_eq!(dev.len(), 1);
    assert_eq!(dev[&(today, "main/small".to_owned())].requests, 1);
}

#[tokio::test]
async fn the_ollama_protocol_runs_the_same_loop() {
    let model = ScriptedModel::start(|exchange| {
        let last = exchange.last_message();
        if last["role"] == "tool" {
            Reply::Text(format!(
                "counted by {}",
                last["tool_name"].as_str().unwrap()
            ))
        } else {
            Reply::call("text_word_count", json!({ "text": "a b" }))
        }
    })
    .await;
    let config = Config::new(&backends(&[("local", "ollama", model.ollama_url(), "")]));
    config.agent(
        "ops",
        &agent(
            "ops",
            "model = \"local/llama3.2\"",
            "[tools]\nallow = [\"text.word_count\"]\n",
        ),
    );
    let (runtime, ops) = config.open("ops");
    for stream in [false, true] {
        let on_event = |_: TurnEvent| {};
        let on_event: Option<&(dyn Fn(TurnEvent) + Send + Sync)> = stream.then_some(&on_event as _);
        let conversation = format!("stream-{stream}");
        let report = runtime
            .turn(&ops, &session(), &conversation, "Count", on_event)
            .await
            .unwrap();
        assert_eq!(report.answer, "counted by text_word_count");
        assert!(
            report.steps[0].tool_calls[0]
                .output
                .contains(r#""words":2"#)
        );
        assert_eq!(report.usage.prompt_tokens, 2 * PROMPT_TOKENS);
    }
    let exchanges = model.exchanges();
    assert!(exchanges.iter().all(|e| e.path == "/api/chat"));
    assert_eq!(exchanges[0].body["stream"], false);
    assert_eq!(exchanges[2].body["stream"], true);
    assert_eq!(
        exchanges[0].body["tools"][0]["function"]["name"],
        "text_word_count"
    );
}

#[tokio::test]
async fn an_api_key_reaches_its_backend_as_a_bearer_token_only() {
    let model = ScriptedModel::start(|_| Reply::text("ok")).await;
    let other = ScriptedModel::start(|_| Reply::text("ok")).await;
    let config = Config::new(&backends(&[
        (
            "cloud",
            "openai",
            model.openai_url(),
            "api_key = { file = \"cloud.key\" }",
        ),
        ("local", "openai", other.openai_url(), ""),
    ]));
    let key = config.path().join("cloud.key");
    std::fs::write(&key, "sk-test-0123456789\n").unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    config.agent(
        "ops",
        &agent("ops", "model = \"cloud/m\"\nfallback = [\"local/m\"]", ""),
    );
    config.agent("dev", &agent("dev", "model = \"local/m\"", ""));
    let loaded = config.load();
    let runtime = open_runtime(loaded.host.clone());
    for id in ["ops", "dev"] {
        let agent = runtime.load_agent(&loaded.agents[id]).unwrap();
        runtime
            .turn(&agent, &session(), "c", "Hi", None)
            .await
            .unwrap();
    }
    assert_eq!(
        model.exchanges()[0].authorization.as_deref(),
        Some("Bearer sk-test-0123456789")
    );
    assert_eq!(other.exchanges()[0].authorization, None);
}

#[tokio::test]
async fn models_are_checked_against_the_backends_when_the_agent_is_read() {
    let config = Config::new(&backends(&[(
        "local",
        "openai",
        "http://127.0.0.1:11434/v1".into(),
        "models = [\"llama3.2\"]",
    )]));
    let cases = [
        (
            "model = \"cloud/gpt\"",
            "inference.model",
            "no backend 'cloud' in skillbox.toml (backends: local)",
        ),
        (
            "model = \"local/qwen\"",
            "inference.model",
            "does not list the model 'qwen'",
        ),
        (
            "model = \"llama3.2\"",
            "inference.model",
            "write backend/model",
        ),
        (
            "model = \"local/llama3.2\"\nfallback = [\"x/y\"]",
            "inference.fallback[0]",
            "no backend 'x'",
        ),
        (
            "model = \"local/llama3.2\"\nweight = 0",
            "inference.weight",
            "between 1 and 1000",
        ),
    ];
    for (lines, field, message) in cases {
        config.agent("ops", &agent("ops", lines, ""));
        let error = skillbox::ConfigDir::load(config.path()).unwrap_err();
        assert_eq!(error.field, field, "{error}");
        assert!(error.message.contains(message), "{error}");
        assert!(error.to_string().contains("ops.toml:"), "{error}");
    }
    // A skill granted inference in an agent without a model.
    config.agent(
        "ops",
        "id = \"ops\"\n[skills.summarize]\npath = \"{skill:summarize}\"\ngrants = { inference = true }\n",
    );
    let error = config.load_error("ops");
    assert!(error.contains("has no [inference] model"), "{error}");
}

/// A configuration whose agent `ops` grants the token-hog skill inference
/// with `grant`, under `budget` lines.
fn hog(model: &ScriptedModel, grant: &str, budget: &str) -> Config {
    let config = Config::new(&backends(&[("main", "openai", model.openai_url(), "")]));
    config.agent(
        "ops",
        &format!(
            "id = \"ops\"\n[tools]\nallow = [\"token-hog.*\", \"summarize.*\"]\n\
             [skills.token-hog]\npath = \"{{skill:token-hog}}\"\n{grant}\n\
             [skills.summarize]\npath = \"{{skill:summarize}}\"\ngrants = {{ inference = true }}\n\
             [inference]\nmodel = \"main/m\"\nfallback = [\"main/n\"]\n{budget}"
        ),
    );
    config
}

async fn spend(config: &Config, input: Value) -> Value {
    let (runtime, ops) = config.open("ops");
    let report = runtime
        .call(&ops, &session(), "token-hog", "spend", &input.to_string())
        .await;
    serde_json::from_str(&report.result.expect("spend returns")).unwrap()
}

#[tokio::test]
async fn a_skill_chats_through_the_agents_models_and_is_metered_to_it() {
    let model = ScriptedModel::start(|exchange| {
        let text = exchange
            .user_text()
            .split_whitespace()
            .take(2)
            .collect::<Vec<_>>();
        Reply::Text(text.join(" "))
    })
    .await;
    let config = hog(&model, "grants = { inference = true }", "");
    let (runtime, ops) = config.open("ops");

    let report = runtime
        .call(
            &ops,
            &session(),
            "summarize",
            "summarize",
            r#"{"text":"WebAssembly components run sandboxed","words":10}"#,
        )
        .await;
    let output: Value = serde_json::from_str(&report.result.unwrap()).unwrap();
    assert_eq!(output["summary"], "WebAssembly components");
    assert_eq!(output["tokens"], PROMPT_TOKENS + COMPLETION_TOKENS);
    let exchange = &model.exchanges()[0];
    assert_eq!(exchange.model(), "m");
    assert_eq!(exchange.body["max_tokens"], 20);
    assert!(exchange.body.get("tools").is_none());
    let spent = runtime.inference().usage(ops.id()).unwrap();
    assert_eq!(spent[&(usage::today(), "main/m".to_owned())].requests, 1);
}

#[tokio::test]
async fn a_skill_cannot_spend_more_tokens_in_a_call_than_its_grant_allows() {
    let model = ScriptedModel::start(|_| Reply::text("ok")).await;
    // 15 tokens an answer: after one, 5 are left; after two, none. Each
    // prompt ("round N") is about a token, which the cap counts too.
    let config = hog(&model, "grants = { inference = { max_tokens = 20 } }", "");
    let spent = spend(&config, json!({ "rounds": 10, "max_tokens": 1000 })).await;
    assert_eq!(spent["answers"].as_array().unwrap().len(), 2, "{spent}");
    let error = spent["error"].as_str().unwrap();
    assert!(
        error.starts_with("limit exceeded: skill 'token-hog' has spent the 20 tokens"),
        "{error}"
    );
    let exchanges = model.exchanges();
    assert_eq!(exchanges[0].body["max_tokens"], 19);
    assert_eq!(exchanges[1].body["max_tokens"], 4);
}

#[tokio::test]
async fn a_skills_chats_count_against_its_agents_budget() {
    let model = ScriptedModel::start(|_| Reply::text("ok")).await;
    let config = hog(
        &model,
        "grants = { inference = true }",
        "[inference.budget]\nrequests_per_day = 2",
    );
    let spent = spend(&config, json!({ "rounds": 5 })).await;
    assert_eq!(spent["answers"].as_array().unwrap().len(), 2, "{spent}");
    let error = spent["error"].as_str().unwrap();
    assert!(
        error.contains("agent 'ops' has used its budget of 2 requests per day"),
        "{error}"
    );
}

#[tokio::test]
async fn inference_is_denied_without_a_grant_and_bounded_with_one() {
    let model = ScriptedModel::start(|_| Reply::text("ok")).await;

    // Asked for in the manifest, not granted by the agent.
    let config = hog(&model, "", "");
    let spent = spend(&config, json!({ "rounds": 1 })).await;
    assert_eq!(
        spent["error"],
        "denied: inference is not granted to skill 'token-hog'"
    );

    let config = hog(&model, "grants = { inference = true }", "");
    // A role the import does not offer.
    let spent = spend(&config, json!({ "rounds": 1, "role": "tool" })).await;
    assert!(
        spent["error"]
            .as_str()
            .unwrap()
            .contains("'tool' is not a role"),
        "{spent}"
    );
    // A model the agent does not use; one it does.
    let spent = spend(&config, json!({ "rounds": 1, "model": "gpt-5" })).await;
    let error = spent["error"].as_str().unwrap();
    assert!(
        error.starts_with("denied: agent 'ops' does not use the model 'gpt-5'"),
        "{error}"
    );
    let spent = spend(&config, json!({ "rounds": 1, "model": "n" })).await;
    assert_eq!(spent["error"], Value::Null, "{spent}");
    assert_eq!(model.exchanges().len(), 1);
    assert_eq!(model.exchanges()[0].model(), "n");
}
