//! Prompts posted as JSON to a URL the operator configured, so that a chat
//! bridge can relay them. Each post is signed: `Skillbox-Signature:
//! t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">` with the secret
//! the operator shares with the receiver, which checks it and the time.
//!
//! The answer comes later through the queue, as for any prompt the HTTP API
//! can answer, from an approver. Only where the operator trusts the
//! webhook's answers does one in its response (`{"allow": true, "scope":
//! "session"}`) decide.

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::BodyExt;

use super::PromptQueue;
use crate::consent::{Answer, Answered, ChannelError, Prompt, PromptChannel};
use crate::egress::NetworkAccess;
use crate::vocab::Limits;

/// Largest webhook response read for an answer.
const MAX_RESPONSE: usize = 64 << 10;

/// The header a post's signature travels in.
const SIGNATURE_HEADER: &str = "skillbox-signature";

pub struct Webhook {
    url: String,
    key: ring::hmac::Key,
    trust_answers: bool,
    network: Arc<NetworkAccess>,
    queue: Arc<PromptQueue>,
}

impl Webhook {
    /// Post prompts to `url` through `network` (which grants that URL),
    /// signed with `secret`, and wait on `queue` for answers; an answer in
    /// the response decides only if `trust_answers`.
    pub fn new(
        url: String,
        secret: &str,
        trust_answers: bool,
        network: Arc<NetworkAccess>,
        queue: Arc<PromptQueue>,
    ) -> Webhook {
        Webhook {
            url,
            key: ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes()),
            trust_answers,
            network,
            queue,
        }
    }

    /// The signature of `body` sent at `time` (Unix seconds).
    fn signature(&self, time: u64, body: &[u8]) -> String {
        let mut signed = format!("{time}.").into_bytes();
        signed.extend_from_slice(body);
        let tag = ring::hmac::sign(&self.key, &signed);
        format!("t={time},v1={}", hex::encode(tag.as_ref()))
    }

    async fn post(&self, prompt: &Prompt) -> Result<Option<Answer>, ChannelError> {
        let failed = |e: String| ChannelError::Failed(format!("webhook {}: {e}", self.url));
        let body = serde_json::to_vec(prompt).map_err(|e| failed(e.to_string()))?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let request = http::Request::post(&self.url)
            .header(http::header::CONTENT_TYPE, "application/json")
            .header(SIGNATURE_HEADER, self.signature(now, &body))
            .body(http_body_util::Full::new(Bytes::from(body)))
            .map_err(|e| failed(e.to_string()))?;
        let response = self
            .network
            .host_session(&Limits::DEFAULT)
            .send(request)
            .await
            .map_err(|e| failed(e.to_string()))?;
        if !response.status().is_success() {
            return Err(failed(format!("answered {}", response.status())));
        }
        let bytes = http_body_util::Limited::new(response.into_body(), MAX_RESPONSE)
            .collect()
            .await
            .map_err(|e| failed(e.to_string()))?
            .to_bytes();
        Ok(serde_json::from_slice(&bytes).ok())
    }
}

#[async_trait::async_trait]
impl PromptChannel for Webhook {
    fn name(&self) -> &'static str {
        "webhook"
    }

    async fn ask(&self, prompt: &Prompt) -> Result<Answered, ChannelError> {
        // Listen before posting: the answer may come back through the API
        // while the webhook is still being called.
        let queued = self.queue.ask(prompt);
        tokio::pin!(queued);
        tokio::select! {
            biased;
            answered = &mut queued => answered,
            posted = self.post(prompt) => match posted {
                // Returning withdraws the prompt from the queue.
                Ok(Some(answer)) if self.trust_answers => Ok(Answered {
                    answer,
                    by: "the webhook's response (trusted)".into(),
                }),
                Ok(Some(_)) => {
                    tracing::warn!(
                        prompt = %prompt.id,
                        "the consent webhook answered in its response, which is not trusted \
                         (consent.trust_webhook_answers): the answer must come from an approver"
                    );
                    queued.await
                }
                Ok(None) => queued.await,
                Err(e) => {
                    tracing::warn!("consent webhook failed: {e}");
                    queued.await
                }
            },
        }
    }

    fn recorded(&self, prompt: &Prompt) {
        self.queue.recorded(prompt);
    }
}
