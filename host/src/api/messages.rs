//! `POST /v1/agents/{id}/messages`: one turn of a stored conversation,
//! answered whole or as a stream of server-sent events.
//!
//! A stream carries `token`, `tool_call` and `tool_result` events as the
//! turn runs, `approval` when one of the agent's calls waits for a person
//! (answer it at `POST /v1/approvals/{id}`), and ends with `done` (the
//! turn) or `error`. A client that goes away cancels its turn.

use std::convert::Infallible;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::Stream;
use serde::Deserialize;
use tokio::sync::mpsc;

use super::AbortOnDrop;
use super::Json;
use super::JsonBody;
use super::auth::Caller;
use super::error::ApiError;
use super::served::Served;
use crate::agent::{TurnEvent, TurnReport};
use crate::consent::Prompt;
use crate::consent::Session;

#[derive(Deserialize)]
pub(super) struct MessageRequest {
    message: String,
    #[serde(default = "default_conversation")]
    conversation: String,
    /// Answer as a stream of server-sent events.
    #[serde(default)]
    stream: bool,
}

fn default_conversation() -> String {
    "default".into()
}

/// Session grants made during a conversation last as long as it.
pub(super) fn conversation_session(conversation: &str) -> Session {
    Session::new(&format!("api:{conversation}"))
}

/// What a stream carries.
enum Streamed {
    Turn(TurnEvent),
    Approval(Prompt),
    Done(Box<TurnReport>),
    Failed(ApiError),
}

impl Streamed {
    fn event(&self) -> Event {
        let (name, data) = match self {
            Streamed::Turn(event) => {
                let name = match event {
                    TurnEvent::Token { .. } => "token",
                    TurnEvent::ToolCall { .. } => "tool_call",
                    TurnEvent::ToolResult { .. } => "tool_result",
                };
                (name, serde_json::to_string(event))
            }
            Streamed::Approval(prompt) => ("approval", serde_json::to_string(prompt)),
            Streamed::Done(report) => ("done", serde_json::to_string(report)),
            Streamed::Failed(error) => ("error", serde_json::to_string(&error.body())),
        };
        Event::default()
            .event(name)
            .data(data.expect("events serialize"))
    }
}

pub(super) async fn post(
    State(served): State<Arc<Served>>,
    caller: axum::Extension<Caller>,
    Path(id): Path<String>,
    JsonBody(request): JsonBody<MessageRequest>,
) -> Result<Response, ApiError> {
    caller.talk(&id)?;
    let agent = served.agent(&id)?;
    let permit = served.begin_turn(agent.id())?;
    let session = conversation_session(&request.conversation);
    if !request.stream {
        let report = served
            .runtime
            .turn(
                &agent,
                &session,
                &request.conversation,
                &request.message,
                None,
            )
            .await?;
        return Ok(Json(report).into_response());
    }

    let (events, receiver) = mpsc::unbounded_channel();
    let approvals = {
        let events = events.clone();
        super::watch_prompts(&served, agent.id().clone(), move |prompt| {
            events.send(Streamed::Approval(prompt)).is_ok()
        })
    };
    let turn = tokio::spawn(async move {
        let _permit = permit;
        let on_event = |event| {
            let _ = events.send(Streamed::Turn(event));
        };
        let turn = served.runtime.turn(
            &agent,
            &session,
            &request.conversation,
            &request.message,
            Some(&on_event),
        );
        let _ = events.send(match super::outcome_of(turn).await {
            Ok(report) => Streamed::Done(Box::new(report)),
            Err(e) => Streamed::Failed(e),
        });
    });
    let cancel = AbortOnDrop(vec![turn.abort_handle(), approvals.abort_handle()]);
    let stream = events_until_done(receiver, cancel);
    Ok(Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response())
}

/// The events of `receiver` until (and with) `done` or `error`.
fn events_until_done(
    receiver: mpsc::UnboundedReceiver<Streamed>,
    cancel: AbortOnDrop,
) -> impl Stream<Item = Result<Event, Infallible>> {
    futures_util::stream::unfold(Some((receiver, cancel)), |state| async move {
        let (mut receiver, cancel) = state?;
        let streamed = receiver.recv().await?;
        let last = matches!(streamed, Streamed::Done(_) | Streamed::Failed(_));
        let event = streamed.event();
        Some((Ok(event), (!last).then_some((receiver, cancel))))
    })
}
