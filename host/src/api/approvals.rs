//! `/v1/approvals`: the consent prompts waiting for a person, and their
//! answers. An approver's token sees and answers the prompts of its
//! agents; the admin token, every prompt. A token that talks to an agent
//! never answers for it: whoever drives an agent cannot approve what it
//! asks.

use std::sync::Arc;

use axum::extract::{Path, State};
use serde_json::{Value, json};

use super::Json;
use super::JsonBody;
use super::auth::Caller;
use super::error::ApiError;
use super::served::Served;
use crate::consent::Answer;

/// `GET /v1/approvals`: pending prompts of the caller's agents, oldest
/// first.
pub(super) async fn list(
    State(served): State<Arc<Served>>,
    caller: axum::Extension<Caller>,
) -> Result<Json<Value>, ApiError> {
    caller.decides()?;
    let prompts: Vec<_> = served
        .queue
        .pending()
        .into_iter()
        .filter(|p| caller.oversee(p.agent.as_str()).is_ok())
        .collect();
    Ok(Json(json!({ "approvals": prompts })))
}

/// `POST /v1/approvals/{id}` with an answer such as `{"allow": true,
/// "scope": "always"}`. Answered once its grant, if any, is stored.
pub(super) async fn answer(
    State(served): State<Arc<Served>>,
    caller: axum::Extension<Caller>,
    Path(id): Path<String>,
    JsonBody(answer): JsonBody<Answer>,
) -> Result<Json<Value>, ApiError> {
    let prompt = served
        .queue
        .get(&id)
        .ok_or_else(|| ApiError::not_found(format!("no pending approval '{id}'")))?;
    caller.oversee(prompt.agent.as_str())?;
    served
        .queue
        .answer(&id, answer, caller.by())
        .await
        .map_err(|e| ApiError::not_found(e.to_string()))?;
    Ok(Json(json!({ "id": id, "answer": answer.to_string() })))
}
