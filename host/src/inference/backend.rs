//! One backend: its fair queue, its way out through the egress layer, and
//! the attempts of one request (retried with backoff on 429, 5xx and failed
//! connections).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use eventsource_stream::Eventsource;
use futures_util::StreamExt;
use http_body_util::{BodyDataStream, BodyExt, Full};

use super::protocol::{OnToken, Reply, ollama, openai};
use super::scheduler::FairQueue;
use super::{ChatRequest, Message, Usage};
use crate::config::AgentId;
use crate::config::agent::NetGrant;
use crate::config::inference::{BackendConfig, BackendKind};
use crate::egress::{
    Egress, EgressError, EgressRules, NetworkAccess, SecretBinding, SecretScanner,
};
use crate::policy::network::NetPattern;
use crate::sandbox::Limits;

/// Longest wait between attempts, whatever a backend asks for.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Largest answer read from a backend.
const MAX_RESPONSE: u64 = 16 << 20;

/// Most of an error body kept for the message.
const MAX_ERROR_TEXT: usize = 300;

pub struct Backend {
    pub config: BackendConfig,
    /// The base URL, ending in `/`.
    base: url::Url,
    access: Arc<NetworkAccess>,
    queue: Arc<FairQueue>,
    limits: Limits,
}

/// Why an attempt failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Failure {
    #[error("{code}: {message}")]
    Status {
        code: u16,
        message: String,
        retry_after: Option<Duration>,
    },
    #[error("cannot connect: {0}")]
    Unreachable(String),
    #[error("no answer within {}", humantime::format_duration(*.0))]
    Timeout(Duration),
    /// Refused by the host before anything was sent.
    #[error("{0}")]
    Refused(String),
    #[error("the answer broke off: {why}")]
    Broken { why: String, after_output: bool },
    #[error("{0}")]
    Invalid(String),
}

impl Failure {
    fn is_retryable(&self) -> bool {
        match self {
            Failure::Status { code, .. } => *code == 429 || (500..600).contains(code),
            Failure::Unreachable(_) => true,
            Failure::Broken { after_output, .. } => !after_output,
            Failure::Timeout(_) | Failure::Refused(_) | Failure::Invalid(_) => false,
        }
    }

    /// Whether part of the answer was already shown: then no other attempt
    /// or model may answer instead.
    pub fn after_output(&self) -> bool {
        matches!(
            self,
            Failure::Broken {
                after_output: true,
                ..
            }
        )
    }
}

impl Backend {
    /// `api_key`, if any, is sent as a bearer token to this backend only,
    /// by the egress layer, and masked in whatever the backend answers.
    pub fn new(config: BackendConfig, api_key: Option<String>, egress: &Egress) -> Backend {
        let mut base = config.url.clone();
        if !base.path().ends_with('/') {
            base.set_path(&format!("{}/", base.path()));
        }
        let pattern = NetPattern::parse(&base.origin().ascii_serialization())
            .expect("checked when the configuration was read");
        let secrets: Vec<SecretBinding> = api_key
            .into_iter()
            .map(|value| SecretBinding {
                name: format!("{}_API_KEY", config.name.to_uppercase()),
                value,
                hosts: vec![pattern.clone()],
                header: http::header::AUTHORIZATION,
                value_template: "Bearer {}".into(),
                ask: false,
            })
            .collect();
        let scanner = Arc::new(SecretScanner::new(secrets.iter().map(|s| s.value.as_str())));
        // The operator named this host: it may be a local or private address.
        let access = egress.network_access(EgressRules {
            agent: AgentId::new("host").expect("a valid id"),
            skill: format!("inference-{}", config.name),
            allow: vec![NetGrant {
                pattern,
                allow_private: true,
            }],
            requested: Vec::new(),
            secrets,
            scanner,
        });
        let limits = Limits {
            http_requests: 1,
            http_response: bytesize::ByteSize::b(MAX_RESPONSE),
            http_timeout: config.timeout,
            ..Limits::DEFAULT
        };
        Backend {
            queue: FairQueue::new(config.max_concurrency),
            base,
            access: Arc::new(access),
            limits,
            config,
        }
    }

    /// Ask `model` for the next message of `request`, for `agent`: wait for
    /// a place in the queue, send, and retry what may succeed on retry.
    /// With `on_token`, the answer is streamed to it as it arrives.
    pub async fn complete(
        &self,
        agent: &AgentId,
        weight: u32,
        model: &str,
        request: &ChatRequest,
        on_token: Option<OnToken<'_>>,
    ) -> Result<(Message, Option<Usage>), Failure> {
        let body = Bytes::from(
            match self.config.kind {
                BackendKind::Openai => openai::body(model, request, on_token.is_some()),
                BackendKind::Ollama => ollama::body(model, request, on_token.is_some()),
            }
            .to_string(),
        );
        let mut retries = 0;
        loop {
            let permit = self.queue.acquire(agent, weight).await;
            let result = self.attempt(body.clone(), on_token).await;
            drop(permit);
            match result {
                Err(failure) if failure.is_retryable() && retries < self.config.retries => {
                    let wait = match &failure {
                        Failure::Status {
                            retry_after: Some(wait),
                            ..
                        } => *wait,
                        _ => backoff(self.config.backoff, retries),
                    };
                    tracing::info!(
                        backend = %self.config.name,
                        model,
                        agent = %agent,
                        "attempt {} failed ({failure}); retrying in {wait:?}",
                        retries + 1,
                    );
                    tokio::time::sleep(wait.min(MAX_BACKOFF)).await;
                    retries += 1;
                }
                Err(Failure::Status { code, message, .. }) if retries > 0 => {
                    let message = format!("{message} (after {} attempts)", retries + 1);
                    return Err(Failure::Status {
                        code,
                        message,
                        retry_after: None,
                    });
                }
                other => return other.map(Reply::finish),
            }
        }
    }

    async fn attempt(&self, body: Bytes, on_token: Option<OnToken<'_>>) -> Result<Reply, Failure> {
        let path = match self.config.kind {
            BackendKind::Openai => openai::PATH,
            BackendKind::Ollama => ollama::PATH,
        };
        let url = self.base.join(path).expect("a relative path joins");
        let request = http::Request::post(url.as_str())
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(Full::new(body))
            .expect("a valid request");
        let session = self.access.session(&self.limits, None);
        let response = session.send(request).await.map_err(|e| match e {
            EgressError::Connect(why) => Failure::Unreachable(why),
            EgressError::Timeout => Failure::Timeout(self.config.timeout),
            EgressError::Protocol(why) => Failure::Broken {
                why,
                after_output: false,
            },
            other => Failure::Refused(other.to_string()),
        })?;
        let (parts, body) = response.into_parts();
        if !parts.status.is_success() {
            let retry_after = parts
                .headers
                .get(http::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            let text = match body.collect().await {
                Ok(body) => String::from_utf8_lossy(&body.to_bytes()).into_owned(),
                Err(e) => e.to_string(),
            };
            return Err(Failure::Status {
                code: parts.status.as_u16(),
                message: crate::caps::truncate(text.trim(), MAX_ERROR_TEXT),
                retry_after,
            });
        }

        let mut reply = Reply::default();
        let broken = |reply: &Reply, why: String| Failure::Broken {
            why,
            after_output: on_token.is_some() && reply.has_output(),
        };
        match (self.config.kind, on_token.is_some()) {
            (BackendKind::Openai, false) => {
                let body = body
                    .collect()
                    .await
                    .map_err(|e| broken(&reply, e.to_string()))?;
                reply = openai::read(&body.to_bytes()).map_err(Failure::Invalid)?;
            }
            (BackendKind::Openai, true) => {
                let mut events = BodyDataStream::new(body).eventsource();
                while let Some(event) = events.next().await {
                    let event = event.map_err(|e| broken(&reply, e.to_string()))?;
                    if !openai::read_event(&event.data, &mut reply, on_token)
                        .map_err(|e| broken(&reply, e))?
                    {
                        break;
                    }
                }
            }
            (BackendKind::Ollama, _) => {
                let mut chunks = BodyDataStream::new(body);
                let mut pending = Vec::new();
                let mut done = false;
                while !done && let Some(chunk) = chunks.next().await {
                    pending.extend_from_slice(&chunk.map_err(|e| broken(&reply, e.to_string()))?);
                    while let Some(end) = pending.iter().position(|&b| b == b'\n') {
                        let line: Vec<u8> = pending.drain(..=end).collect();
                        let line = String::from_utf8_lossy(&line);
                        if line.trim().is_empty() {
                            continue;
                        }
                        if !ollama::read_line(&line, &mut reply, on_token)
                            .map_err(|e| broken(&reply, e))?
                        {
                            done = true;
                            break;
                        }
                    }
                }
                let rest = String::from_utf8_lossy(&pending);
                if !done && !rest.trim().is_empty() {
                    ollama::read_line(&rest, &mut reply, on_token)
                        .map_err(|e| broken(&reply, e))?;
                }
            }
        }
        if !reply.has_output() {
            return Err(Failure::Invalid("the model answered nothing".into()));
        }
        Ok(reply)
    }
}

/// The wait before retry number `retry` (from 0): doubling from `base`,
/// with jitter so that agents retrying together spread out.
fn backoff(base: Duration, retry: u32) -> Duration {
    let full = base.saturating_mul(1 << retry.min(16));
    full.mul_f64(0.5 + fastrand::f64() / 2.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter() {
        let base = Duration::from_millis(100);
        for retry in 0..4 {
            let wait = backoff(base, retry);
            let full = base * (1 << retry);
            assert!(
                wait >= full / 2 && wait <= full,
                "{wait:?} for retry {retry}"
            );
        }
    }

    #[test]
    fn what_is_retried() {
        let status = |code| Failure::Status {
            code,
            message: String::new(),
            retry_after: None,
        };
        assert!(status(429).is_retryable());
        assert!(status(503).is_retryable());
        assert!(!status(400).is_retryable());
        assert!(!status(401).is_retryable());
        assert!(Failure::Unreachable(String::new()).is_retryable());
        let shown = Failure::Broken {
            why: String::new(),
            after_output: true,
        };
        assert!(!shown.is_retryable() && shown.after_output());
    }
}
