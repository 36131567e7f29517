//! The `skillbox` command's way to a running server: the admin socket of
//! its data directory ([`super::admin`]), spoken with HTTP/1.1.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use futures_util::StreamExt;
use http_body_util::{BodyDataStream, BodyExt, Full};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::Value;

use super::admin::socket_path;

/// Most of an answer read whole.
const MAX_ANSWER: usize = 64 << 20;

/// A server's admin socket.
pub(crate) struct AdminClient {
    path: PathBuf,
}

/// Why a request through the admin socket got no answer it could use.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RemoteError {
    #[error("the server's admin socket {}: {error}", path.display())]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("the server's admin socket: {0}")]
    Http(String),
    /// The server answered with an error, in its words.
    #[error("{message}")]
    Refused {
        status: StatusCode,
        message: String,
        /// The whole answer, for what more it carries.
        body: Value,
    },
}

impl AdminClient {
    /// The server of `data_dir`, if one runs there: its admin socket
    /// answers. A socket left by a server that is gone does not.
    pub(crate) fn of(data_dir: &Path) -> Option<AdminClient> {
        let path = socket_path(data_dir);
        std::os::unix::net::UnixStream::connect(&path).ok()?;
        Some(AdminClient { path })
    }

    pub(crate) async fn get(&self, path: &str) -> Result<Value, RemoteError> {
        self.json(Method::GET, path, None).await
    }

    pub(crate) async fn post(&self, path: &str, body: &Value) -> Result<Value, RemoteError> {
        self.json(Method::POST, path, Some(body)).await
    }

    pub(crate) async fn delete(&self, path: &str) -> Result<Value, RemoteError> {
        self.json(Method::DELETE, path, None).await
    }

    /// Send a request whose answer is JSON (or nothing), and read it whole.
    async fn json(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, RemoteError> {
        let response = self.send(method, path, body).await?;
        let status = response.status();
        let bytes = http_body_util::Limited::new(response.into_body(), MAX_ANSWER)
            .collect()
            .await
            .map_err(|e| RemoteError::Http(e.to_string()))?
            .to_bytes();
        let value = match bytes.is_empty() {
            true => Value::Null,
            false => serde_json::from_slice(&bytes)
                .map_err(|e| RemoteError::Http(format!("an answer that is not JSON: {e}")))?,
        };
        match status.is_success() {
            true => Ok(value),
            false => Err(refused(status, value)),
        }
    }

    /// POST `body` to `path`, and hand each server-sent event of the answer
    /// (its name and data) to `on_event`, until the stream ends.
    pub(crate) async fn stream(
        &self,
        path: &str,
        body: &Value,
        mut on_event: impl FnMut(&str, &str),
    ) -> Result<(), RemoteError> {
        use eventsource_stream::Eventsource;
        let response = self.send(Method::POST, path, Some(body)).await?;
        if !response.status().is_success() {
            let status = response.status();
            let bytes = response
                .into_body()
                .collect()
                .await
                .map_err(|e| RemoteError::Http(e.to_string()))?
                .to_bytes();
            return Err(refused(
                status,
                serde_json::from_slice(&bytes).unwrap_or_default(),
            ));
        }
        let mut events = BodyDataStream::new(response.into_body()).eventsource();
        while let Some(event) = events.next().await {
            let event = event.map_err(|e| RemoteError::Http(e.to_string()))?;
            on_event(&event.event, &event.data);
        }
        Ok(())
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<hyper::Response<hyper::body::Incoming>, RemoteError> {
        let io = |error| RemoteError::Io {
            path: self.path.clone(),
            error,
        };
        let http = |e: hyper::Error| RemoteError::Http(e.to_string());
        let stream = tokio::net::UnixStream::connect(&self.path)
            .await
            .map_err(io)?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(http)?;
        tokio::spawn(connection);
        let bytes = body.map(|b| Bytes::from(b.to_string())).unwrap_or_default();
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header(hyper::header::HOST, "skillbox")
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .body(Full::new(bytes))
            .map_err(|e| RemoteError::Http(e.to_string()))?;
        sender.send_request(request).await.map_err(http)
    }
}

/// The server's refusal, in its words.
fn refused(status: StatusCode, body: Value) -> RemoteError {
    let message = body["error"]["message"]
        .as_str()
        .map_or_else(|| status.to_string(), str::to_owned);
    RemoteError::Refused {
        status,
        message,
        body,
    }
}
