//! `/v1/agents`: what each agent is and may do, its history, grants and
//! audit log, and its tools called directly.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use super::Json;
use super::JsonBody;
use super::auth::Caller;
use super::error::ApiError;
use super::served::Served;
use crate::config::AgentConfig;
use crate::consent::Session;
use crate::db::{audit, grants, history};
use crate::vocab::AgentId;

/// The session of tool calls made directly through the API.
const TOOLS_SESSION: &str = "api";

fn summary(config: &AgentConfig) -> Value {
    json!({
        "id": config.id,
        "description": config.description,
        "model": config.inference.as_ref().and_then(|i| i.models.first()).map(|m| m.value.to_string()),
        "consent": config.consent.mode,
    })
}

/// `GET /v1/agents`: every agent the caller may reach.
pub(super) async fn list(
    State(served): State<Arc<Served>>,
    caller: axum::Extension<Caller>,
) -> Json<Value> {
    let config = served.config();
    let agents: Vec<Value> = config
        .agents
        .values()
        .filter(|a| caller.see(a.id.as_str()).is_ok())
        .map(summary)
        .collect();
    Json(json!({ "agents": agents }))
}

/// `GET /v1/agents/{id}`: the agent and its effective tools; for those who
/// oversee it, its grants, usage and what is left of its budget.
pub(super) async fn get(
    State(served): State<Arc<Served>>,
    caller: axum::Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    caller.see(&id)?;
    let config = served.agent_config(&id)?;
    let agent = served.agent(&id)?;
    let tools: Vec<Value> = agent
        .tools()
        .into_iter()
        .map(|(skill, tool)| {
            json!({
                "name": format!("{skill}.{}", tool.name),
                "description": tool.description,
                "input_schema": tool.input_schema.json,
            })
        })
        .collect();
    let budget = config.inference.as_ref().map(|settings| {
        served
            .runtime
            .inference()
            .remaining(agent.id(), &settings.budget)
            .into_iter()
            .collect::<std::collections::BTreeMap<_, _>>()
    });
    let mut body = summary(&config);
    body["tools"] = json!(tools);
    if caller.oversee(&id).is_ok() {
        body["grants"] = json!(all_grants(&served, &id)?);
        body["usage"] = json!(usage(&served, agent.id())?);
        body["budget_remaining"] = json!(budget);
    }
    Ok(Json(body))
}

fn usage(served: &Served, agent: &AgentId) -> Result<Vec<Value>, ApiError> {
    Ok(served
        .runtime
        .inference()
        .usage(agent)?
        .into_iter()
        .map(|((day, model), spent)| json!({ "day": day, "model": model, "spent": spent }))
        .collect())
}

fn all_grants(served: &Served, id: &str) -> Result<Vec<grants::Grant>, ApiError> {
    let config = served.agent_config(id)?;
    let mut all = grants::list(served.runtime.db(), id)?;
    all.extend(served.runtime.consent().session_grants(&config.id));
    Ok(all)
}

#[derive(Deserialize)]
pub(super) struct HistoryQuery {
    conversation: Option<String>,
    #[serde(default = "default_limit")]
    limit: usize,
}

fn default_limit() -> usize {
    100
}

/// `GET /v1/agents/{id}/history`: the conversations, or with
/// `?conversation=` the last `limit` messages of one.
pub(super) async fn history(
    State(served): State<Arc<Served>>,
    caller: axum::Extension<Caller>,
    Path(id): Path<String>,
    Query(query): Query<HistoryQuery>,
) -> Result<Json<Value>, ApiError> {
    caller.talk(&id)?;
    served.agent_config(&id)?;
    let db = served.runtime.db();
    Ok(Json(match query.conversation {
        None => {
            let conversations: Vec<Value> = history::conversations(db, &id)?
                .into_iter()
                .map(|(name, count)| json!({ "conversation": name, "message_count": count }))
                .collect();
            json!({ "conversations": conversations })
        }
        Some(conversation) => {
            history::check_name(&conversation).map_err(|e| ApiError::bad_request(e.to_string()))?;
            let limit = query.limit.min(10_000);
            let messages = history::recent(db, &id, &conversation, limit)?;
            json!({ "conversation": conversation, "messages": messages })
        }
    }))
}

/// `GET /v1/agents/{id}/grants`: remembered and session grants.
pub(super) async fn list_grants(
    State(served): State<Arc<Served>>,
    caller: axum::Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    caller.oversee(&id)?;
    Ok(Json(json!({ "grants": all_grants(&served, &id)? })))
}

/// `DELETE /v1/agents/{id}/grants/{grant}`: revoke one; the next call
/// no longer has it.
pub(super) async fn revoke_grant(
    State(served): State<Arc<Served>>,
    caller: axum::Extension<Caller>,
    Path((id, grant)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    caller.oversee(&id)?;
    let config = served.agent_config(&id)?;
    if served
        .runtime
        .consent()
        .revoke(&config.id, &grant, &caller.by())
        .await?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(format!(
            "agent '{id}' has no grant '{grant}'"
        )))
    }
}

#[derive(Deserialize)]
pub(super) struct AuditQuery {
    /// Only entries newer than this long ago (`1h`, `30m`).
    #[serde(default, with = "humantime_serde")]
    since: Option<Duration>,
}

/// `GET /v1/agents/{id}/audit`: every consent decision about the agent.
pub(super) async fn audit(
    State(served): State<Arc<Served>>,
    caller: axum::Extension<Caller>,
    Path(id): Path<String>,
    Query(query): Query<AuditQuery>,
) -> Result<Json<Value>, ApiError> {
    caller.oversee(&id)?;
    served.agent_config(&id)?;
    let since = query.since.and_then(|d| SystemTime::now().checked_sub(d));
    let entries = audit::read(served.runtime.db(), &id, since).await?;
    Ok(Json(json!({ "entries": entries })))
}

/// `GET /v1/agents/{id}/audit/verify`: walk the agent's hash chain; the
/// first entry that does not hold, if one does not.
pub(super) async fn verify_audit(
    State(served): State<Arc<Served>>,
    caller: axum::Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<audit::Chain>, ApiError> {
    caller.oversee(&id)?;
    served.agent_config(&id)?;
    Ok(Json(audit::verify(served.runtime.db(), &id).await?))
}

/// `POST /v1/agents/{id}/tools/{skill.tool}`: call a tool with the JSON
/// body as its input, under the agent's grants and consent, like a call the
/// model makes. The answer is sent once what the call wrote is durable.
pub(super) async fn call_tool(
    State(served): State<Arc<Served>>,
    caller: axum::Extension<Caller>,
    Path((id, name)): Path<(String, String)>,
    JsonBody(input): JsonBody<Value>,
) -> Result<Json<Value>, ApiError> {
    caller.talk(&id)?;
    let agent = served.agent(&id)?;
    let Some((skill, tool)) = name.split_once('.') else {
        return Err(ApiError::bad_request(format!(
            "'{name}' is not a tool name: use <skill>.<tool>"
        )));
    };
    let _permit = served.begin_turn(agent.id())?;
    let report = served
        .runtime
        .call(
            &agent,
            &Session::new(TOOLS_SESSION),
            skill,
            tool,
            &input.to_string(),
        )
        .await;
    let output = report.result?;
    let output: Value = serde_json::from_str(&output)
        .map_err(|e| ApiError::internal(format!("tool output is not JSON: {e}")))?;
    Ok(Json(json!({ "output": output })))
}
