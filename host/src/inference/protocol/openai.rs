//! The OpenAI chat completions API (`POST {url}/chat/completions`), as
//! served by vLLM, llama.cpp's server, LiteLLM, Ollama's `/v1` and cloud
//! APIs. Streamed answers are server-sent events, one chunk per event,
//! ending with `[DONE]`.

use serde::Deserialize;
use serde_json::{Value, json};

use super::{OnToken, Reply, arguments_text, common};
use crate::vocab::{ChatRequest, Message, Usage};

pub(crate) const PATH: &str = "chat/completions";

/// The request body for `model`.
pub(crate) fn body(model: &str, request: &ChatRequest, stream: bool) -> Value {
    let messages = request.messages.iter().map(message).collect();
    let mut body = common(model, messages, request, stream);
    if stream {
        body["stream_options"] = json!({ "include_usage": true });
    }
    if let Some(max) = request.max_tokens {
        body["max_tokens"] = max.into();
    }
    if let Some(temperature) = request.temperature {
        body["temperature"] = temperature.into();
    }
    body
}

fn message(message: &Message) -> Value {
    let mut wire = json!({ "role": message.role, "content": message.content });
    if !message.tool_calls.is_empty() {
        let calls: Vec<Value> = message
            .tool_calls
            .iter()
            .map(|call| {
                json!({
                    "id": call.id,
                    "type": "function",
                    "function": { "name": call.name, "arguments": call.arguments },
                })
            })
            .collect();
        wire["tool_calls"] = calls.into();
    }
    if let Some(id) = &message.tool_call_id {
        wire["tool_call_id"] = id.as_str().into();
    }
    wire
}

#[derive(Deserialize)]
struct Completion {
    choices: Vec<Choice>,
    usage: Option<WireUsage>,
}

#[derive(Deserialize)]
struct Choice {
    message: WireMessage,
}

#[derive(Deserialize)]
struct WireMessage {
    content: Option<String>,
    #[serde(default)]
    tool_calls: Vec<WireCall>,
}

#[derive(Deserialize)]
struct WireCall {
    id: Option<String>,
    function: WireFunction,
}

#[derive(Deserialize)]
struct WireFunction {
    name: String,
    #[serde(default)]
    arguments: Value,
}

#[derive(Deserialize)]
struct WireUsage {
    #[serde(default)]
    prompt_tokens: u64,
    #[serde(default)]
    completion_tokens: u64,
}

impl From<WireUsage> for Usage {
    fn from(wire: WireUsage) -> Usage {
        Usage {
            prompt_tokens: wire.prompt_tokens,
            completion_tokens: wire.completion_tokens,
        }
    }
}

/// Read a whole (not streamed) answer.
pub(crate) fn read(body: &[u8]) -> Result<Reply, String> {
    let completion: Completion =
        serde_json::from_slice(body).map_err(|e| format!("not a chat completion: {e}"))?;
    let mut reply = Reply::default();
    let choice = completion
        .choices
        .into_iter()
        .next()
        .ok_or("a chat completion without choices")?;
    reply.text(&choice.message.content.unwrap_or_default(), None);
    for (i, call) in choice.message.tool_calls.into_iter().enumerate() {
        let arguments = arguments_text(&call.function.arguments);
        reply.call_piece(
            Some(i),
            call.id.as_deref(),
            Some(&call.function.name),
            Some(&arguments),
        )?;
    }
    if let Some(usage) = completion.usage {
        reply.usage(usage.into());
    }
    reply.complete();
    Ok(reply)
}

#[derive(Deserialize)]
struct Chunk {
    #[serde(default)]
    choices: Vec<ChunkChoice>,
    usage: Option<WireUsage>,
}

#[derive(Deserialize)]
struct ChunkChoice {
    #[serde(default)]
    index: usize,
    #[serde(default)]
    delta: Delta,
    finish_reason: Option<String>,
}

#[derive(Deserialize, Default)]
struct Delta {
    content: Option<String>,
    #[serde(default)]
    tool_calls: Vec<DeltaCall>,
}

#[derive(Deserialize)]
struct DeltaCall {
    index: Option<usize>,
    id: Option<String>,
    function: Option<DeltaFunction>,
}

#[derive(Deserialize)]
struct DeltaFunction {
    name: Option<String>,
    arguments: Option<String>,
}

/// Add the data of one streamed event to `reply`; false once the stream
/// says it is done.
pub(crate) fn read_event(
    data: &str,
    reply: &mut Reply,
    on_token: Option<OnToken<'_>>,
) -> Result<bool, String> {
    let data = data.trim();
    if data == "[DONE]" {
        reply.complete();
        return Ok(false);
    }
    let chunk: Chunk =
        serde_json::from_str(data).map_err(|e| format!("not a chat completion chunk: {e}"))?;
    // Only the first choice is asked for; other choices are not mixed in.
    for choice in chunk.choices.into_iter().filter(|c| c.index == 0) {
        reply.text(
            choice.delta.content.as_deref().unwrap_or_default(),
            on_token,
        );
        for call in choice.delta.tool_calls {
            let function = call.function.as_ref();
            reply.call_piece(
                call.index,
                call.id.as_deref(),
                function.and_then(|f| f.name.as_deref()),
                function.and_then(|f| f.arguments.as_deref()),
            )?;
        }
        // The usage chunk may still follow; the answer itself is complete.
        if choice.finish_reason.is_some() {
            reply.complete();
        }
    }
    if let Some(usage) = chunk.usage {
        reply.usage(usage.into());
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vocab::{Role, ToolCall, ToolSpec};

    #[test]
    fn writes_tools_calls_and_results() {
        let call = ToolCall {
            id: "c1".into(),
            name: "text_word_count".into(),
            arguments: r#"{"text":"a b"}"#.into(),
        };
        let request = ChatRequest {
            messages: vec![
                Message::new(Role::User, "count"),
                Message {
                    tool_calls: vec![call.clone()],
                    ..Message::new(Role::Assistant, "")
                },
                Message::tool_result(&call, "2"),
            ],
            tools: vec![ToolSpec {
                name: "text_word_count".into(),
                description: "Count words".into(),
                parameters: json!({"type": "object"}),
            }],
            max_tokens: Some(64),
            temperature: None,
        };
        let body = body("m", &request, true);
        assert_eq!(body["stream_options"]["include_usage"], true);
        assert_eq!(body["tools"][0]["function"]["name"], "text_word_count");
        assert_eq!(
            body["messages"][1]["tool_calls"][0]["function"]["arguments"],
            r#"{"text":"a b"}"#
        );
        assert_eq!(body["messages"][2]["tool_call_id"], "c1");
        assert_eq!(body["max_tokens"], 64);
        assert!(body.get("temperature").is_none());
    }

    #[test]
    fn reads_streamed_tool_calls_in_pieces() {
        let mut reply = Reply::default();
        let events = [
            r#"{"choices":[{"delta":{"content":"Let me "}}]}"#,
            r#"{"choices":[{"delta":{"content":"count.","tool_calls":[{"index":0,"id":"c1","function":{"name":"text_word_count","arguments":""}}]}}]}"#,
            r#"{"choices":[{"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"text\":"}}]}}]}"#,
            r#"{"choices":[{"delta":{"tool_calls":[{"index":0,"function":{"arguments":"\"a b\"}"}}]}}]}"#,
            r#"{"choices":[],"usage":{"prompt_tokens":12,"completion_tokens":7}}"#,
        ];
        let tokens = std::sync::Mutex::new(Vec::new());
        let on_token = |t: &str| tokens.lock().unwrap().push(t.to_owned());
        for event in events {
            assert!(read_event(event, &mut reply, Some(&on_token)).unwrap());
        }
        assert!(!read_event("[DONE]", &mut reply, None).unwrap());
        let (message, usage) = reply.finish();
        assert_eq!(message.content, "Let me count.");
        assert_eq!(*tokens.lock().unwrap(), ["Let me ", "count."]);
        assert_eq!(message.tool_calls[0].arguments, r#"{"text":"a b"}"#);
        assert_eq!(usage.unwrap().total(), 19);
    }

    #[test]
    fn reads_a_whole_answer_and_refuses_garbage() {
        let body = br#"{"choices":[{"message":{"content":null,"tool_calls":[{"id":"x","type":"function","function":{"name":"f","arguments":"{}"}}]}}],"usage":{"prompt_tokens":3,"completion_tokens":4}}"#;
        let (message, usage) = read(body).unwrap().finish();
        assert_eq!(message.tool_calls[0].name, "f");
        assert_eq!(usage.unwrap().completion_tokens, 4);
        assert!(
            read(b"<html>")
                .unwrap_err()
                .contains("not a chat completion")
        );
        assert!(read(br#"{"choices":[]}"#).is_err());
    }
}
