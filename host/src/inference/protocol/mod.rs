//! The wire protocols of inference backends: how a [`ChatRequest`] is
//! written for each kind, and how its answer, whole or streamed, is read.

pub mod ollama;
pub mod openai;

use crate::inference::{Message, Role, ToolCall, Usage};

/// Called with each piece of text as a streamed answer arrives.
pub type OnToken<'a> = &'a (dyn Fn(&str) + Send + Sync);

/// A model's answer as it arrives: text, tool calls (perhaps in pieces) and
/// usage.
#[derive(Debug, Default)]
pub struct Reply {
    content: String,
    calls: Vec<ToolCall>,
    usage: Option<Usage>,
}

impl Reply {
    pub fn text(&mut self, piece: &str, on_token: Option<OnToken<'_>>) {
        if piece.is_empty() {
            return;
        }
        self.content.push_str(piece);
        if let Some(on_token) = on_token {
            on_token(piece);
        }
    }

    /// A piece of tool call number `index`: streamed calls arrive as an id
    /// and name, then their arguments in fragments.
    pub fn call_piece(
        &mut self,
        index: usize,
        id: Option<&str>,
        name: Option<&str>,
        arguments: Option<&str>,
    ) {
        // Bounded by the response size: a model cannot make the host hold
        // more than the body it sent.
        while self.calls.len() <= index {
            self.calls.push(ToolCall {
                id: String::new(),
                name: String::new(),
                arguments: String::new(),
            });
        }
        let call = &mut self.calls[index];
        if let Some(id) = id {
            call.id.push_str(id);
        }
        if let Some(name) = name {
            call.name.push_str(name);
        }
        if let Some(arguments) = arguments {
            call.arguments.push_str(arguments);
        }
    }

    pub fn usage(&mut self, usage: Usage) {
        self.usage = Some(usage);
    }

    pub fn call_count(&self) -> usize {
        self.calls.len()
    }

    pub fn has_output(&self) -> bool {
        !self.content.is_empty() || !self.calls.is_empty()
    }

    /// The assistant message, with an id for every call, and the usage if
    /// the backend reported it.
    pub fn finish(self) -> (Message, Option<Usage>) {
        let calls = self
            .calls
            .into_iter()
            .filter(|c| !c.name.is_empty())
            .enumerate()
            .map(|(i, mut call)| {
                if call.id.is_empty() {
                    call.id = format!("call_{i}");
                }
                if call.arguments.trim().is_empty() {
                    call.arguments = "{}".into();
                }
                call
            })
            .collect();
        let message = Message {
            role: Role::Assistant,
            content: self.content,
            tool_calls: calls,
            tool_call_id: None,
        };
        (message, self.usage)
    }
}

/// Arguments as a model sent them: JSON text, or (Ollama) a JSON value.
pub(super) fn arguments_text(arguments: &serde_json::Value) -> String {
    match arguments {
        serde_json::Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}
