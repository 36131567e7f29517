//! Who may decide: a token that talks to an agent never approves what the
//! agent asks, never widens its grants, and never reads what only those
//! who oversee it may read; every route, every role.

use serde_json::{Value, json};
use tokio::task::JoinHandle;

use sandbox_tests::Config;
use sandbox_tests::api::Served;

/// `ops` may count words and is asked about the rest; `other` likewise.
fn config() -> Config {
    let config = Config::new("");
    for id in ["ops", "other"] {
        config.agent(
            id,
            &format!(
                "id = \"{id}\"\n[tools]\nallow = [\"text.word_count\"]\n\
                 [consent]\nmode = \"ask\"\ntimeout = \"30s\"\n\
                 [skills.text]\npath = \"{{skill:text}}\"\n"
            ),
        );
    }
    config
}

/// A call of `ops`'s that waits for a person.
fn extract(served: &std::sync::Arc<Served>, token: &str) -> JoinHandle<(u16, Value)> {
    let (served, token) = (served.clone(), token.to_owned());
    tokio::spawn(async move {
        let input = json!({ "text": "a1b22", "pattern": "[0-9]+" });
        served
            .post("/v1/agents/ops/tools/text.regex_extract", &token, input)
            .await
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn the_token_that_talks_to_an_agent_approves_nothing_through_any_route() {
    let config = config();
    let served = std::sync::Arc::new(Served::start(&config).await);
    let ops = served.token("agent:ops");
    let approver = served.token("approver:ops");
    let elsewhere = served.token("approver:other");

    let call = extract(&served, &ops);
    let prompt = served.next_approval(&approver).await;
    let answer = format!("/v1/approvals/{}", prompt["id"].as_str().unwrap());
    let always = json!({ "allow": true, "scope": "always" });

    // The prompt's own agent's token: it neither sees nor answers it.
    assert_eq!(served.get("/v1/approvals", &ops).await.0, 403);
    assert_eq!(served.post(&answer, &ops, always.clone()).await.0, 403);
    // An approver of another agent does not either.
    assert_eq!(
        served.post(&answer, &elsewhere, always.clone()).await.0,
        403
    );
    // Nor can the agent's token make itself an approver or an admin, or
    // reach any admin route.
    for (path, body) in [
        ("/v1/admin/tokens", json!({ "holder": "approver:ops" })),
        ("/v1/admin/tokens", json!({ "holder": "admin" })),
        ("/v1/admin/reload", json!({})),
        (
            "/v1/admin/skills/install",
            json!({ "agent": "ops", "skill": "x", "registry": "http://127.0.0.1:9/" }),
        ),
    ] {
        assert_eq!(served.post(path, &ops, body).await.0, 403, "{path}");
    }

    // A person who approves for it says no, always: the call is refused.
    let never = json!({ "allow": false, "scope": "always" });
    assert_eq!(served.post(&answer, &approver, never).await.0, 200);
    assert_eq!(call.await.unwrap().0, 403);

    // The agent's token cannot lift that no: it cannot list or revoke the
    // grant, and the next call is refused without a prompt.
    assert_eq!(served.get("/v1/agents/ops/grants", &ops).await.0, 403);
    let (_, grants) = served.get("/v1/agents/ops/grants", &approver).await;
    let grant = grants["grants"][0]["id"].as_str().unwrap().to_owned();
    let revoke = format!("/v1/agents/ops/grants/{grant}");
    assert_eq!(served.send("DELETE", &revoke, &ops, None).await.0, 403);
    assert_eq!(extract(&served, &ops).await.unwrap().0, 403);
    let (_, still) = served.get("/v1/agents/ops/grants", &approver).await;
    assert_eq!(still["grants"][0]["id"], grant.as_str());

    // What it reads of its agent leaves out what is the approvers'.
    let (status, agent) = served.get("/v1/agents/ops", &ops).await;
    assert_eq!(status, 200);
    assert!(agent.get("tools").is_some(), "{agent}");
    for hidden in ["grants", "usage", "budget_remaining"] {
        assert!(agent.get(hidden).is_none(), "{hidden}: {agent}");
    }
    assert_eq!(served.get("/v1/agents/ops/audit", &ops).await.0, 403);
    // The audit names who answered, and the grant is on record as theirs.
    let (_, audit) = served.get("/v1/agents/ops/audit", &approver).await;
    let entries = audit["entries"].as_array().unwrap();
    for event in ["prompt", "answer", "grant"] {
        let entry = entries.iter().find(|e| e["event"] == event);
        let Some(entry) = entry else {
            panic!("no {event} entry: {audit}")
        };
        if event != "prompt" {
            let by = entry["by"].as_str().unwrap_or("");
            assert!(by.contains("(approver)"), "{event}: {entry}");
        }
    }
}

/// What each role may do, route by route: the table in docs/security.md.
#[tokio::test(flavor = "multi_thread")]
async fn every_route_answers_each_role_as_the_table_says() {
    let config = config();
    let served = std::sync::Arc::new(Served::start(&config).await);
    let roles = [
        ("admin", served.token("admin")),
        ("approver", served.token("approver:ops")),
        ("other's approver", served.token("approver:other")),
        ("agent", served.token("agent:ops")),
        ("other's agent", served.token("agent:other")),
    ];
    let count = json!({ "text": "a b" });
    let message = json!({ "message": "hello" });
    let chat = json!({ "model": "ops", "messages": [{ "role": "user", "content": "hi" }] });
    // route, body, the roles it answers; anyone else is refused with 403,
    // or for a model, told there is none (404), as OpenAI's API does.
    let table: Vec<(&str, &str, Option<Value>, &[&str])> = vec![
        (
            "GET",
            "/v1/agents/ops",
            None,
            &["admin", "approver", "agent"],
        ),
        (
            "POST",
            "/v1/agents/ops/messages",
            Some(message),
            &["admin", "agent"],
        ),
        (
            "POST",
            "/v1/chat/completions",
            Some(chat),
            &["admin", "agent"],
        ),
        ("GET", "/v1/models/ops", None, &["admin", "agent"]),
        (
            "POST",
            "/v1/agents/ops/tools/text.word_count",
            Some(count),
            &["admin", "agent"],
        ),
        ("GET", "/v1/agents/ops/history", None, &["admin", "agent"]),
        ("GET", "/v1/agents/ops/grants", None, &["admin", "approver"]),
        (
            "DELETE",
            "/v1/agents/ops/grants/g0",
            None,
            &["admin", "approver"],
        ),
        ("GET", "/v1/agents/ops/audit", None, &["admin", "approver"]),
        (
            "GET",
            "/v1/agents/ops/audit/verify",
            None,
            &["admin", "approver"],
        ),
        (
            "GET",
            "/v1/approvals",
            None,
            &["admin", "approver", "other's approver"],
        ),
        ("GET", "/v1/admin/tokens", None, &["admin"]),
        ("POST", "/v1/admin/reload", Some(json!({})), &["admin"]),
        ("GET", "/metrics", None, &["admin"]),
        ("GET", "/v1/admin/agents/ops/export", None, &["admin"]),
        (
            "POST",
            "/v1/admin/agents/ops/import",
            Some(json!({})),
            &["admin"],
        ),
        ("DELETE", "/v1/admin/agents/nobody/data", None, &["admin"]),
    ];
    let mut wrong = Vec::new();
    for (method, path, body, answered) in &table {
        for (role, token) in &roles {
            let (status, reply) = served.send(method, path, token, body.clone()).await;
            let refusal = if path.starts_with("/v1/models/") {
                404
            } else {
                403
            };
            let refused = status == refusal;
            if refused == answered.contains(role) || status == 401 {
                wrong.push(format!("{method} {path} as {role}: {status} {reply}"));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));

    // Answering a prompt: its agent's approvers and the admin only. Those
    // who may not are tried while it is pending.
    let ops = &roles[3].1;
    let call = extract(&served, ops);
    let prompt = served.next_approval(&roles[1].1).await;
    let answer = format!("/v1/approvals/{}", prompt["id"].as_str().unwrap());
    let once = json!({ "allow": true, "scope": "once" });
    for (role, token) in &roles {
        if !["admin", "approver"].contains(role) {
            let (status, _) = served.post(&answer, token, once.clone()).await;
            assert_eq!(status, 403, "answering as {role}");
        }
    }
    assert_eq!(served.post(&answer, &roles[1].1, once).await.0, 200);
    assert_eq!(call.await.unwrap().0, 200);
}
