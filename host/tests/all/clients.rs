//! `skillbox serve` as the clients people point at it see it: the OpenAI
//! SDK retrieving a model and reading of a wait for approval in a stream,
//! LiteLLM's client assembling a streamed answer and its usage, Prometheus's `promtool` reading the metrics, and a misconfigured
//! client that fails over and over beside a good one.

use std::io::Write;
use std::process::{Command, Stdio};

use reqwest::StatusCode;
use scripted_model::ScriptedModel;
use serde_json::json;

use crate::served::{Api, Server, config, litellm_python, python, run_python, script};

#[tokio::test(flavor = "multi_thread")]
async fn the_openai_sdk_retrieves_a_model() {
    let model = ScriptedModel::start(script).await;
    let config = config(&model, "");
    let server = Server::start(config.path());
    let ops = server.token("ops");
    let code = r#"
import sys, openai
url, token = sys.argv[1], sys.argv[2]
client = openai.OpenAI(base_url=url + "/v1", api_key=token)
found = client.models.retrieve("ops")
print(found.id, found.object)
for other in ["assistant", "nobody"]:
    try:
        client.models.retrieve(other)
    except openai.NotFoundError as e:
        print("not found", other, e.status_code)
"#;
    let output = run_python(&python(), code, &[&server.url, &ops], "");
    assert_eq!(
        output,
        "ops model\nnot found assistant 404\nnot found nobody 404\n"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn litellm_streams_an_answer_and_builds_its_usage_from_the_final_chunk() {
    let model = ScriptedModel::start(script).await;
    let config = config(&model, "");
    let server = Server::start(config.path());
    let ops = server.token("ops");
    let code = r#"
import sys, litellm
litellm.suppress_debug_info = True
url, token = sys.argv[1], sys.argv[2]
question = [{"role": "user", "content": "How many words are in 'a b c d'?"}]
chunks = list(litellm.completion(
    model="openai/ops", api_base=url + "/v1", api_key=token, messages=question,
    stream=True, stream_options={"include_usage": True}))
usage = [c.usage for c in chunks if getattr(c, "usage", None)]
assert len(usage) == 1 and usage[0].total_tokens > 0, chunks
built = litellm.stream_chunk_builder(chunks, messages=question)
print(built.choices[0].message.content)
print(built.usage.total_tokens == usage[0].total_tokens)
"#;
    let output = run_python(&litellm_python(), code, &[&server.url, &ops], "");
    assert_eq!(output, "That is 4 words.\nTrue\n");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_openai_stream_tells_the_person_of_a_wait_for_approval_and_then_ends() {
    let model = ScriptedModel::start(script).await;
    let config = config(&model, "");
    let server = Server::start(config.path());
    let api = Api::new(&server);
    let (ops, admin) = (server.token("ops"), server.token("--admin"));
    let code = r#"
import sys, openai
url, token = sys.argv[1], sys.argv[2]
client = openai.OpenAI(base_url=url + "/v1", api_key=token)
chunks = client.chat.completions.create(
    model="ops", messages=[{"role": "user", "content": "Find the digits"}], stream=True)
print("".join(c.choices[0].delta.content or "" for c in chunks if c.choices))
"#;
    let (url, python) = (server.url.clone(), python());
    let client = tokio::task::spawn_blocking(move || run_python(&python, code, &[&url, &ops], ""));
    let prompt = api.next_approval(&admin).await;
    let id = prompt["id"].as_str().unwrap();
    let allow = json!({ "allow": true, "scope": "once" });
    let (status, body) = api
        .post(&format!("/v1/approvals/{id}"), &admin, allow)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let shown = client.await.unwrap();
    assert!(
        shown.contains("Waiting for approval: text.regex_extract"),
        "{shown}"
    );
    assert!(
        shown.contains(&format!("`skillbox approvals answer {id} allow`")),
        "{shown}"
    );
    assert!(
        shown.ends_with("Found: {\"matches\":[\"1\",\"22\"]}\n"),
        "{shown}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn promtool_accepts_the_metrics_and_openmetrics_is_there_for_who_asks() {
    let model = ScriptedModel::start(script).await;
    let config = config(&model, "");
    let server = Server::start(config.path());
    let api = Api::new(&server);
    let (ops, admin) = (server.token("ops"), server.token("--admin"));
    let (status, _) = api
        .post(
            "/v1/agents/ops/tools/text.word_count",
            &ops,
            json!({ "text": "a b" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    let scrape = |accept: Option<&'static str>| {
        let mut request = api
            .client
            .get(format!("{}/metrics", api.url))
            .bearer_auth(&admin);
        if let Some(accept) = accept {
            request = request.header("accept", accept);
        }
        async move {
            let response = request.send().await.unwrap();
            let kind = response.headers()["content-type"]
                .to_str()
                .unwrap()
                .to_owned();
            (kind, response.text().await.unwrap())
        }
    };
    let (kind, text) = scrape(None).await;
    assert!(kind.starts_with("text/plain; version=0.0.4"), "{kind}");
    assert!(text.contains("skillbox_tool_calls_total{"), "{text}");
    let promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool, from Debian's prometheus package (scripts/clients unpacks it)");
    let mut checked = promtool;
    checked
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let checked = checked.wait_with_output().unwrap();
    assert!(
        checked.status.success(),
        "promtool: {}{}\n{text}",
        String::from_utf8_lossy(&checked.stdout),
        String::from_utf8_lossy(&checked.stderr)
    );

    let (kind, text) = scrape(Some("application/openmetrics-text;version=1.0.0")).await;
    assert!(kind.starts_with("application/openmetrics-text"), "{kind}");
    assert!(text.ends_with("# EOF\n"), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_failing_a_hundred_times_never_locks_out_a_good_one() {
    let model = ScriptedModel::start(script).await;
    let config = config(&model, "auth_failures = 5\nauth_lockout = \"60s\"");
    let server = Server::start(config.path());
    let api = Api::new(&server);
    let ops = server.token("ops");
    let mut refused = Vec::new();
    for _ in 0..100 {
        // A scraper that lost its token, and one with a stale token.
        let (missing, _) = api.get("/v1/agents", "").await;
        let (stale, _) = api.get("/v1/agents", "sbx_revoked_long_ago").await;
        refused.extend([missing.as_u16(), stale.as_u16()]);
        let (good, body) = api.get("/v1/agents/ops", &ops).await;
        assert_eq!(good, StatusCode::OK, "{body}");
    }
    assert!(
        refused.iter().all(|s| [401, 429].contains(s)),
        "{refused:?}"
    );
    let locked = refused.iter().filter(|s| **s == 429).count();
    assert!(
        locked >= 180,
        "the failing clients are held off: {locked} of 200"
    );
}
