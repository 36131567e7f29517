//! Secrets from the hostile side: a guest never sees a secret, the host
//! injects it only into requests to the hosts it is bound to, and a request
//! carrying its value anywhere else (however encoded) never leaves.

use std::os::unix::fs::PermissionsExt;

use sandbox_tests::http::TestServer;
use sandbox_tests::{Config, assert_kind, call, fail};
use skillbox::Agent;
use skillbox::CallErrorKind;
use skillbox::Runtime;

const SECRET: &str = "sk-live-4f9a8b7c6d5e4f3a";

/// An agent holding `skill`, which may reach `api.test` (the secret's host)
/// and its subdomains on `api`'s port and `elsewhere.test` on `other`'s,
/// with API_KEY bound. Subdomains resolve to nothing the agent may reach, so
/// a request to one that got past the secret scan would be refused for its
/// address instead, with a different error.
fn agent_with(skill: &str, api: &TestServer, other: &TestServer) -> (Config, Runtime, Agent) {
    let config = config_with(skill, api, other);
    let (runtime, agent) = config.open("leaky");
    (config, runtime, agent)
}

/// The configuration of [`agent_with`], not yet opened.
fn config_with(skill: &str, api: &TestServer, other: &TestServer) -> Config {
    let config = Config::new(
        "[network.hosts]\n\"api.test\" = [\"127.0.0.1\"]\n\"elsewhere.test\" = [\"127.0.0.1\"]\n",
    );
    let key_file = config.path().join("api-key");
    std::fs::write(&key_file, format!("{SECRET}\n")).unwrap();
    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    config.agent(
        "leaky",
        &format!(
            "id = \"leaky\"\n[tools]\nallow = [\"*\"]\n[skills.{skill}]\npath = \"{{skill:{skill}}}\"\n\
             [skills.{skill}.grants]\n\
             network = [{{ url = \"http://api.test:{0}\", allow_private = true }},\n\
                        \"http://*.api.test:{0}\",\n\
                        {{ url = \"http://elsewhere.test:{1}\", allow_private = true }}]\n\
             secrets = {{ API_KEY = {{ file = \"api-key\" }} }}\n",
            api.port(),
            other.port()
        ),
    );
    config
}

fn leak(url: &str, via: &str) -> String {
    serde_json::json!({ "url": url, "value": SECRET, "via": via }).to_string()
}

/// The secret appears nowhere the servers saw it, except in the header the
/// host injects on requests to `api.test`.
fn assert_never_received(servers: &[&TestServer]) {
    for server in servers {
        for request in server.requests() {
            let mut seen = format!("{} {:?}", request.uri, request.body);
            for (name, value) in &request.headers {
                if name != "x-api-key" {
                    seen.push_str(&format!(" {name}: {value:?}"));
                }
            }
            assert!(
                !seen.contains(SECRET),
                "the secret reached a server: {seen}"
            );
        }
    }
}

#[tokio::test]
async fn a_secret_is_injected_on_its_host_and_nowhere_else() {
    let (api, other) = (TestServer::start().await, TestServer::start().await);
    let (_config, runtime, agent) = agent_with("exfil", &api, &other);
    let to_api = format!("http://api.test:{}/v1", api.port());
    let to_other = format!("http://elsewhere.test:{}/", other.port());
    for url in [&to_api, &to_other] {
        let report = call(&runtime, &agent, "leak", &leak(url, "none")).await;
        assert_eq!(report.result.unwrap(), r#"{"body":"ok","status":200}"#);
    }
    let injected = api.requests()[0].headers.get("x-api-key").cloned();
    assert_eq!(injected.unwrap(), SECRET);
    assert!(other.requests()[0].headers.get("x-api-key").is_none());
}

#[tokio::test]
async fn a_secret_in_the_url_body_base64_header_or_subdomain_never_leaves() {
    let (api, other) = (TestServer::start().await, TestServer::start().await);
    let (_config, runtime, agent) = agent_with("exfil", &api, &other);
    for server in [&api, &other] {
        let host = if server.port() == api.port() {
            "api.test"
        } else {
            "elsewhere.test"
        };
        let url = format!("http://{host}:{}/collect", server.port());
        for via in [
            "query",
            "partly-encoded",
            "userinfo",
            "body",
            "base64",
            "header",
            "subdomain",
            "method",
        ] {
            let error = fail(&runtime, &agent, "leak", &leak(&url, via)).await;
            assert_kind(
                &error,
                |k| matches!(k, CallErrorKind::Denied(m) if m == "the host refused the request"),
            );
        }
    }
    assert!(api.requests().is_empty() && other.requests().is_empty());
    assert_never_received(&[&api, &other]);
}

#[tokio::test]
async fn a_secret_echoed_by_its_host_is_masked() {
    let (api, other) = (TestServer::start().await, TestServer::start().await);
    let (_config, runtime, agent) = agent_with("exfil", &api, &other);
    let url = format!("http://api.test:{}/echo", api.port());
    let report = call(&runtime, &agent, "leak", &leak(&url, "none")).await;
    let output = report.result.unwrap();
    assert!(
        !output.contains(SECRET),
        "the guest saw the secret: {output}"
    );
    assert!(
        output.contains(&format!("x-api-key: {}", "*".repeat(SECRET.len()))),
        "{output}"
    );
    assert_eq!(
        api.requests()[0].headers["x-api-key"],
        SECRET,
        "the host did send it"
    );
}

#[tokio::test]
async fn the_guest_cannot_set_the_injected_header_or_host() {
    let (api, other) = (TestServer::start().await, TestServer::start().await);
    let (_config, runtime, agent) = agent_with("header-forger", &api, &other);
    let url = format!("http://api.test:{}/", api.port());
    let input = serde_json::json!({
        "url": url,
        "headers": ["X-Api-Key", "Host", "Transfer-Encoding", "Authorization", "X-Other"],
    })
    .to_string();
    let report = call(&runtime, &agent, "forge", &input).await;
    let outcome: serde_json::Value = serde_json::from_str(&report.result.unwrap()).unwrap();
    for forbidden in ["X-Api-Key", "Host", "Transfer-Encoding"] {
        let result = outcome[forbidden].as_str().unwrap();
        assert!(
            result.starts_with("invalid: header"),
            "{forbidden}: {result}"
        );
    }
    assert_eq!(outcome["Authorization"], "sent");
    assert_eq!(outcome["X-Other"], "sent");
    for request in api.requests() {
        assert_eq!(
            request.headers["x-api-key"], SECRET,
            "only the host sets it"
        );
        assert_eq!(request.headers["host"], format!("api.test:{}", api.port()));
    }
}

#[test]
fn a_secrets_file_readable_by_others_is_refused() {
    let config = Config::new("");
    let key_file = config.path().join("api-key");
    std::fs::write(&key_file, SECRET).unwrap();
    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o644)).unwrap();
    config.agent(
        "leaky",
        "id = \"leaky\"\n[skills.exfil]\npath = \"{skill:exfil}\"\n\
         [skills.exfil.grants]\nsecrets = { API_KEY = { file = \"api-key\" } }\n",
    );
    let message = config.load_error("leaky");
    assert!(
        message.contains("leaky.toml:5: field 'skills.exfil.grants.secrets.API_KEY'"),
        "{message}"
    );
    assert!(message.contains("must have mode 0600"), "{message}");
}

/// The forms of the secret a guest could decode for itself.
fn encodings_of_the_secret() -> Vec<String> {
    use base64::Engine;
    vec![
        SECRET.to_owned(),
        SECRET.to_uppercase(),
        hex::encode(SECRET),
        base64::engine::general_purpose::STANDARD.encode(SECRET),
    ]
}

#[tokio::test]
async fn a_compressed_echo_of_a_secret_is_still_masked() {
    use base64::Engine;
    let (api, other) = (TestServer::start().await, TestServer::start().await);
    let (_config, runtime, agent) = agent_with("exfil", &api, &other);
    // The guest asks for gzip; the second server compresses whatever it is
    // asked for.
    for path in ["/echo-gzip", "/echo-gzip?always"] {
        let url = format!("http://api.test:{}{path}", api.port());
        let report = call(&runtime, &agent, "leak", &leak(&url, "gzip")).await;
        let output: serde_json::Value = serde_json::from_str(&report.result.unwrap()).unwrap();
        let body = base64::engine::general_purpose::STANDARD
            .decode(output["body_base64"].as_str().unwrap())
            .unwrap();
        // What the guest could read, decompressing it itself if it must.
        let mut text = String::from_utf8_lossy(&body).into_owned();
        if body.starts_with(&[0x1f, 0x8b]) {
            text.clear();
            std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&body[..]), &mut text)
                .unwrap();
        }
        assert!(
            !text.contains(SECRET),
            "the guest read the secret through {path}"
        );
        assert!(text.contains(&"*".repeat(SECRET.len())), "{text}");
    }
    for request in api.requests() {
        assert_eq!(request.headers["accept-encoding"], "identity");
    }
}

#[tokio::test]
async fn a_secret_echoed_in_another_encoding_or_case_is_masked() {
    let (api, other) = (TestServer::start().await, TestServer::start().await);
    let (_config, runtime, agent) = agent_with("exfil", &api, &other);
    let url = format!("http://api.test:{}/echo-encoded", api.port());
    let output = call(&runtime, &agent, "leak", &leak(&url, "none"))
        .await
        .result
        .unwrap();
    for encoded in encodings_of_the_secret() {
        assert!(
            !output.to_lowercase().contains(&encoded.to_lowercase()),
            "the guest saw {encoded}: {output}"
        );
    }
}

#[tokio::test]
async fn a_secret_encoded_twice_or_escaped_never_leaves() {
    let (api, other) = (TestServer::start().await, TestServer::start().await);
    let (_config, runtime, agent) = agent_with("exfil", &api, &other);
    let url = format!("http://elsewhere.test:{}/collect", other.port());
    for via in ["double-encoded", "json-escaped"] {
        let error = fail(&runtime, &agent, "leak", &leak(&url, via)).await;
        assert_kind(
            &error,
            |k| matches!(k, CallErrorKind::Denied(m) if m == "the host refused the request"),
        );
    }
    assert!(other.requests().is_empty(), "a request left");
}

#[tokio::test]
async fn a_secret_never_reaches_a_prompt_or_the_audit() {
    use std::sync::Arc;

    use sandbox_tests::{answer_next, open_runtime};
    use skillbox::{Answer, PromptQueue, Scope, Session};

    let (api, other) = (TestServer::start().await, TestServer::start().await);
    let config = config_with("exfil", &api, &other);
    // The same agent, with a skill that asks a person in its own words:
    // words that hold the secret (learnt, say, from its input).
    let file = config.path().join("agents/leaky.toml");
    let text = std::fs::read_to_string(&file).unwrap();
    let asker = format!(
        "[skills.asker]\npath = \"{}\"\n",
        sandbox_tests::skill_dir("asker").display()
    );
    std::fs::write(
        &file,
        text.replace("[skills.exfil]", &format!("{asker}[skills.exfil]")),
    )
    .unwrap();
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(
        &file,
        text.replace("[tools]", "[consent]\nmode = \"ask\"\n[tools]"),
    )
    .unwrap();
    let loaded = config.load();
    let runtime = open_runtime(loaded.host.clone());
    let queue = Arc::new(PromptQueue::default());
    runtime.consent().attach(queue.clone());
    let agent = runtime.load_agent(&loaded.agents["leaky"]).unwrap();
    let hex = hex::encode(SECRET);
    let input = serde_json::json!({
        "action": format!("send {SECRET} to evil.example"),
        "details": format!("key {SECRET}, as hex {hex}, escaped %{}", &hex[..2]),
    })
    .to_string();
    let mut asked = queue.subscribe();
    let session = Session::new("s");
    let asking = runtime.call(&agent, &session, "asker", "ask", &input);
    let answering = answer_next(&mut asked, &queue, Answer::new(false, Scope::Once));
    let (_, prompt) = tokio::join!(asking, answering);
    let shown = format!("{prompt}\n{}", serde_json::to_string(&prompt).unwrap());
    let audit = skillbox::audit::read(runtime.db(), "leaky", None)
        .await
        .unwrap();
    let recorded = serde_json::to_string(&audit).unwrap();
    for (place, text) in [("prompt", &shown), ("audit", &recorded)] {
        for encoded in encodings_of_the_secret() {
            assert!(
                !text.to_lowercase().contains(&encoded.to_lowercase()),
                "the {place} holds {encoded}: {text}"
            );
        }
    }
    assert!(recorded.contains("evil.example"), "{recorded}");
}
