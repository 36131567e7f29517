//! The `skillbox` command beside a running server: it goes through the
//! server's admin socket rather than failing on the database the server
//! holds, and a person at the terminal answers the server's prompts.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use reqwest::StatusCode;
use scripted_model::ScriptedModel;
use serde_json::json;

use crate::served::{Api, Server, config, script};
use crate::util::{run, skillbox as command};

/// Run `skillbox ARGS --config CONFIG`; its stdout, once it succeeded.
#[track_caller]
fn skillbox(config: &Path, args: &[&str]) -> String {
    let output = run(command().args(args).arg("--config").arg(config));
    assert!(
        output.status.success(),
        "skillbox {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_cli_talks_to_a_running_server_and_opens_the_database_once_it_is_gone() {
    let model = ScriptedModel::start(script).await;
    let config = config(&model, "");
    let mut server = Server::start(config.path());

    let socket = config.path().join("data/admin.sock");
    let mode = std::fs::metadata(&socket).unwrap().permissions().mode();
    assert_eq!(
        mode & 0o777,
        0o600,
        "only the server's user reaches the socket"
    );

    let answer = skillbox(
        config.path(),
        &["agent", "ask", "ops", "How many words are in 'a b c'?"],
    );
    assert_eq!(answer, "That is 3 words.\n");
    let conversations = skillbox(config.path(), &["agent", "history", "ops"]);
    assert!(conversations.ends_with("\t4 messages\n"), "{conversations}");
    let usage = skillbox(config.path(), &["agent", "usage", "ops"]);
    assert!(usage.contains("tokens"), "{usage}");
    assert_eq!(
        skillbox(config.path(), &["grants", "list", "ops"]),
        "agent 'ops' has no grants\n"
    );
    // A token made at the terminal works at once, without a restart.
    let token = server.token("assistant");
    let api = Api::new(&server);
    let (status, body) = api.get("/v1/agents/assistant", &token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let tokens = skillbox(config.path(), &["token", "list"]);
    assert!(tokens.contains("assistant"), "{tokens}");

    // Without --config, as `serve` does, the command finds ./config.
    let here = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(config.path(), here.path().join("config")).unwrap();
    let found = run(command()
        .args(["approvals", "list"])
        .current_dir(here.path()));
    assert_eq!(
        String::from_utf8_lossy(&found.stdout),
        "no prompt is waiting\n"
    );

    // A server killed outright leaves its socket behind; the CLI sees
    // nobody answers and opens the database itself.
    server.signal("-KILL");
    server.wait();
    assert!(socket.exists());
    let opened = skillbox(config.path(), &["agent", "history", "ops"]);
    assert_eq!(opened, conversations);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_person_at_the_terminal_answers_a_prompt_with_skillbox_approvals() {
    let model = ScriptedModel::start(script).await;
    let config = config(&model, "");
    let server = Server::start(config.path());
    let api = Api::new(&server);
    let ops = server.token("ops");
    assert_eq!(
        skillbox(config.path(), &["approvals", "list"]),
        "no prompt is waiting\n"
    );

    // `ops` does not allow regex_extract: the call waits for a person.
    let call = {
        let api = Api::new(&server);
        tokio::spawn(async move {
            let input = json!({ "text": "a1b22", "pattern": "[0-9]+" });
            api.post("/v1/agents/ops/tools/text.regex_extract", &ops, input)
                .await
        })
    };
    let listed = loop {
        let listed = skillbox(config.path(), &["approvals", "list"]);
        if listed != "no prompt is waiting\n" {
            break listed;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(listed.contains("ops"), "{listed}");
    assert!(listed.contains("text.regex_extract"), "{listed}");
    let id = listed.lines().next().unwrap();

    let refused = run(command()
        .args(["approvals", "answer", id, "perhaps", "--config"])
        .arg(config.path()));
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("'perhaps' is not an answer"));

    let answered = skillbox(config.path(), &["approvals", "answer", id, "allow"]);
    assert!(
        answered.starts_with(&format!("answered {id}")),
        "{answered}"
    );
    let (status, body) = call.await.unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["output"]["matches"], json!(["1", "22"]));
    assert_eq!(
        skillbox(config.path(), &["approvals", "list"]),
        "no prompt is waiting\n"
    );
    let audit = skillbox(config.path(), &["audit", "ops"]);
    assert!(
        audit.contains("allowed") && audit.contains("text.regex_extract"),
        "{audit}"
    );
    // Allowed once: nothing is remembered.
    let approver = server.token("ops --role approver");
    let (_, grants) = api.get("/v1/agents/ops/grants", &approver).await;
    assert_eq!(grants["grants"], json!([]));
}
