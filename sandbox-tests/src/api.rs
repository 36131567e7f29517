//! A `skillbox` server in process on 127.0.0.1, and a client that speaks
//! for one of its tokens: the API as a hostile or careless client meets it.

use std::net::SocketAddr;

use serde_json::Value;
use skillbox::{Holder, Server, TokenStore};

use crate::Config;

/// A server of a test's configuration; stopped when dropped (its task
/// ends with the test's runtime).
pub struct Served {
    pub server: Server,
    pub url: String,
    data_dir: std::path::PathBuf,
    client: reqwest::Client,
}

impl Served {
    pub async fn start(config: &Config) -> Served {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let loaded = config.load();
        let data_dir = loaded.host.data_dir.clone();
        let any_port: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let server = Server::start(config.path(), loaded, any_port)
            .await
            .unwrap_or_else(|e| panic!("serve: {e}"));
        Served {
            url: format!("http://{}", server.addr()),
            server,
            data_dir,
            client: reqwest::Client::new(),
        }
    }

    /// A new token for `holder` (`admin`, `approver:ops`, `agent:ops`).
    pub fn token(&self, holder: &str) -> String {
        let holder = Holder::try_from(holder.to_owned()).unwrap();
        TokenStore::new(&self.data_dir).issue(holder).unwrap().1
    }

    /// `method path` with `token` and a JSON `body`: the status and the
    /// answer (JSON, or its text).
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.url))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    pub async fn get(&self, path: &str, token: &str) -> (u16, Value) {
        self.send("GET", path, token, None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> (u16, Value) {
        self.send("POST", path, token, Some(body)).await
    }

    /// The first prompt `token` sees pending, waiting for one.
    pub async fn next_approval(&self, token: &str) -> Value {
        for _ in 0..200 {
            let (status, body) = self.get("/v1/approvals", token).await;
            assert_eq!(status, 200, "{body}");
            if let Some(first) = body["approvals"].as_array().unwrap().first() {
                return first.clone();
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        panic!("no prompt was raised");
    }
}
