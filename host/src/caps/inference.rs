//! `skillbox:skill/inference`: chat completions through the shared
//! inference service, metered to the calling agent. A skill gets it only
//! when its manifest asks for it and its agent grants it; a grant caps the
//! tokens one tool call may spend.

use std::sync::Arc;

use wasmtime::component::{HasSelf, Linker};

use super::bindings::skillbox::skill::inference as wit;
use super::bindings::skillbox::skill::types::Error;
use super::{CallContext, CapError, GrantContext, HostCapability, OnInstall, Words};
use crate::config::{Capabilities, ConfigError};
use crate::consent::CallConsent;
use crate::inference::{AgentClient, InferenceError};
use crate::vocab::{ChatRequest, Message, Role};

/// The inference capability.
pub(crate) struct Inference;

pub(crate) use crate::config::InferenceGrant;

impl HostCapability for Inference {
    type Grant = InferenceGrant;
    type State = InferenceCap;

    fn grant(cx: &GrantContext<'_>) -> Result<Option<InferenceGrant>, ConfigError> {
        let granted = cx.entry.grants.inference;
        if granted.is_some() && !cx.manifest.capabilities.inference {
            return Err(cx.error(
                "inference",
                cx.entry.line,
                format!(
                    "grants inference, which skill '{}' does not ask for",
                    cx.skill
                ),
            ));
        }
        if granted.is_some() && cx.agent.inference.is_none() {
            return Err(cx.error(
                "inference",
                cx.entry.line,
                format!(
                    "grants inference, but agent '{}' has no [inference] model",
                    cx.agent.id
                ),
            ));
        }
        Ok(granted)
    }

    fn asked(asks: &Capabilities) -> Vec<Words> {
        let sentence =
            "may use inference, metered to this agent, up to the agent's max_tokens per call";
        asks.inference
            .then(|| Words {
                term: "inference".into(),
                sentence: sentence.into(),
            })
            .into_iter()
            .collect()
    }

    fn on_install(asks: &Capabilities) -> OnInstall {
        match asks.inference {
            true => OnInstall::Grant("inference", toml_edit::value(true)),
            false => OnInstall::Nothing,
        }
    }

    fn granted(grant: &InferenceGrant) -> Vec<String> {
        vec![format!(
            "inference (up to {} tokens a call)",
            grant.max_tokens
        )]
    }

    fn not_granted(asks: &Capabilities, grant: Option<&InferenceGrant>) -> Vec<String> {
        match (asks.inference, grant) {
            (true, None) => vec!["inference".into()],
            _ => Vec::new(),
        }
    }

    async fn prepare(
        grant: Option<&InferenceGrant>,
        call: &CallContext<'_>,
    ) -> Result<InferenceCap, CapError> {
        let access = grant.zip(call.models).map(|(grant, client)| Access {
            client: client.clone(),
            consent: call.consent.clone(),
            max_tokens: grant.max_tokens,
        });
        Ok(InferenceCap {
            skill: call.skill.clone(),
            access,
            spent: 0,
        })
    }
}

/// The inference capability of one call.
pub struct InferenceCap {
    skill: Arc<str>,
    access: Option<Access>,
    /// Tokens spent by this call so far.
    spent: u64,
}

/// Inference granted to one call.
struct Access {
    client: AgentClient,
    /// Budget misses are asked about in the call's name.
    consent: CallConsent,
    /// Tokens the call may spend, prompts and answers together.
    max_tokens: u32,
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

/// A store whose calls may use inference.
pub(crate) trait InferenceView: Send {
    fn inference(&mut self) -> &mut InferenceCap;
}

pub(crate) fn add_to_linker<T: InferenceView + 'static>(
    linker: &mut Linker<T>,
) -> wasmtime::Result<()> {
    wit::add_to_linker::<T, HasSelf<InferenceCap>>(linker, T::inference)
}
