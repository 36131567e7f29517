//! `skillbox:skill/inference`: chat completions through the shared
//! inference service, metered to the calling agent. A skill gets it only
//! when its manifest asks for it and its agent grants it; a grant caps the
//! tokens one tool call may spend.

use std::sync::Arc;

use wasmtime::component::{HasSelf, Linker};

use crate::inference::{AgentClient, ChatRequest, InferenceError, Message, Role};
use crate::policy::consent::CallConsent;
use crate::sandbox::CallState;
use crate::sandbox::bindings::skillbox::skill::inference as wit;
use crate::sandbox::bindings::skillbox::skill::types::Error;

/// The inference capability of one call.
pub struct InferenceCap {
    skill: Arc<str>,
    access: Option<InferenceAccess>,
    /// Tokens spent by this call so far.
    spent: u64,
}

/// Inference granted to one call.
pub struct InferenceAccess {
    pub client: AgentClient,
    /// Budget misses are asked about in the call's name.
    pub consent: CallConsent,
    /// Tokens the call may spend, prompts and answers together.
    pub max_tokens: u32,
}

impl InferenceCap {
    pub fn new(skill: Arc<str>, access: Option<InferenceAccess>) -> Self {
        Self {
            skill,
            access,
            spent: 0,
        }
    }
}

impl wit::Host for InferenceCap {
    async fn chat(
        &mut self,
        request: wit::ChatRequest,
    ) -> wasmtime::Result<Result<wit::ChatResponse, Error>> {
        let Some(access) = &self.access else {
            return Ok(Err(Error::Denied(format!(
                "inference is not granted to skill '{}'",
                self.skill
            ))));
        };
        let left = u64::from(access.max_tokens).saturating_sub(self.spent);
        if left == 0 {
            return Ok(Err(Error::LimitExceeded(format!(
                "skill '{}' has spent the {} tokens one call may use",
                self.skill, access.max_tokens
            ))));
        }
        let mut messages = Vec::with_capacity(request.messages.len());
        for message in request.messages {
            let role = match message.role.as_str() {
                "system" => Role::System,
                "user" => Role::User,
                "assistant" => Role::Assistant,
                other => {
                    return Ok(Err(Error::Invalid(format!(
                        "'{other}' is not a role: use system, user or assistant"
                    ))));
                }
            };
            messages.push(Message::new(role, message.content));
        }
        if messages.is_empty() {
            return Ok(Err(Error::Invalid("a chat needs a message".into())));
        }
        // The cap holds prompts too: a request whose prompt alone would
        // spend what is left is not sent.
        let prompt = Message::estimate_tokens(&messages);
        if prompt >= left {
            return Ok(Err(Error::LimitExceeded(format!(
                "skill '{}' sent a prompt of about {prompt} tokens, more than the {left} its call has left",
                self.skill
            ))));
        }
        let settings = access.client.settings();
        let room = u32::try_from(left - prompt).unwrap_or(u32::MAX);
        let max_tokens = [request.max_tokens, settings.max_tokens]
            .into_iter()
            .flatten()
            .fold(room, u32::min)
            .max(1);
        let chat = ChatRequest {
            messages,
            tools: Vec::new(),
            max_tokens: Some(max_tokens),
            temperature: request.temperature.or(settings.temperature),
        };
        let answer = access
            .client
            .chat(&chat, request.model.as_deref(), &access.consent, None)
            .await;
        Ok(match answer {
            Ok(response) => {
                self.spent = self.spent.saturating_add(response.usage.total());
                let tokens = |n: u64| u32::try_from(n).unwrap_or(u32::MAX);
                Ok(wit::ChatResponse {
                    content: response.message.content,
                    prompt_tokens: tokens(response.usage.prompt_tokens),
                    completion_tokens: tokens(response.usage.completion_tokens),
                })
            }
            Err(InferenceError::OverBudget(why)) => Err(Error::LimitExceeded(why)),
            Err(InferenceError::Denied(why)) => Err(Error::Denied(why)),
            Err(failed @ InferenceError::Failed(_)) => Err(Error::Failed(failed.to_string())),
        })
    }
}

pub fn link(linker: &mut Linker<CallState>) -> wasmtime::Result<()> {
    wit::add_to_linker::<CallState, HasSelf<InferenceCap>>(linker, |state| {
        &mut state.caps.inference
    })
}
