//! The OpenAI-compatible face of the agents: `POST /v1/chat/completions`
//! with `model` = an agent id, and `GET /v1/models` (and `/v1/models/{id}`)
//! for the agents. Any chat front end or OpenAI SDK can talk to an agent,
//! whose tools run sandboxed here; the client sees only the agent's answers.
//!
//! The client keeps the conversation: a request's messages are the
//! history, its last one the user's new message, and nothing is stored.
//! Its system messages follow the agent's own system prompt.
//!
//! A streamed answer tells the person when the agent waits for an
//! approval, in the text they read, and keeps the connection open with
//! comments meanwhile; with `stream_options.include_usage` it ends with a
//! chunk carrying the usage.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::{Path, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::AbortOnDrop;
use super::Json;
use super::JsonBody;
use super::auth::Caller;
use super::error::ApiError;
use super::served::Served;
use crate::agent::TurnEvent;
use crate::consent::{Prompt, Session};
use crate::vocab::{Message, Role, Usage};

#[derive(Deserialize)]
pub(super) struct ChatCompletionRequest {
    model: String,
    messages: Vec<InMessage>,
    #[serde(default)]
    stream: bool,
    #[serde(default)]
    stream_options: StreamOptions,
}

#[derive(Deserialize, Default)]
struct StreamOptions {
    /// End the stream with a chunk that carries the usage.
    #[serde(default)]
    include_usage: bool,
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

/// A request body, read as `POST /v1/chat/completions` reads it: the
/// earlier messages and the new user message, or why it is refused.
pub fn conversation_of(body: &[u8]) -> Result<(Vec<Message>, String), String> {
    let axum::Json(request) = axum::Json::<ChatCompletionRequest>::from_bytes(body)
        .map_err(|rejection| rejection.body_text())?;
    conversation(request.messages).map_err(|error| error.message)
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// An agent, as OpenAI describes a model.
fn model_object(id: &str) -> Value {
    json!({ "id": id, "object": "model", "created": 0, "owned_by": "skillbox" })
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
        .filter(|id| caller.talk(id.as_str()).is_ok())
        .map(|id| model_object(id.as_str()))
        .collect();
    Json(json!({ "object": "list", "data": models }))
}

/// `GET /v1/models/{id}`: an agent the caller may talk to; any other is
/// not found, as an unknown model is.
pub(super) async fn model(
    State(served): State<Arc<Served>>,
    caller: axum::Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let known = served.config().agents.contains_key(id.as_str());
    if !known || caller.talk(&id).is_err() {
        return Err(ApiError::not_found(format!("no model '{id}'")));
    }
    Ok(Json(model_object(&id)))
}

/// `POST /v1/chat/completions`.
pub(super) async fn chat_completions(
    State(served): State<Arc<Served>>,
    caller: axum::Extension<Caller>,
    JsonBody(request): JsonBody<ChatCompletionRequest>,
) -> Result<Response, ApiError> {
    let id = request.model.clone();
    caller.talk(&id)?;
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
            "usage": usage_object(&usage),
        }))
        .into_response());
    }

    let stream = Stream {
        id,
        completion_id,
        created,
        include_usage: request.stream_options.include_usage,
    };
    let (events, receiver) = mpsc::unbounded_channel::<Sent>();
    let _ = events.send(Sent::Chunk(
        stream.chunk(json!({ "role": "assistant", "content": "" }), None),
    ));
    let approvals = {
        let (stream, events) = (stream.clone(), events.clone());
        super::watch_prompts(&served, agent.id().clone(), move |prompt| {
            let chunk = stream.chunk(json!({ "content": waiting_text(&prompt) }), None);
            events.send(Sent::Chunk(chunk)).is_ok()
        })
    };
    let turn = tokio::spawn(async move {
        let _permit = permit;
        let on_event = |event| {
            if let TurnEvent::Token { text } = event {
                let _ = events.send(Sent::Chunk(stream.chunk(json!({ "content": text }), None)));
            }
        };
        let turn = served
            .runtime
            .turn_after(&agent, &session, &earlier, &message, Some(&on_event));
        match super::outcome_of(turn).await {
            Ok((report, _)) => {
                let _ = events.send(Sent::Chunk(stream.chunk(json!({}), Some("stop"))));
                if stream.include_usage {
                    let _ = events.send(Sent::Chunk(stream.usage(&report.usage)));
                }
            }
            Err(e) => {
                let _ = events.send(Sent::Chunk(data(e.body())));
            }
        }
        let _ = events.send(Sent::Done);
    });
    let cancel = AbortOnDrop(vec![turn.abort_handle(), approvals.abort_handle()]);
    // Up to `[DONE]`, which ends the stream and stops telling approvals.
    let stream = futures_util::stream::unfold(Some((receiver, cancel)), |state| async move {
        let (mut receiver, cancel) = state?;
        let event = match receiver.recv().await? {
            Sent::Chunk(event) => {
                return Some((Ok::<_, Infallible>(event), Some((receiver, cancel))));
            }
            Sent::Done => Event::default().data("[DONE]"),
        };
        Some((Ok(event), None))
    });
    // Comments keep the connection open while a turn waits (on a model, or
    // on a person); clients ignore them.
    Ok(Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response())
}

/// What the turn sends its stream.
enum Sent {
    Chunk(Event),
    /// The turn is over.
    Done,
}

fn data(value: Value) -> Event {
    Event::default().data(value.to_string())
}

/// The chunks of one streamed completion.
#[derive(Clone)]
struct Stream {
    id: String,
    completion_id: String,
    created: u64,
    include_usage: bool,
}

impl Stream {
    /// A chunk with `delta`. With usage asked for, every chunk says it has
    /// none but the last.
    fn chunk(&self, delta: Value, finish: Option<&str>) -> Event {
        let mut chunk = json!({
            "id": self.completion_id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.id,
            "choices": [{ "index": 0, "delta": delta, "finish_reason": finish }],
        });
        if self.include_usage {
            chunk["usage"] = Value::Null;
        }
        data(chunk)
    }

    /// The last chunk when usage is asked for: no choices, the usage.
    fn usage(&self, usage: &Usage) -> Event {
        data(json!({
            "id": self.completion_id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.id,
            "choices": [],
            "usage": usage_object(usage),
        }))
    }
}

fn usage_object(usage: &Usage) -> Value {
    json!({
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total(),
    })
}

/// What the person reads while a call waits for their approval.
fn waiting_text(prompt: &Prompt) -> String {
    let until = humantime::format_rfc3339_seconds(prompt.expires_at);
    format!(
        "\n\n> Waiting for approval: {}.{} wants {} ({}). A person who approves for \
         this agent answers with `skillbox approvals answer {} allow` on the host, or an \
         approver's token, before {until}.\n\n",
        prompt.skill, prompt.tool, prompt.capability, prompt.reason, prompt.id
    )
}
