//! A `skillbox serve` process on an ephemeral port with a scripted model
//! server standing in for the LLM, and a client for its API: what the tests
//! that drive the server share. The Python clients (the `openai` package,
//! `prometheus_client`, LiteLLM) are installed by scripts/clients, which
//! sets $SKILLBOX_TEST_PYTHON and $SKILLBOX_TEST_LITELLM_PYTHON.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use reqwest::StatusCode;
use scripted_model::{Exchange, Reply, ScriptedModel};
use serde_json::{Value, json};

use crate::util::{repo, skillbox as command};

/// Two agents: `ops` may count words and is asked about anything else;
/// `assistant` keeps notes and has a daily token budget.
pub fn config(model: &ScriptedModel, server: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("agents")).unwrap();
    std::fs::write(
        dir.path().join("skillbox.toml"),
        format!(
            "[inference.backends.local]\nkind = \"openai\"\nurl = \"{}\"\n[server]\n{server}\n",
            model.openai_url()
        ),
    )
    .unwrap();
    write_ops(dir.path(), "");
    std::fs::write(
        dir.path().join("agents/assistant.toml"),
        format!(
            "id = \"assistant\"\n[tools]\nallow = [\"notes.*\"]\n\
             [skills.notes]\npath = \"{}\"\ngrants = {{ memory = true }}\n\
             [inference]\nmodel = \"local/m\"\n[inference.budget]\ntokens_per_day = 100000\n",
            repo().join("skills/notes").display()
        ),
    )
    .unwrap();
    dir
}

pub fn write_ops(config: &Path, extra: &str) {
    std::fs::write(
        config.join("agents/ops.toml"),
        format!(
            "id = \"ops\"\n[tools]\nallow = [\"text.word_count\"]\n\
             [consent]\nmode = \"ask\"\ntimeout = \"30s\"\n\
             [skills.text]\npath = \"{}\"\n[inference]\nmodel = \"local/m\"\n{extra}",
            repo().join("skills/text").display()
        ),
    )
    .unwrap();
}

/// The demo script, and a call of `text_regex_extract` (a tool `ops` does
/// not allow, so a person is asked) when the user says "digits".
pub fn script(exchange: &Exchange) -> Reply {
    let last = exchange.last_message();
    if last["role"] != "tool" && exchange.user_text().contains("digits") {
        return Reply::call(
            "text_regex_extract",
            json!({ "text": "a1b22", "pattern": "[0-9]+" }),
        );
    }
    if last["role"] == "tool" && last["content"].as_str().unwrap().contains("regex_extract") {
        let content = last["content"].as_str().unwrap();
        return Reply::Text(format!("Found: {}", content.lines().nth(1).unwrap()));
    }
    scripted_model::demo(exchange)
}

/// A `skillbox serve` process; killed when dropped.
pub struct Server {
    pub child: Child,
    pub url: String,
    pub config: PathBuf,
}

impl Server {
    pub fn start(config: &Path) -> Server {
        let mut child = command()
            .args(["serve", "--addr", "127.0.0.1:0", "--config"])
            .arg(config)
            .stdout(Stdio::piped())
            .spawn()
            .expect("start skillbox serve");
        let mut first = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut first)
            .unwrap();
        let url = first
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap_or_else(|| panic!("no address in {first:?}"))
            .to_owned();
        Server {
            child,
            url,
            config: config.to_owned(),
        }
    }

    /// A token made by `skillbox token new <for_whom>`: an agent id, `--admin`,
    /// or `ops --role approver`.
    pub fn token(&self, for_whom: &str) -> String {
        let output = command()
            .args(["token", "new"])
            .args(for_whom.split_whitespace())
            .arg("--config")
            .arg(&self.config)
            .output()
            .unwrap();
        assert!(output.status.success(), "{output:?}");
        String::from_utf8(output.stdout).unwrap().trim().to_owned()
    }

    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    pub fn wait(&mut self) -> std::process::ExitStatus {
        self.child.wait().unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn json_body(request: reqwest::RequestBuilder, body: &Value) -> reqwest::RequestBuilder {
    request
        .header("content-type", "application/json")
        .body(body.to_string())
}

pub struct Api {
    pub client: reqwest::Client,
    pub url: String,
}

impl Api {
    pub fn new(server: &Server) -> Api {
        let _ = rustls::crypto::ring::default_provider().install_default();
        Api {
            client: reqwest::Client::new(),
            url: server.url.clone(),
        }
    }

    pub async fn send(&self, request: reqwest::RequestBuilder, token: &str) -> (StatusCode, Value) {
        let response = request.bearer_auth(token).send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, body)
    }

    pub async fn get(&self, path: &str, token: &str) -> (StatusCode, Value) {
        let request = self.client.get(format!("{}{path}", self.url));
        self.send(request, token).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
        let request = json_body(self.client.post(format!("{}{path}", self.url)), &body);
        self.send(request, token).await
    }

    pub async fn delete(&self, path: &str, token: &str) -> (StatusCode, Value) {
        let request = self.client.delete(format!("{}{path}", self.url));
        self.send(request, token).await
    }

    /// The first pending approval the token sees, waiting for one.
    pub async fn next_approval(&self, token: &str) -> Value {
        for _ in 0..200 {
            let (status, body) = self.get("/v1/approvals", token).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            if let Some(first) = body["approvals"].as_array().unwrap().first() {
                return first.clone();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("no approval was asked");
    }
}

/// A Python with the `openai` and `prometheus-client` packages.
pub fn python() -> String {
    std::env::var("SKILLBOX_TEST_PYTHON").expect(
        "SKILLBOX_TEST_PYTHON names a Python with the openai and prometheus-client packages; \
         scripts/test installs them (scripts/clients)",
    )
}

/// A Python with the `litellm` package.
pub fn litellm_python() -> String {
    std::env::var("SKILLBOX_TEST_LITELLM_PYTHON").expect(
        "SKILLBOX_TEST_LITELLM_PYTHON names a Python with the litellm package; \
         scripts/test installs it (scripts/clients)",
    )
}

/// Run `code` with `python`, `input` on stdin; its stdout.
pub fn run_python(python: &str, code: &str, args: &[&str], input: &str) -> String {
    let mut child = Command::new(python)
        .arg("-c")
        .arg(code)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}
