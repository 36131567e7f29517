//! `skillbox serve` as people run it: a real process on an ephemeral port,
//! driven over HTTP, with a scripted model server standing in for the LLM.
//! The OpenAI-compatible endpoint is driven by the Python `openai` package
//! and `/metrics` parsed by `prometheus_client`'s OpenMetrics parser, both
//! installed by scripts/test (which sets $SKILLBOX_TEST_PYTHON).

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use eventsource_stream::Eventsource;
use futures_util::StreamExt;
use reqwest::StatusCode;
use scripted_model::{Exchange, Reply, ScriptedModel};
use serde_json::{Value, json};

use crate::served::{Api, Server, config, json_body, python, run_python, script, write_ops};
use crate::util::skillbox as command;

#[tokio::test(flavor = "multi_thread")]
async fn each_agent_reaches_only_its_own_tools_with_only_its_own_token() {
    let model = ScriptedModel::start(script).await;
    let config = config(&model, "");
    let server = Server::start(config.path());
    let api = Api::new(&server);
    let (ops, assistant, admin) = (
        server.token("ops"),
        server.token("assistant"),
        server.token("--admin"),
    );

    let count = json!({ "text": "one two three" });
    let (status, body) = api
        .post("/v1/agents/ops/tools/text.word_count", &ops, count.clone())
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["output"]["words"], 3);

    let note = json!({ "key": "k", "text": "v" });
    let (status, body) = api
        .post(
            "/v1/agents/assistant/tools/notes.remember",
            &ops,
            note.clone(),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("agent 'ops'")
    );
    let (status, _) = api.get("/v1/agents/assistant/history", &ops).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Each agent may call only its own tools, whoever asks.
    let (status, body) = api
        .post(
            "/v1/agents/assistant/tools/notes.remember",
            &assistant,
            note.clone(),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = api
        .post(
            "/v1/agents/assistant/tools/text.word_count",
            &admin,
            count.clone(),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"]["type"], "denied");
    let (status, body) = api
        .post("/v1/agents/ops/tools/notes.remember", &admin, note)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");

    // An agent's token lists that agent alone; the admin's, all.
    let (_, body) = api.get("/v1/agents", &ops).await;
    let ids: Vec<&str> = body["agents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["ops"]);
    let (_, body) = api.get("/v1/agents", &admin).await;
    assert_eq!(body["agents"].as_array().unwrap().len(), 2);

    let (status, body) = api.get("/v1/agents/ops", &ops).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let tools: Vec<&str> = body["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(tools, ["text.word_count"]);

    // No token, or a made-up one: 401. The admin endpoints need the admin.
    let (status, _) = api.get("/v1/agents", "").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = api.get("/v1/agents", "sbx_madeup").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = api.post("/v1/admin/reload", &ops, json!({})).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = api.get("/metrics", &assistant).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_prompt_is_answered_through_the_api_and_its_grant_revoked() {
    let model = ScriptedModel::start(script).await;
    let config = config(&model, "");
    let server = Server::start(config.path());
    let api = Arc::new(Api::new(&server));
    let (ops, assistant) = (server.token("ops"), server.token("assistant"));
    let approver = server.token("ops --role approver");
    let extract = || {
        let (api, ops) = (api.clone(), ops.clone());
        tokio::spawn(async move {
            let input = json!({ "text": "a1b22", "pattern": "[0-9]+" });
            api.post("/v1/agents/ops/tools/text.regex_extract", &ops, input)
                .await
        })
    };

    // Not allowed: the call waits for a person.
    let call = extract();
    let prompt = api.next_approval(&approver).await;
    assert_eq!(prompt["agent"], "ops");
    assert_eq!(prompt["capability"]["kind"], "tool");
    assert_eq!(prompt["capability"]["tool"], "text.regex_extract");
    assert!(prompt["arguments"].as_str().unwrap().contains("a1b22"));
    let id = prompt["id"].as_str().unwrap();
    // Another agent's token neither sees nor answers it.
    let (status, _) = api.get("/v1/approvals", &assistant).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let always = json!({ "allow": true, "scope": "always" });
    let (status, _) = api
        .post(&format!("/v1/approvals/{id}"), &assistant, always.clone())
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Nor does the token that talks to it: whoever drives an agent cannot
    // approve what it asks.
    let (status, _) = api.get("/v1/approvals", &ops).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = api
        .post(&format!("/v1/approvals/{id}"), &ops, always.clone())
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let (status, body) = api
        .post(&format!("/v1/approvals/{id}"), &approver, always)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = call.await.unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["output"]["matches"], json!(["1", "22"]));

    // Remembered: the next call asks nobody.
    let (status, _) = extract().await.unwrap();
    assert_eq!(status, StatusCode::OK);
    let (status, _) = api.get("/v1/agents/ops/grants", &ops).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (_, grants) = api.get("/v1/agents/ops/grants", &approver).await;
    let grants = grants["grants"].as_array().unwrap();
    assert_eq!(grants.len(), 1, "{grants:?}");
    let grant = grants[0]["id"].as_str().unwrap();
    let (_, audit) = api.get("/v1/agents/ops/audit", &approver).await;
    assert!(
        audit["entries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["grant"] == grant && e["decision"] == "allowed"),
        "{audit}"
    );

    // Revoked: the next call asks again; denied, it is refused.
    let revoke = format!("/v1/agents/ops/grants/{grant}");
    let (status, _) = api.delete(&revoke, &ops).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = api.delete(&revoke, &approver).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let call = extract();
    let prompt = api.next_approval(&approver).await;
    let id = prompt["id"].as_str().unwrap();
    let deny = json!({ "allow": false, "scope": "once" });
    let (status, _) = api
        .post(&format!("/v1/approvals/{id}"), &approver, deny)
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = call.await.unwrap();
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("denied by a person")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_turn_streams_tokens_tool_calls_and_approvals_as_sse() {
    let model = ScriptedModel::start(script).await;
    let config = config(&model, "");
    let server = Server::start(config.path());
    let api = Api::new(&server);
    let ops = server.token("ops");
    let approver = server.token("ops --role approver");

    let events = |message: &str| {
        let request = api
            .client
            .post(format!("{}/v1/agents/ops/messages", api.url));
        json_body(
            request,
            &json!({ "message": message, "conversation": "c1", "stream": true }),
        )
        .bearer_auth(&ops)
        .send()
    };
    let response = events("How many words are in 'one two three four'?")
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let mut stream = response.bytes_stream().eventsource();
    let mut names = Vec::new();
    let mut text = String::new();
    let mut done = Value::Null;
    while let Some(event) = stream.next().await {
        let event = event.unwrap();
        let data: Value = serde_json::from_str(&event.data).unwrap();
        match event.event.as_str() {
            "token" => text.push_str(data["text"].as_str().unwrap()),
            "done" => done = data,
            _ => {}
        }
        names.push(event.event);
    }
    let order: Vec<&str> = names
        .iter()
        .map(String::as_str)
        .filter(|n| *n != "token")
        .collect();
    assert_eq!(order, ["tool_call", "tool_result", "done"], "{names:?}");
    assert_eq!(text, "That is 4 words.");
    assert_eq!(done["answer"], "That is 4 words.");
    assert_eq!(done["conversation"], "c1");

    // A call that needs a person: the stream says so, and waits.
    let response = events("Find the digits, please").await.unwrap();
    let mut stream = response.bytes_stream().eventsource();
    let mut answer = Value::Null;
    while let Some(event) = stream.next().await {
        let event = event.unwrap();
        let data: Value = serde_json::from_str(&event.data).unwrap();
        match event.event.as_str() {
            "approval" => {
                assert_eq!(data["capability"]["tool"], "text.regex_extract");
                let id = data["id"].as_str().unwrap();
                let allow = json!({ "allow": true, "scope": "once" });
                let answer = format!("/v1/approvals/{id}");
                let (status, _) = api.post(&answer, &approver, allow).await;
                assert_eq!(status, StatusCode::OK);
            }
            "done" => answer = data["answer"].clone(),
            "error" => panic!("the turn failed: {data}"),
            _ => {}
        }
    }
    assert_eq!(answer, r#"Found: {"matches":["1","22"]}"#);

    // The whole turn, without a stream; and the history holds all three.
    let (status, body) = api
        .post(
            "/v1/agents/ops/messages",
            &ops,
            json!({ "message": "How many words are in 'a b'?", "conversation": "c1" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["answer"], "That is 2 words.");
    let (_, history) = api
        .get("/v1/agents/ops/history?conversation=c1", &ops)
        .await;
    let users = history["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "user")
        .count();
    assert_eq!(users, 3, "{history}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_openai_python_client_talks_to_an_agent() {
    let model = ScriptedModel::start(script).await;
    let config = config(&model, "");
    let server = Server::start(config.path());
    let ops = server.token("ops");
    let code = r#"
import sys, openai
url, token = sys.argv[1], sys.argv[2]
client = openai.OpenAI(base_url=url + "/v1", api_key=token)
assert [m.id for m in client.models.list()] == ["ops"]
question = [{"role": "user", "content": "How many words are in 'a b c d'?"}]
whole = client.chat.completions.create(model="ops", messages=question)
print(whole.choices[0].message.content)
assert whole.usage.total_tokens > 0
chunks = client.chat.completions.create(model="ops", messages=question, stream=True)
print("".join(c.choices[0].delta.content or "" for c in chunks if c.choices))
later = question + [
    {"role": "assistant", "content": "That is 4 words."},
    {"role": "user", "content": "My name is Ada."},
    {"role": "assistant", "content": "Noted."},
    {"role": "user", "content": "What is my name?"},
]
print(client.chat.completions.create(model="ops", messages=later).choices[0].message.content)
try:
    client.chat.completions.create(model="assistant", messages=question)
except openai.PermissionDeniedError as e:
    print("refused", e.status_code)
"#;
    let output = run_python(&python(), code, &[&server.url, &ops], "");
    assert_eq!(
        output,
        "That is 4 words.\nThat is 4 words.\nYou are Ada.\nrefused 403\n"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_broken_reload_keeps_the_running_configuration() {
    let model = ScriptedModel::start(script).await;
    let config = config(&model, "");
    let server = Server::start(config.path());
    let api = Api::new(&server);
    let (ops, admin) = (server.token("ops"), server.token("--admin"));
    let count = || json!({ "text": "one two" });

    std::fs::write(
        config.path().join("agents/ops.toml"),
        "id = \"ops\"\n[tools\n",
    )
    .unwrap();
    let (status, body) = api.post("/v1/admin/reload", &admin, json!({})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("ops.toml:2"), "{message}");
    server.signal("-HUP");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (status, body) = api
        .post("/v1/agents/ops/tools/text.word_count", &ops, count())
        .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the old configuration serves: {body}"
    );

    // A grant the manifest never asked for is refused too.
    write_ops(
        config.path(),
        "[skills.text.grants]\nnetwork = [\"https://example.com\"]\n",
    );
    let (status, body) = api.post("/v1/admin/reload", &admin, json!({})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

    // A good one applies: ops may now extract, and a new agent appears.
    write_ops(config.path(), "");
    let text = std::fs::read_to_string(config.path().join("agents/ops.toml")).unwrap();
    std::fs::write(
        config.path().join("agents/ops.toml"),
        text.replace("[\"text.word_count\"]", "[\"text.*\"]"),
    )
    .unwrap();
    std::fs::write(config.path().join("agents/extra.toml"), "id = \"extra\"\n").unwrap();
    server.signal("-HUP");
    let mut ids = Vec::new();
    for _ in 0..100 {
        let (_, body) = api.get("/v1/agents", &admin).await;
        ids = body["agents"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["id"].clone())
            .collect();
        if ids.len() == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(ids, ["assistant", "extra", "ops"]);
    let input = json!({ "text": "a1", "pattern": "[0-9]" });
    let (status, body) = api
        .post("/v1/agents/ops/tools/text.regex_extract", &ops, input)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn sigkill_loses_no_acknowledged_memory_write_or_grant() {
    let model = ScriptedModel::start(script).await;
    let config = config(&model, "");
    let mut server = Server::start(config.path());
    let api = Arc::new(Api::new(&server));
    let (ops, assistant) = (server.token("ops"), server.token("assistant"));

    // Eight writers, each remembering note after note, keep what was
    // acknowledged.
    let acknowledged = Arc::new(Mutex::new(Vec::new()));
    let writers: Vec<_> = (0..8)
        .map(|writer| {
            let (api, token, acknowledged) = (api.clone(), assistant.clone(), acknowledged.clone());
            tokio::spawn(async move {
                for n in 0.. {
                    let key = format!("w{writer}-{n}");
                    let note = json!({ "key": key, "text": format!("text of {key}") });
                    let url = format!("{}/v1/agents/assistant/tools/notes.remember", api.url);
                    let request = json_body(api.client.post(url), &note).bearer_auth(&token);
                    match request.send().await {
                        Ok(response) if response.status() == StatusCode::OK => {
                            acknowledged.lock().unwrap().push(key)
                        }
                        _ => break,
                    }
                }
            })
        })
        .collect();
    while acknowledged.lock().unwrap().len() < 100 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // A person allows a tool always, and is told so.
    let extracting = {
        let (api, ops) = (api.clone(), ops.clone());
        tokio::spawn(async move {
            let input = json!({ "text": "a1", "pattern": "[0-9]" });
            api.post("/v1/agents/ops/tools/text.regex_extract", &ops, input)
                .await
        })
    };
    let approver = server.token("ops --role approver");
    let prompt = api.next_approval(&approver).await;
    let id = prompt["id"].as_str().unwrap();
    let always = json!({ "allow": true, "scope": "always" });
    let answer = format!("/v1/approvals/{id}");
    let (status, _) = api.post(&answer, &approver, always).await;
    assert_eq!(status, StatusCode::OK);

    // Killed mid-write.
    server.child.kill().unwrap();
    server.wait();
    for writer in writers {
        writer.await.unwrap();
    }
    let _ = extracting.await;
    let acknowledged = acknowledged.lock().unwrap().clone();

    let server = Server::start(config.path());
    let api = Api::new(&server);
    let (_, grants) = api.get("/v1/agents/ops/grants", &approver).await;
    let grants = grants["grants"].as_array().unwrap();
    assert!(
        grants
            .iter()
            .any(|g| g["capability"]["tool"] == "text.regex_extract" && g["allow"] == true),
        "the grant survived: {grants:?}"
    );
    for key in &acknowledged {
        let (status, body) = api
            .post(
                "/v1/agents/assistant/tools/notes.recall",
                &assistant,
                json!({ "key": key }),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{key}: {body}");
        assert_eq!(body["output"]["text"], format!("text of {key}"), "{key}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn repeated_bad_tokens_lock_out_that_token_not_the_good_ones_until_the_lockout_passes() {
    let model = ScriptedModel::start(script).await;
    let config = config(&model, "auth_failures = 3\nauth_lockout = \"2s\"");
    let server = Server::start(config.path());
    let api = Api::new(&server);
    let ops = server.token("ops");

    let (status, _) = api.get("/v1/agents", &ops).await;
    assert_eq!(status, StatusCode::OK);
    for expected in [401, 401, 429] {
        let (status, _) = api.get("/v1/agents", "sbx_guess").await;
        assert_eq!(status.as_u16(), expected);
    }
    // The failing token is locked out, told when to come back.
    let response = api
        .client
        .get(format!("{}/v1/agents", api.url))
        .bearer_auth("sbx_guess")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&wait), "Retry-After: {wait}");
    // A good token from the same address is never refused for it.
    let (status, body) = api.get("/v1/agents", &ops).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // The health checks stay open.
    let health = api
        .client
        .get(format!("{}/healthz", api.url))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), StatusCode::OK);

    tokio::time::sleep(Duration::from_millis(2_100)).await;
    let (status, body) = api.get("/v1/agents", "sbx_guess").await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "the lock cleared by itself: {body}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_parse_as_openmetrics_and_count_per_agent_with_a_cap() {
    let model = ScriptedModel::start(script).await;
    let config = config(&model, "metrics_agent_labels = 1");
    let server = Server::start(config.path());
    let api = Api::new(&server);
    let (ops, assistant, admin) = (
        server.token("ops"),
        server.token("assistant"),
        server.token("--admin"),
    );
    let (status, _) = api
        .post(
            "/v1/agents/ops/tools/text.word_count",
            &ops,
            json!({ "text": "a b" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = api
        .post(
            "/v1/agents/ops/tools/text.word_count",
            &ops,
            json!({ "words": 1 }),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = api
        .post(
            "/v1/agents/assistant/messages",
            &assistant,
            json!({ "message": "hello" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    // A scraper that asks for OpenMetrics gets it.
    let response = api
        .client
        .get(format!("{}/metrics", api.url))
        .bearer_auth(&admin)
        .header("accept", "application/openmetrics-text; version=1.0.0")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let text = response.text().await.unwrap();
    let parse = r#"
import sys, json
from prometheus_client.openmetrics.parser import text_string_to_metric_families
families = {}
for family in text_string_to_metric_families(sys.stdin.read()):
    families[family.name] = {
        "type": family.type,
        "samples": [[s.name, s.labels, s.value] for s in family.samples],
    }
print(json.dumps(families))
"#;
    let families: Value = serde_json::from_str(&run_python(&python(), parse, &[], &text)).unwrap();
    let value = |family: &str, sample: &str, labels: Value| -> f64 {
        let samples = families[family]["samples"].as_array().unwrap_or_else(|| {
            panic!("no family {family} in {text}");
        });
        samples
            .iter()
            .filter(|s| s[0] == sample)
            .filter(|s| {
                labels
                    .as_object()
                    .unwrap()
                    .iter()
                    .all(|(k, v)| s[1][k] == *v)
            })
            .map(|s| s[2].as_f64().unwrap())
            .sum()
    };
    let tool = |outcome: &str| {
        value(
            "skillbox_tool_calls",
            "skillbox_tool_calls_total",
            json!({ "agent": "ops", "skill": "text", "tool": "word_count", "outcome": outcome }),
        )
    };
    assert_eq!(tool("ok"), 1.0);
    assert_eq!(tool("invalid_input"), 1.0);
    assert_eq!(families["skillbox_tool_call_seconds"]["type"], "histogram");
    let sandboxes = value(
        "skillbox_sandbox_instantiations",
        "skillbox_sandbox_instantiations_total",
        json!({ "agent": "ops" }),
    );
    assert_eq!(sandboxes, 1.0, "invalid input never reaches a sandbox");
    assert_eq!(
        families["skillbox_consent_prompts_pending"]["type"],
        "gauge"
    );
    // Past the label cap of one agent, the assistant counts as _other.
    let requests = value(
        "skillbox_inference_requests",
        "skillbox_inference_requests_total",
        json!({ "agent": "_other", "backend": "local", "model": "m", "outcome": "ok" }),
    );
    assert_eq!(requests, 1.0);
    let tokens_in = value(
        "skillbox_inference_tokens",
        "skillbox_inference_tokens_total",
        json!({ "agent": "_other", "direction": "in" }),
    );
    assert!(tokens_in > 0.0);
    for family in [
        "skillbox_inference_queue_wait_seconds",
        "skillbox_inference_latency_seconds",
    ] {
        let count = value(
            family,
            &format!("{family}_count"),
            json!({ "backend": "local" }),
        );
        assert_eq!(count, 1.0, "{family}");
    }
    let left = value(
        "skillbox_budget_remaining",
        "skillbox_budget_remaining",
        json!({ "limit": "tokens_per_day" }),
    );
    assert!(left > 0.0 && left < 100_000.0, "{left}");
}

#[tokio::test(flavor = "multi_thread")]
async fn huge_bodies_and_slow_clients_are_cut_off() {
    let model = ScriptedModel::start(script).await;
    let config = config(&model, "max_body = \"64KiB\"\nrequest_timeout = \"1s\"");
    let server = Server::start(config.path());
    let api = Api::new(&server);
    let ops = server.token("ops");

    let huge = json!({ "text": "word ".repeat(20_000) });
    let (status, body) = api
        .post("/v1/agents/ops/tools/text.word_count", &ops, huge)
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");

    // Headers that never end, and a body that never comes: the server
    // hangs up after request_timeout.
    let addr = server.url.trim_start_matches("http://").to_owned();
    for partial in [
        "GET /v1/agents HTTP/1.1\r\nHost: x\r\n".to_owned(),
        format!(
            "POST /v1/agents/ops/tools/text.word_count HTTP/1.1\r\nHost: x\r\n\
             Authorization: Bearer {ops}\r\nContent-Type: application/json\r\n\
             Content-Length: 100\r\n\r\n{{\"te"
        ),
    ] {
        let addr = addr.clone();
        let answer = tokio::task::spawn_blocking(move || {
            let mut stream = std::net::TcpStream::connect(addr).unwrap();
            stream.write_all(partial.as_bytes()).unwrap();
            stream
                .set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            let started = std::time::Instant::now();
            let mut answer = String::new();
            let _ = stream.read_to_string(&mut answer);
            (started.elapsed(), answer)
        })
        .await
        .unwrap();
        assert!(answer.0 < Duration::from_secs(5), "held for {:?}", answer.0);
        assert!(
            answer.1.is_empty() || answer.1.starts_with("HTTP/1.1 408"),
            "{}",
            answer.1
        );
    }
    let (status, _) = api.get("/v1/agents", &ops).await;
    assert_eq!(status, StatusCode::OK, "the server still serves");
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_lets_a_running_turn_finish_then_exits_cleanly() {
    let slow = |exchange: &Exchange| Reply::after(Duration::from_millis(1_500), script(exchange));
    let model = ScriptedModel::start(slow).await;
    let config = config(&model, "");
    let mut server = Server::start(config.path());
    let api = Arc::new(Api::new(&server));
    let assistant = server.token("assistant");

    let turn = {
        let (api, assistant) = (api.clone(), assistant.clone());
        tokio::spawn(async move {
            let message = json!({ "message": "Remember this" });
            api.post("/v1/agents/assistant/messages", &assistant, message)
                .await
        })
    };
    while model.exchanges().is_empty() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.signal("-TERM");
    let (status, body) = turn.await.unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["answer"], "Noted: Remember this");
    assert!(server.wait().success());

    // Its turn is in the history, and usage was written on the way out.
    let server = Server::start(config.path());
    let api = Api::new(&server);
    let approver = server.token("assistant --role approver");
    let (_, agent) = api.get("/v1/agents/assistant", &approver).await;
    assert_eq!(agent["usage"][0]["spent"]["requests"], 1, "{agent}");
    let (_, history) = api
        .get(
            "/v1/agents/assistant/history?conversation=default",
            &assistant,
        )
        .await;
    assert_eq!(
        history["messages"].as_array().unwrap().len(),
        2,
        "{history}"
    );
}

#[test]
fn token_list_shows_holders_never_tokens() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("agents")).unwrap();
    std::fs::write(dir.path().join("agents/ops.toml"), "id = \"ops\"\n").unwrap();
    let skillbox = |args: &[&str]| {
        command()
            .args(args)
            .arg("--config")
            .arg(dir.path())
            .output()
            .unwrap()
    };
    let issued = skillbox(&["token", "new", "ops"]);
    assert!(issued.status.success());
    let token = String::from_utf8(issued.stdout).unwrap();
    assert!(token.starts_with("sbx_"));
    let unknown = skillbox(&["token", "new", "nobody"]);
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no agent 'nobody'"));
    let list = String::from_utf8(skillbox(&["token", "list"]).stdout).unwrap();
    assert!(
        list.contains("agent:ops") && !list.contains(token.trim()),
        "{list}"
    );
    let holders: BTreeSet<&str> = list
        .lines()
        .map(|l| l.split_whitespace().nth(1).unwrap())
        .collect();
    assert_eq!(holders, BTreeSet::from(["agent:ops"]));
}
