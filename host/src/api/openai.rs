//! The OpenAI-compatible face of the agents: `POST /v1/chat/completions`
//! with `model` = an agent id, and `GET /v1/models` listing the agents.
//! Any chat front end or OpenAI SDK can talk to an agent, whose tools run
//! sandboxed here; the client sees only the agent's answers.
//!
//! The client keeps the conversation: a request's messages are the
//! history, its last one the user's new message, and nothing is stored.
//! Its system messages follow the agent's own system prompt.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::extract::State;
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::AbortOnDrop;
use super::JsonBody;
use super::auth::Caller;
use super::error::ApiError;
use super::served::Served;
use crate::agent::TurnEvent;
use crate::consent::Session;
use crate::vocab::{Message, Role};

#[derive(Deserialize)]
pub(super) struct ChatCompletionRequest {
    model: String,
    messages: Vec<InMessage>,
    #[serde(default)]
    stream: bool,
}

#[derive(Deserialize)]
struct InMessage {
    role: String,
    #[serde(default)]
    content: Option<Content>,
}

/// Text, or parts of which the text ones are read.
#[derive(Deserialize)]
#[serde(untagged)]
enum Content {
    Text(String),
    Parts(Vec<Part>),
}

#[derive(Deserialize)]
struct Part {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    text: String,
}

impl Content {
    fn text(self) -> Result<String, ApiError> {
        match self {
            Content::Text(text) => Ok(text),
            Content::Parts(parts) => parts
                .into_iter()
                .map(|p| match p.kind.as_str() {
                    "text" => Ok(p.text),
                    other => Err(ApiError::bad_request(format!(
                        "content parts of type '{other}' are not supported; send text"
                    ))),
                })
                .collect::<Result<Vec<_>, _>>()
                .map(|texts| texts.join("\n")),
        }
    }
}

/// The earlier messages and the new user message of a request.
fn conversation(messages: Vec<InMessage>) -> Result<(Vec<Message>, String), ApiError> {
    let mut read = Vec::with_capacity(messages.len());
    for (i, message) in messages.into_iter().enumerate() {
        let role = match message.role.as_str() {
            "system" | "developer" => Role::System,
            "user" => Role::User,
            "assistant" => Role::Assistant,
            other => {
                return Err(ApiError::bad_request(format!(
                    "messages[{i}].role '{other}': the agent runs its own tools; \
                     send system, user and assistant messages"
                )));
            }
        };
        let text = message.content.map(Content::text).transpose()?;
        read.push(Message::new(role, text.unwrap_or_default()));
    }
    match read.pop() {
        Some(last) if last.role == Role::User => Ok((read, last.content)),
        _ => Err(ApiError::bad_request("the last message must be the user's")),
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// `GET /v1/models`: the agents the caller may talk to.
pub(super) async fn models(
    State(served): State<Arc<Served>>,
    caller: axum::Extension<Caller>,
) -> Json<Value> {
    let config = served.config();
    let models: Vec<Value> = config
        .agents
        .keys()
        .filter(|id| caller.reach(id.as_str()).is_ok())
        .map(|id| json!({ "id": id, "object": "model", "created": 0, "owned_by": "skillbox" }))
        .collect();
    Json(json!({ "object": "list", "data": models }))
}

/// `POST /v1/chat/completions`.
pub(super) async fn chat_completions(
    State(served): State<Arc<Served>>,
    caller: axum::Extension<Caller>,
    JsonBody(request): JsonBody<ChatCompletionRequest>,
) -> Result<Response, ApiError> {
    let id = request.model.clone();
    caller.reach(&id)?;
    let agent = served.agent(&id)?;
    let (earlier, message) = conversation(request.messages)?;
    let permit = served.begin_turn(agent.id())?;
    let completion_id = format!("chatcmpl-{}", served.runtime.db().generate_id()?);
    let session = Session::new("openai");
    let created = now();

    if !request.stream {
        let (report, _) = served
            .runtime
            .turn_after(&agent, &session, &earlier, &message, None)
            .await?;
        let usage = report.usage;
        return Ok(Json(json!({
            "id": completion_id,
            "object": "chat.completion",
            "created": created,
            "model": id,
            "choices": [{
                "index": 0,
                "message": { "role": "assistant", "content": report.answer },
                "finish_reason": "stop",
            }],
            "usage": {
                "prompt_tokens": usage.prompt_tokens,
                "completion_tokens": usage.completion_tokens,
                "total_tokens": usage.total(),
            },
        }))
        .into_response());
    }

    let chunk = {
        let (id, completion_id) = (id.clone(), completion_id.clone());
        move |delta: Value, finish: Option<&str>| {
            json!({
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": id,
                "choices": [{ "index": 0, "delta": delta, "finish_reason": finish }],
            })
        }
    };
    let (events, receiver) = mpsc::unbounded_channel::<Event>();
    let data = |value: Value| Event::default().data(value.to_string());
    let _ = events.send(data(chunk(
        json!({ "role": "assistant", "content": "" }),
        None,
    )));
    let turn = tokio::spawn(async move {
        let _permit = permit;
        let on_event = |event| {
            if let TurnEvent::Token { text } = event {
                let _ = events.send(data(chunk(json!({ "content": text }), None)));
            }
        };
        let outcome = served
            .runtime
            .turn_after(&agent, &session, &earlier, &message, Some(&on_event))
            .await;
        match outcome {
            Ok(_) => {
                let _ = events.send(data(chunk(json!({}), Some("stop"))));
            }
            Err(e) => {
                let _ = events.send(data(ApiError::from(e).body()));
            }
        }
        let _ = events.send(Event::default().data("[DONE]"));
    });
    let cancel = AbortOnDrop(vec![turn.abort_handle()]);
    let stream =
        futures_util::stream::unfold((receiver, cancel), |(mut receiver, abort)| async move {
            let event = receiver.recv().await?;
            Some((Ok::<_, Infallible>(event), (receiver, abort)))
        });
    Ok(Sse::new(stream).into_response())
}
