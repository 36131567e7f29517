//! The `skillbox` command's way to a running server: the admin socket of
//! its data directory ([`super::admin`]), spoken with HTTP/1.1.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use futures_util::StreamExt;
use http_body_util::{BodyDataStream, BodyExt, Full};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};

use super::admin::socket_path;
use crate::market::install::{Agreement, PlanSummary};

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
    /// A change that needs a person's agreement, and did not get it.
    #[error(
        "not done: no one agreed to {0} (run in a terminal to be asked, or pass --yes after \
         reading the plan)"
    )]
    NotAgreed(String),
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
        let body = body.map(|b| Bytes::from(b.to_string())).unwrap_or_default();
        let bytes = self
            .exchange(method, path, body, "application/json")
            .await?;
        match bytes.is_empty() {
            true => Ok(Value::Null),
            false => serde_json::from_slice(&bytes)
                .map_err(|e| RemoteError::Http(format!("an answer that is not JSON: {e}"))),
        }
    }

    /// Send `body` (of `content_type`) and read the answer whole.
    pub(crate) async fn exchange(
        &self,
        method: Method,
        path: &str,
        body: Bytes,
        content_type: &str,
    ) -> Result<Bytes, RemoteError> {
        let response = self.send(method, path, body, content_type).await?;
        let status = response.status();
        let bytes = http_body_util::Limited::new(response.into_body(), MAX_ANSWER)
            .collect()
            .await
            .map_err(|e| RemoteError::Http(e.to_string()))?
            .to_bytes();
        if !status.is_success() {
            return Err(refused(status, &bytes));
        }
        Ok(bytes)
    }

    /// POST an install or upgrade `request` to `path`, agreed to on the
    /// command line (`yes`) or not. A plan that needs a person's agreement
    /// comes back unmade; `show` shows it, `ask` asks the person, and the
    /// plan they agreed to goes back to be made exactly, or refused if it
    /// changed meanwhile. A plan made at once is shown after.
    pub(crate) async fn change_skill(
        &self,
        path: &str,
        mut request: Value,
        yes: bool,
        show: fn(&PlanSummary),
        ask: fn(&str) -> bool,
    ) -> Result<SkillChange, RemoteError> {
        if yes {
            request["agreement"] = json!(Agreement::CommandLine);
        }
        let plan_of = |mut body: Value| {
            serde_json::from_value::<PlanSummary>(body["plan"].take())
                .map_err(|e| RemoteError::Http(format!("a plan that does not read: {e}")))
        };
        let done = match self.post(path, &request).await {
            Err(RemoteError::Refused { status, body, .. }) if status == StatusCode::CONFLICT => {
                let plan = plan_of(body)?;
                show(&plan);
                let (what, _) = plan.asks.clone().unwrap_or_default();
                if !ask(&what) {
                    return Err(RemoteError::NotAgreed(what));
                }
                request["agreement"] = json!(Agreement::Terminal);
                request["agreed_to"] = json!(plan);
                self.post(path, &request).await?;
                return Ok(SkillChange::Done(Box::new(plan)));
            }
            done => done?,
        };
        if done.get("newest").is_some() {
            return Ok(SkillChange::Newest);
        }
        let plan = plan_of(done)?;
        show(&plan);
        Ok(SkillChange::Done(Box::new(plan)))
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
        let body = Bytes::from(body.to_string());
        let response = self
            .send(Method::POST, path, body, "application/json")
            .await?;
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
        body: Bytes,
        content_type: &str,
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
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header(hyper::header::HOST, "skillbox")
            .header(hyper::header::CONTENT_TYPE, content_type)
            .body(Full::new(body))
            .map_err(|e| RemoteError::Http(e.to_string()))?;
        sender.send_request(request).await.map_err(http)
    }
}

/// What an install or upgrade through the server did.
pub(crate) enum SkillChange {
    /// The plan was made.
    Done(Box<PlanSummary>),
    /// Nothing newer matches.
    Newest,
}

/// The server's refusal, in its words, or with its status and text when
/// it has none.
fn refused(status: StatusCode, bytes: &[u8]) -> RemoteError {
    let body: Value = serde_json::from_slice(bytes).unwrap_or_default();
    let message = match body["error"]["message"].as_str() {
        Some(message) => message.to_owned(),
        None => format!("{status}: {}", String::from_utf8_lossy(bytes).trim()),
    };
    RemoteError::Refused {
        status,
        message,
        body,
    }
}

/// `text` as one segment of a request's path: what is not a letter, digit
/// or one of `-._~` is percent-encoded, so an id a person typed can only
/// name what it names.
pub(crate) fn segment(text: &str) -> String {
    let mut encoded = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                encoded.push(byte as char)
            }
            _ => encoded.push_str(&format!("%{byte:02X}")),
        }
    }
    encoded
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_segment_cannot_climb_or_query() {
        assert_eq!(segment("g-1_a.b~"), "g-1_a.b~");
        assert_eq!(
            segment("../admin/tokens?x=1"),
            "..%2Fadmin%2Ftokens%3Fx%3D1"
        );
        assert_eq!(segment("é"), "%C3%A9");
    }
}
