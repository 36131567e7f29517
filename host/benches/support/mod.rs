//! What the serve benchmarks share: a configuration of many agents, a
//! `skillbox serve` process, a client, and the process's memory.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use skillbox::{Holder, TokenStore};

/// A configuration directory with `agents` agents, `agent-0000`, ...,
/// each of which may count words and talks to the model at `model_url`.
pub fn many_agents(agents: usize, model_url: &str) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    std::fs::create_dir(dir.path().join("agents")).unwrap();
    std::fs::write(
        dir.path().join("skillbox.toml"),
        format!(
            "[inference.backends.local]\nkind = \"openai\"\nurl = \"{model_url}\"\n\
             max_concurrency = 16\n[server]\nmax_turns = 1024\n"
        ),
    )
    .unwrap();
    for n in 0..agents {
        std::fs::write(
            dir.path().join(format!("agents/agent-{n:04}.toml")),
            format!(
                "id = \"agent-{n:04}\"\n[tools]\nallow = [\"text.word_count\"]\n\
                 [skills.text]\npath = \"{}\"\n[inference]\nmodel = \"local/m\"\n",
                root.join("skills/text").display()
            ),
        )
        .unwrap();
    }
    let (_, token) = TokenStore::new(&dir.path().join("data"))
        .issue(Holder::Admin)
        .unwrap();
    (dir, token)
}

/// A `skillbox serve` process; killed when dropped.
pub struct Server {
    pub child: Child,
    pub url: String,
}

impl Server {
    pub fn start(config: &Path) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_skillbox"))
            .args(["serve", "--addr", "127.0.0.1:0", "--config"])
            .arg(config)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut first = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut first)
            .unwrap();
        let url = first
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap()
            .to_owned();
        Server { child, url }
    }

    /// The resident set of the process, in bytes.
    pub fn rss(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let kib: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap();
        kib * 1024
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An HTTP client; reqwest wants a TLS provider even for plain HTTP.
pub fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder().no_proxy().build().unwrap()
}

/// POST `body` as JSON; the status and the body.
pub async fn post(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    body: &serde_json::Value,
) -> Result<(u16, String), reqwest::Error> {
    let response = client
        .post(url)
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await?;
    let status = response.status().as_u16();
    Ok((status, response.text().await?))
}

pub fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}
