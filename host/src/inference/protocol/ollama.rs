//! Ollama's native chat API (`POST {url}/api/chat`). A streamed answer is
//! one JSON object per line; a whole answer is one such object with
//! `done: true`. Tool calls arrive whole, with arguments as JSON values.

use serde::Deserialize;
use serde_json::{Value, json};

use super::{OnToken, Reply, arguments_text, common};
use crate::vocab::{ChatRequest, Message, Role, ToolCall, Usage};

pub(crate) const PATH: &str = "api/chat";

/// The request body for `model`.
pub(crate) fn body(model: &str, request: &ChatRequest, stream: bool) -> Value {
    // Ollama tells tool results apart by the tool's name, not by a call id:
    // each result is named after the call it answers in the assistant
    // message before it.
    let mut calls: &[ToolCall] = &[];
    let mut messages = Vec::with_capacity(request.messages.len());
    for m in &request.messages {
        if m.role == Role::Assistant {
            calls = &m.tool_calls;
        }
        messages.push(message(m, calls));
    }
    let mut body = common(model, messages, request, stream);
    let mut options = serde_json::Map::new();
    if let Some(max) = request.max_tokens {
        options.insert("num_predict".into(), max.into());
    }
    if let Some(temperature) = request.temperature {
        options.insert("temperature".into(), temperature.into());
    }
    if !options.is_empty() {
        body["options"] = options.into();
    }
    body
}

/// `message` on the wire; `calls` are those of the assistant message it
/// may answer.
fn message(message: &Message, calls: &[ToolCall]) -> Value {
    let mut wire = json!({ "role": message.role, "content": message.content });
    if !message.tool_calls.is_empty() {
        let calls: Vec<Value> = message
            .tool_calls
            .iter()
            .map(|call| {
                let arguments =
                    serde_json::from_str::<Value>(&call.arguments).unwrap_or_else(|_| json!({}));
                json!({ "function": { "name": call.name, "arguments": arguments } })
            })
            .collect();
        wire["tool_calls"] = calls.into();
    }
    if message.role == Role::Tool
        && let Some(id) = &message.tool_call_id
        && let Some(call) = calls.iter().find(|c| c.id == *id)
    {
        wire["tool_name"] = call.name.as_str().into();
    }
    wire
}

#[derive(Deserialize)]
struct Line {
    message: Option<WireMessage>,
    #[serde(default)]
    done: bool,
    prompt_eval_count: Option<u64>,
    eval_count: Option<u64>,
    error: Option<String>,
}

#[derive(Deserialize)]
struct WireMessage {
    #[serde(default)]
    content: String,
    #[serde(default)]
    tool_calls: Vec<WireCall>,
}

#[derive(Deserialize)]
struct WireCall {
    function: WireFunction,
}

#[derive(Deserialize)]
struct WireFunction {
    name: String,
    #[serde(default)]
    arguments: Value,
}

/// Add one line of an answer to `reply`; false once it says it is done.
pub(crate) fn read_line(
    line: &str,
    reply: &mut Reply,
    on_token: Option<OnToken<'_>>,
) -> Result<bool, String> {
    let line: Line =
        serde_json::from_str(line).map_err(|e| format!("not an Ollama chat response: {e}"))?;
    if let Some(error) = line.error {
        return Err(format!("the backend reports: {error}"));
    }
    if let Some(message) = line.message {
        reply.text(&message.content, on_token);
        for call in message.tool_calls {
            let arguments = arguments_text(&call.function.arguments);
            let index = Some(reply.call_count());
            reply.call_piece(index, None, Some(&call.function.name), Some(&arguments))?;
        }
    }
    if line.done {
        reply.complete();
        // A cached prompt goes without its count: then the usage is
        // estimated rather than taken as free.
        if let (Some(prompt), Some(completion)) = (line.prompt_eval_count, line.eval_count) {
            reply.usage(Usage {
                prompt_tokens: prompt,
                completion_tokens: completion,
            });
        }
    }
    Ok(!line.done)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vocab::ToolCall;

    #[test]
    fn writes_options_and_names_each_result_after_its_own_call() {
        // Ollama's calls have no ids: each answer numbers its own from 0.
        let call = |name: &str| ToolCall {
            id: "call_0".into(),
            name: name.into(),
            arguments: r#"{"text":"a b"}"#.into(),
        };
        let (first, second) = (call("text_word_count"), call("notes_recall"));
        let request = ChatRequest {
            messages: vec![
                Message {
                    tool_calls: vec![first.clone()],
                    ..Message::new(Role::Assistant, "")
                },
                Message::tool_result(&first, "2"),
                Message {
                    tool_calls: vec![second.clone()],
                    ..Message::new(Role::Assistant, "")
                },
                Message::tool_result(&second, "none"),
            ],
            max_tokens: Some(10),
            temperature: Some(0.5),
            ..ChatRequest::default()
        };
        let body = body("llama3.2", &request, false);
        assert_eq!(body["options"]["num_predict"], 10);
        assert_eq!(
            body["messages"][0]["tool_calls"][0]["function"]["arguments"]["text"],
            "a b"
        );
        assert_eq!(body["messages"][1]["tool_name"], "text_word_count");
        assert_eq!(body["messages"][3]["tool_name"], "notes_recall");
    }

    #[test]
    fn reads_streamed_lines() {
        let mut reply = Reply::default();
        let lines = [
            r#"{"message":{"role":"assistant","content":"Hel"},"done":false}"#,
            r#"{"message":{"role":"assistant","content":"lo","tool_calls":[{"function":{"name":"f","arguments":{"x":1}}}]},"done":false}"#,
        ];
        for line in lines {
            assert!(read_line(line, &mut reply, None).unwrap());
        }
        let last = r#"{"message":{"role":"assistant","content":""},"done":true,"prompt_eval_count":5,"eval_count":2}"#;
        assert!(!read_line(last, &mut reply, None).unwrap());
        let (message, usage) = reply.finish();
        assert_eq!(message.content, "Hello");
        assert_eq!(message.tool_calls[0].arguments, r#"{"x":1}"#);
        assert_eq!(usage.unwrap().total(), 7);
        let mut reply = Reply::default();
        let err = read_line(r#"{"error":"model not found"}"#, &mut reply, None).unwrap_err();
        assert!(err.contains("model not found"));
    }
}
