//! One backend: its fair queue, its way out through the egress layer, and
//! the attempts of one request (retried with backoff on 429, 5xx and failed
//! connections).

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use eventsource_stream::{EventStreamError, Eventsource};
use futures_util::StreamExt;
use http_body_util::{BodyDataStream, BodyExt, Full, Limited};

use super::protocol::{OnToken, Reply, ollama, openai};
use super::scheduler::FairQueue;
use crate::config::{BackendConfig, BackendKind, NetGrant, read_secret};
use crate::egress::{BodyError, Egress, EgressError, EgressRules, NetworkAccess, SecretBinding};
use crate::metrics::{Metrics, ModelLabels};
use crate::redact::SecretScanner;
use crate::vocab::{AgentId, ChatRequest, Limits, Message, NetPattern, Usage, truncate};

/// Longest wait between attempts, whatever a backend asks for.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Largest answer read from a backend.
const MAX_RESPONSE: u64 = 16 << 20;

/// Most of an error body read, and kept for the message.
const MAX_ERROR_BODY: usize = 4 << 10;
const MAX_ERROR_TEXT: usize = 300;

pub(super) struct Backend {
    pub config: BackendConfig,
    /// Where requests go: the base URL and the protocol's path.
    endpoint: url::Url,
    /// Where the API key file, if any, is found.
    config_dir: PathBuf,
    egress: Egress,
    /// Built on first use, when the API key is read: commands that never
    /// ask a model do not need it.
    access: OnceLock<Result<Access, String>>,
    queue: Arc<FairQueue>,
    limits: Limits,
    metrics: Arc<Metrics>,
}

/// The way out to the backend, with its API key.
struct Access {
    endpoint: http::Uri,
    network: Arc<NetworkAccess>,
    /// Finds the API key, to mask it in answers.
    key: Option<SecretScanner>,
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

    /// The same failure, saying how many attempts it took.
    fn after_attempts(self, attempts: u32) -> Failure {
        let note = |text: String| format!("{text} (after {attempts} attempts)");
        match self {
            Failure::Status { code, message, .. } => Failure::Status {
                code,
                message: note(message),
                retry_after: None,
            },
            Failure::Unreachable(why) => Failure::Unreachable(note(why)),
            Failure::Broken { why, after_output } => Failure::Broken {
                why: note(why),
                after_output,
            },
            other => other,
        }
    }
}

impl Backend {
    /// `config`'s backend; an API key file is relative to `config_dir`.
    pub(super) fn new(
        config: BackendConfig,
        config_dir: PathBuf,
        egress: &Egress,
        metrics: Arc<Metrics>,
    ) -> Backend {
        let mut base = config.url.clone();
        if !base.path().ends_with('/') {
            base.set_path(&format!("{}/", base.path()));
        }
        let endpoint = base
            .join(config.kind.path())
            .expect("a relative path joins");
        let limits = Limits {
            http_requests: 1,
            http_response: bytesize::ByteSize::b(MAX_RESPONSE),
            http_timeout: config.timeout,
            ..Limits::DEFAULT
        };
        Backend {
            queue: FairQueue::new(config.max_concurrency),
            endpoint,
            config_dir,
            egress: egress.clone(),
            access: OnceLock::new(),
            limits,
            config,
            metrics,
        }
    }

    /// The way out, built once. The API key, if any, is sent as a bearer
    /// token to this backend only, by the egress layer, and masked in
    /// whatever the backend answers.
    fn access(&self) -> Result<&Access, Failure> {
        let built = self.access.get_or_init(|| {
            let name = &self.config.name;
            let bad = |e: String| format!("backend '{name}': {e}");
            let origin = self.endpoint.origin().ascii_serialization();
            let pattern = NetPattern::parse(&origin).map_err(|e| bad(e.to_string()))?;
            let endpoint = self
                .endpoint
                .as_str()
                .parse()
                .map_err(|e: http::uri::InvalidUri| bad(e.to_string()))?;
            let key = match &self.config.api_key {
                Some(source) => Some(read_secret(source, &self.config_dir).map_err(|e| {
                    format!("inference.backends.{name}.api_key in skillbox.toml: {e}")
                })?),
                None => None,
            };
            let secrets: Vec<SecretBinding> = key
                .iter()
                .map(|value| SecretBinding {
                    name: format!("{}_API_KEY", name.to_uppercase()),
                    value: value.clone(),
                    hosts: vec![pattern.clone()],
                    header: http::header::AUTHORIZATION,
                    value_template: "Bearer {}".into(),
                    ask: false,
                })
                .collect();
            let scanner = || SecretScanner::new(key.iter().map(String::as_str));
            // The operator named this host: it may be a local or private
            // address.
            let network = self.egress.network_access(EgressRules {
                agent: AgentId::new("host").expect("a valid id"),
                skill: format!("inference-{name}"),
                allow: vec![NetGrant {
                    pattern,
                    allow_private: true,
                }],
                requested: Vec::new(),
                secrets,
                scanner: Arc::new(scanner()),
            });
            Ok(Access {
                endpoint,
                network: Arc::new(network),
                key: key.is_some().then(scanner),
            })
        });
        built.as_ref().map_err(|why| Failure::Refused(why.clone()))
    }

    /// Ask `model` for the next message of `request`, for `agent`: wait for
    /// a place in the queue, send, and retry what may succeed on retry.
    /// With `on_token`, the answer is streamed to it as it arrives.
    pub(super) async fn complete(
        &self,
        agent: &AgentId,
        weight: u32,
        model: &str,
        request: &ChatRequest,
        on_token: Option<OnToken<'_>>,
    ) -> Result<(Message, Option<Usage>), Failure> {
        let access = self.access()?;
        let body = Bytes::from(
            self.config
                .kind
                .body(model, request, on_token.is_some())
                .to_string(),
        );
        let labels = ModelLabels {
            backend: self.config.name.clone(),
            model: model.to_owned(),
        };
        let mut retries = 0;
        loop {
            let waiting = Instant::now();
            let permit = self.queue.acquire(agent, weight).await;
            let sending = Instant::now();
            let result = self.attempt(access, body.clone(), on_token).await;
            drop(permit);
            self.metrics
                .inference_queue_seconds
                .get_or_create(&labels)
                .observe((sending - waiting).as_secs_f64());
            self.metrics
                .inference_seconds
                .get_or_create(&labels)
                .observe(sending.elapsed().as_secs_f64());
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
                Err(failure) if retries > 0 => return Err(failure.after_attempts(retries + 1)),
                Err(failure) => return Err(failure),
                Ok(reply) => {
                    let (mut message, usage) = reply.finish();
                    // A key echoed in pieces (one token at a time) escapes
                    // the mask on the raw answer; the assembled one does not.
                    if let Some(key) = &access.key {
                        message.content = key.mask(&message.content);
                        for call in &mut message.tool_calls {
                            call.arguments = key.mask(&call.arguments);
                        }
                    }
                    return Ok((message, usage));
                }
            }
        }
    }

    async fn attempt(
        &self,
        access: &Access,
        body: Bytes,
        on_token: Option<OnToken<'_>>,
    ) -> Result<Reply, Failure> {
        let request = http::Request::post(access.endpoint.clone())
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(Full::new(body))
            .expect("a valid request");
        let session = access.network.host_session(&self.limits);
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
            return Err(status_failure(&parts, body).await);
        }
        let reply = self.read_reply(body, on_token).await?;
        // An answer that ends before the backend says it is complete may
        // hold half a tool call.
        if !reply.is_complete() {
            return Err(broken(
                &reply,
                "the answer ended before it was complete".into(),
                on_token.is_some(),
            ));
        }
        if !reply.has_output() {
            return Err(Failure::Invalid("the model answered nothing".into()));
        }
        Ok(reply)
    }
}

impl Backend {
    /// Read an answer, whole or streamed, in the backend's protocol.
    async fn read_reply(
        &self,
        body: Body,
        on_token: Option<OnToken<'_>>,
    ) -> Result<Reply, Failure> {
        let mut reply = Reply::default();
        let failed = |reply: &Reply, error: BodyError| match error {
            BodyError::Timeout => Failure::Timeout(self.config.timeout),
            BodyError::TooLarge(max) => Failure::Invalid(format!("an answer over {max} bytes")),
            BodyError::Failed(why) => broken(reply, why, on_token.is_some()),
        };
        match (self.config.kind, on_token.is_some()) {
            (BackendKind::Openai, false) => {
                let body = body.collect().await.map_err(|e| failed(&reply, e))?;
                reply = openai::read(&body.to_bytes()).map_err(Failure::Invalid)?;
            }
            (BackendKind::Openai, true) => {
                let mut events = BodyDataStream::new(body).eventsource();
                while let Some(event) = events.next().await {
                    let event = event.map_err(|e| match e {
                        EventStreamError::Transport(e) => failed(&reply, e),
                        other => broken(&reply, other.to_string(), true),
                    })?;
                    if !openai::read_event(&event.data, &mut reply, on_token)
                        .map_err(|e| broken(&reply, e, true))?
                    {
                        break;
                    }
                }
            }
            (BackendKind::Ollama, streamed) => {
                let mut chunks = BodyDataStream::new(body);
                let mut lines = OllamaLines::default();
                while !lines.done
                    && let Some(chunk) = chunks.next().await
                {
                    let chunk = chunk.map_err(|e| failed(&reply, e))?;
                    lines.read(&chunk, &mut reply, on_token, streamed)?;
                }
                lines.finish(&mut reply, on_token, streamed)?;
            }
        }
        Ok(reply)
    }
}

type Body = http_body_util::combinators::BoxBody<Bytes, BodyError>;

/// The failure a status other than success means, with the backend's words
/// and when it asks to be retried.
async fn status_failure(parts: &http::response::Parts, body: Body) -> Failure {
    let retry_after = parts
        .headers
        .get(http::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let text = match Limited::new(body, MAX_ERROR_BODY).collect().await {
        Ok(body) => String::from_utf8_lossy(&body.to_bytes()).into_owned(),
        Err(_) => "(an error body that could not be read)".into(),
    };
    Failure::Status {
        code: parts.status.as_u16(),
        message: truncate(text.trim(), MAX_ERROR_TEXT),
        retry_after,
    }
}

/// Ollama's answer: one JSON object per line, in chunks that may split
/// lines anywhere.
#[derive(Default)]
struct OllamaLines {
    pending: Vec<u8>,
    /// The backend said it is done.
    done: bool,
}

impl OllamaLines {
    fn read(
        &mut self,
        chunk: &[u8],
        reply: &mut Reply,
        on_token: Option<OnToken<'_>>,
        streamed: bool,
    ) -> Result<(), Failure> {
        // Only the new bytes can end a line.
        let mut scanned = self.pending.len();
        self.pending.extend_from_slice(chunk);
        let mut start = 0;
        while let Some(end) = self.pending[scanned..].iter().position(|&b| b == b'\n') {
            let end = scanned + end;
            if !ollama_line(&self.pending[start..end], reply, on_token, streamed)? {
                self.done = true;
                break;
            }
            start = end + 1;
            scanned = start;
        }
        self.pending.drain(..start);
        Ok(())
    }

    /// The last line, if the backend did not say it was done.
    fn finish(
        self,
        reply: &mut Reply,
        on_token: Option<OnToken<'_>>,
        streamed: bool,
    ) -> Result<(), Failure> {
        if !self.done {
            ollama_line(&self.pending, reply, on_token, streamed)?;
        }
        Ok(())
    }
}

/// Read one line of an Ollama answer; false once the answer is done.
fn ollama_line(
    line: &[u8],
    reply: &mut Reply,
    on_token: Option<OnToken<'_>>,
    streamed: bool,
) -> Result<bool, Failure> {
    let line = String::from_utf8_lossy(line);
    if line.trim().is_empty() {
        return Ok(true);
    }
    ollama::read_line(&line, reply, on_token).map_err(|e| broken(reply, e, streamed))
}

/// A broken answer; past output only counts when it was streamed to
/// someone.
fn broken(reply: &Reply, why: String, streamed: bool) -> Failure {
    Failure::Broken {
        why,
        after_output: streamed && reply.has_output(),
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
        assert!(!Failure::Timeout(Duration::from_secs(1)).is_retryable());
        let shown = Failure::Broken {
            why: String::new(),
            after_output: true,
        };
        assert!(!shown.is_retryable() && shown.after_output());
    }
}
