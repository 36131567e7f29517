//! Prompts posted as JSON to a URL the operator configured, so that a chat
//! bridge can relay them. The answer comes back in the webhook's response
//! (`{"allow": true, "scope": "session"}`), or later through the queue, as
//! for any prompt the HTTP API can answer.

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::BodyExt;

use super::PromptQueue;
use crate::consent::{Answer, Answered, ChannelError, Prompt, PromptChannel};
use crate::egress::NetworkAccess;
use crate::vocab::Limits;

/// Largest webhook response read for an answer.
const MAX_RESPONSE: usize = 64 << 10;

pub struct Webhook {
    url: String,
    network: Arc<NetworkAccess>,
    queue: Arc<PromptQueue>,
}

impl Webhook {
    /// Post prompts to `url` through `network` (which grants that URL), and
    /// wait on `queue` for answers the webhook does not give at once.
    pub fn new(url: String, network: Arc<NetworkAccess>, queue: Arc<PromptQueue>) -> Webhook {
        Webhook {
            url,
            network,
            queue,
        }
    }

    async fn post(&self, prompt: &Prompt) -> Result<Option<Answer>, ChannelError> {
        let failed = |e: String| ChannelError::Failed(format!("webhook {}: {e}", self.url));
        let body = serde_json::to_vec(prompt).map_err(|e| failed(e.to_string()))?;
        let request = http::Request::post(&self.url)
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(http_body_util::Full::new(Bytes::from(body)))
            .map_err(|e| failed(e.to_string()))?;
        let response = self
            .network
            .session(&Limits::DEFAULT, None)
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
                Ok(Some(answer)) => Ok(Answered {
                    answer,
                    by: "the webhook's response".into(),
                }),
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
