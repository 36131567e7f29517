//! The wire protocols of inference backends: how a [`ChatRequest`] is
//! written for each kind, and how its answer, whole or streamed, is read.

pub(super) mod ollama;
pub(super) mod openai;

use serde_json::{Value, json};

use crate::config::BackendKind;
use crate::vocab::{ChatRequest, Message, Role, ToolCall, ToolSpec, Usage};

/// Called with each piece of text as a streamed answer arrives.
pub(crate) type OnToken<'a> = &'a (dyn Fn(&str) + Send + Sync);

/// Most tool calls one answer may hold.
pub(super) const MAX_CALLS: usize = 128;

/// A model's answer as it arrives: text, tool calls (perhaps in pieces),
/// usage, and whether the backend said it was complete.
#[derive(Debug, Default)]
pub(super) struct Reply {
    content: String,
    calls: Vec<ToolCall>,
    usage: Option<Usage>,
    complete: bool,
}

impl Reply {
    pub(super) fn text(&mut self, piece: &str, on_token: Option<OnToken<'_>>) {
        if piece.is_empty() {
            return;
        }
        self.content.push_str(piece);
        if let Some(on_token) = on_token {
            on_token(piece);
        }
    }

    /// A piece of a tool call. Streamed calls arrive as an id and a name,
    /// then their arguments in fragments, each piece naming its call by
    /// `index`; without an index, a new id starts a new call.
    pub(super) fn call_piece(
        &mut self,
        index: Option<usize>,
        id: Option<&str>,
        name: Option<&str>,
        arguments: Option<&str>,
    ) -> Result<(), String> {
        let index = index.unwrap_or_else(|| match (self.calls.last(), id) {
            (Some(last), Some(id)) if !last.id.is_empty() && last.id != id => self.calls.len(),
            (Some(_), _) => self.calls.len() - 1,
            (None, _) => 0,
        });
        if index >= MAX_CALLS {
            return Err(format!("more than {MAX_CALLS} tool calls in one answer"));
        }
        while self.calls.len() <= index {
            self.calls.push(ToolCall {
                id: String::new(),
                name: String::new(),
                arguments: String::new(),
            });
        }
        let call = &mut self.calls[index];
        // Ids and names come whole; some servers repeat them in every piece.
        if let Some(id) = id
            && call.id.is_empty()
        {
            call.id = id.to_owned();
        }
        if let Some(name) = name
            && call.name.is_empty()
        {
            call.name = name.to_owned();
        }
        if let Some(arguments) = arguments {
            call.arguments.push_str(arguments);
        }
        Ok(())
    }

    pub(super) fn usage(&mut self, usage: Usage) {
        self.usage = Some(usage);
    }

    /// The backend said the answer is complete.
    pub(super) fn complete(&mut self) {
        self.complete = true;
    }

    pub(super) fn is_complete(&self) -> bool {
        self.complete
    }

    pub(super) fn call_count(&self) -> usize {
        self.calls.len()
    }

    pub(super) fn has_output(&self) -> bool {
        !self.content.is_empty() || !self.calls.is_empty()
    }

    /// The assistant message, with an id for every call, and the usage if
    /// the backend reported it.
    pub(super) fn finish(self) -> (Message, Option<Usage>) {
        let mut calls: Vec<ToolCall> = Vec::with_capacity(self.calls.len());
        for (i, mut call) in self.calls.into_iter().enumerate() {
            if call.name.is_empty() {
                continue;
            }
            // Ids must tell the calls of one answer apart.
            if call.id.is_empty() || calls.iter().any(|c| c.id == call.id) {
                call.id = format!("call_{i}");
            }
            if call.arguments.trim().is_empty() {
                call.arguments = "{}".into();
            }
            calls.push(call);
        }
        let message = Message {
            role: Role::Assistant,
            content: self.content,
            tool_calls: calls,
            tool_call_id: None,
        };
        (message, self.usage)
    }
}

impl BackendKind {
    /// Where requests go, relative to the backend's URL.
    pub fn path(self) -> &'static str {
        match self {
            BackendKind::Openai => openai::PATH,
            BackendKind::Ollama => ollama::PATH,
        }
    }

    /// The request body asking `model` for the next message of `request`.
    pub fn body(self, model: &str, request: &ChatRequest, stream: bool) -> Value {
        match self {
            BackendKind::Openai => openai::body(model, request, stream),
            BackendKind::Ollama => ollama::body(model, request, stream),
        }
    }
}

/// The tools of `request` as both APIs take them.
fn tools(specs: &[ToolSpec]) -> Value {
    specs
        .iter()
        .map(|tool| {
            json!({
                "type": "function",
                "function": {
                    "name": tool.name,
                    "description": tool.description,
                    "parameters": tool.parameters,
                }
            })
        })
        .collect()
}

/// The fields both APIs share: model, messages, stream, tools.
fn common(model: &str, messages: Vec<Value>, request: &ChatRequest, stream: bool) -> Value {
    let mut body = json!({ "model": model, "messages": messages, "stream": stream });
    if !request.tools.is_empty() {
        body["tools"] = tools(&request.tools);
    }
    body
}

/// Arguments as a model sent them: JSON text, or (Ollama) a JSON value.
fn arguments_text(arguments: &Value) -> String {
    match arguments {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_ids_and_names_and_missing_indexes_are_understood() {
        let mut reply = Reply::default();
        // A server that repeats id and name with every fragment, and gives
        // no index: two calls, told apart by their ids.
        for (id, args) in [("a", "{\"x\":"), ("a", "1}"), ("b", "{}")] {
            reply
                .call_piece(None, Some(id), Some("f"), Some(args))
                .unwrap();
        }
        let (message, _) = reply.finish();
        let calls: Vec<(&str, &str, &str)> = message
            .tool_calls
            .iter()
            .map(|c| (c.id.as_str(), c.name.as_str(), c.arguments.as_str()))
            .collect();
        assert_eq!(calls, [("a", "f", "{\"x\":1}"), ("b", "f", "{}")]);
    }

    #[test]
    fn calls_are_bounded_and_ids_made_unique() {
        let mut reply = Reply::default();
        assert!(
            reply
                .call_piece(Some(MAX_CALLS), None, Some("f"), None)
                .is_err()
        );
        for i in 0..2 {
            reply
                .call_piece(Some(i), Some("same"), Some("f"), None)
                .unwrap();
        }
        let (message, _) = reply.finish();
        assert_eq!(message.tool_calls[0].id, "same");
        assert_eq!(message.tool_calls[1].id, "call_1");
        assert_eq!(message.tool_calls[1].arguments, "{}");
    }
}
