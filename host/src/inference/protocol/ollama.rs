//! Ollama's native chat API (`POST {url}/api/chat`). A streamed answer is
//! one JSON object per line; a whole answer is one such object with
//! `done: true`. Tool calls arrive whole, with arguments as JSON values.

use serde::Deserialize;
use serde_json::{Value, json};

use super::{OnToken, Reply, arguments_text};
use crate::inference::{ChatRequest, Message, Role, Usage};

pub const PATH: &str = "api/chat";

/// The request body for `model`.
pub fn body(model: &str, request: &ChatRequest, stream: bool) -> Value {
    let messages: Vec<Value> = request
        .messages
        .iter()
        .map(|m| message(m, &request.messages))
        .collect();
    let mut body = json!({ "model": model, "messages": messages, "stream": stream });
    if !request.tools.is_empty() {
        let tools: Vec<Value> = request
            .tools
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
            .collect();
        body["tools"] = tools.into();
    }
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

fn message(message: &Message, all: &[Message]) -> Value {
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
    // Ollama tells results apart by the tool's name, not by a call id.
    if message.role == Role::Tool
        && let Some(id) = &message.tool_call_id
        && let Some(call) = all.iter().flat_map(|m| &m.tool_calls).find(|c| c.id == *id)
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

/// Most tool calls one answer may hold.
const MAX_CALLS: usize = 128;

/// Add one line of an answer to `reply`; false once it says it is done.
pub fn read_line(
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
            let index = reply.call_count();
            if index >= MAX_CALLS {
                return Err(format!("more than {MAX_CALLS} tool calls in one answer"));
            }
            let arguments = arguments_text(&call.function.arguments);
            reply.call_piece(index, None, Some(&call.function.name), Some(&arguments));
        }
    }
    if line.done {
        reply.usage(Usage {
            prompt_tokens: line.prompt_eval_count.unwrap_or(0),
            completion_tokens: line.eval_count.unwrap_or(0),
        });
    }
    Ok(!line.done)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inference::ToolCall;

    #[test]
    fn writes_options_and_names_tool_results() {
        let call = ToolCall {
            id: "c1".into(),
            name: "text_word_count".into(),
            arguments: r#"{"text":"a b"}"#.into(),
        };
        let request = ChatRequest {
            messages: vec![
                Message {
                    tool_calls: vec![call.clone()],
                    ..Message::new(Role::Assistant, "")
                },
                Message::tool_result(&call, "2"),
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
