//! The admin's part of the API, and the door only the operator has: the
//! local admin socket.
//!
//! `skillbox serve` listens on `<data dir>/admin.sock`, a Unix socket of
//! mode 0600: only the user who owns the data directory can open it, and
//! that user can read the database anyway, so what arrives there is the
//! admin's, with no token. The `skillbox` command uses it beside a running
//! server, which holds the database: grants, audit, turns, usage, history,
//! tokens, installs and approvals all go through the server.
//!
//! The routes here are the admin's on either door: tokens
//! (`/v1/admin/tokens`) and installed skills (`/v1/admin/skills/...`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::net::UnixListener;

use super::Json;
use super::JsonBody;
use super::auth::{AdminSocket, Caller};
use super::error::ApiError;
use super::served::Served;
use super::tokens::{Holder, TokenStore};
use crate::db::agent::{self as agent_data, AgentDataError};
use crate::market::MarketError;
use crate::market::install::{self, Agreement, Allowed, PlanSummary, Source, Upgrade};
use crate::vocab::AgentId;

/// The admin socket's name in the data directory.
pub(crate) const SOCKET: &str = "admin.sock";

/// Where the admin socket of `data_dir` is.
pub(crate) fn socket_path(data_dir: &Path) -> PathBuf {
    data_dir.join(SOCKET)
}

/// The admin socket cannot be opened.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SocketError {
    #[error("a server already answers on {}", .0.display())]
    InUse(PathBuf),
    #[error("cannot open the admin socket {}: {error}", path.display())]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
}

/// Open the admin socket of `data_dir`, private to its owner. A socket left
/// by a server that is gone is replaced; one a server answers on is not.
pub(crate) fn bind(data_dir: &Path) -> Result<UnixListener, SocketError> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    let path = socket_path(data_dir);
    let io = |error| SocketError::Io {
        path: path.clone(),
        error,
    };
    if path.exists() {
        if std::os::unix::net::UnixStream::connect(&path).is_ok() {
            return Err(SocketError::InUse(path));
        }
        std::fs::remove_file(&path).map_err(io)?;
    }
    // Bound inside a directory only the owner can enter and made 0600
    // there, then moved into place: nobody else can connect in between,
    // whatever the umask.
    let private = data_dir.join(format!(".admin-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&private);
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&private)
        .map_err(io)?;
    let bound = private.join("admin.sock");
    let listener = UnixListener::bind(&bound).map_err(io);
    let placed = listener.and_then(|listener| {
        std::fs::set_permissions(&bound, std::fs::Permissions::from_mode(0o600)).map_err(io)?;
        std::fs::rename(&bound, &path).map_err(io)?;
        Ok(listener)
    });
    let _ = std::fs::remove_dir_all(&private);
    placed
}

#[derive(Deserialize)]
pub(super) struct NewToken {
    /// `admin`, `approver:<id>,<id>...` or `agent:<id>`.
    holder: Holder,
}

/// `POST /v1/admin/tokens`: issue a token; it is in the answer, and
/// nowhere else.
pub(super) async fn new_token(
    State(served): State<Arc<Served>>,
    caller: axum::Extension<Caller>,
    JsonBody(request): JsonBody<NewToken>,
) -> Result<Json<Value>, ApiError> {
    caller.admin()?;
    let holder = request.holder;
    // Every agent it names is one of this host's.
    let named = match &holder {
        Holder::Admin => vec![],
        Holder::Approver(agents) => agents.clone(),
        Holder::Agent(agent) => vec![agent.clone()],
    };
    for agent in &named {
        served.agent_config(agent.as_str())?;
    }
    let _alone = served.token_changes.lock().await;
    let agents: Vec<AgentId> = served.config().agents.keys().cloned().collect();
    let (record, token) = token_store(&served)
        .issue_on_record(served.runtime.db(), holder, &agents, &caller.by())
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(Json(json!({ "record": record, "token": token })))
}

/// `GET /v1/admin/tokens`: the tokens issued, never the tokens themselves.
pub(super) async fn tokens(
    State(served): State<Arc<Served>>,
    caller: axum::Extension<Caller>,
) -> Result<Json<Value>, ApiError> {
    caller.admin()?;
    let tokens = token_store(&served)
        .list()
        .map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(Json(json!({ "tokens": tokens })))
}

/// `DELETE /v1/admin/tokens/{id}`: revoke a token.
pub(super) async fn revoke_token(
    State(served): State<Arc<Served>>,
    caller: axum::Extension<Caller>,
    UrlPath(id): UrlPath<String>,
) -> Result<StatusCode, ApiError> {
    caller.admin()?;
    let _alone = served.token_changes.lock().await;
    let store = token_store(&served);
    match store.revoke(&id) {
        Ok(true) => Ok(StatusCode::NO_CONTENT),
        Ok(false) => Err(ApiError::not_found(format!(
            "no token '{id}' in {}",
            store.path().display()
        ))),
        Err(e) => Err(ApiError::internal(e.to_string())),
    }
}

fn token_store(served: &Served) -> TokenStore {
    TokenStore::new(served.runtime.data_dir())
}

/// What `POST /v1/admin/skills/install` and `.../upgrade` are asked.
#[derive(Deserialize)]
pub(super) struct Install {
    agent: String,
    /// `NAME` or `NAME@REQUIREMENT`.
    skill: String,
    /// The registry, for an install; an upgrade uses the skill's own.
    registry: Option<url::Url>,
    #[serde(default)]
    trust_new_key: bool,
    /// Move below the version installed (shown, and asked, as a downgrade).
    #[serde(default)]
    allow_downgrade: bool,
    /// How a person agreed to the plan; absent, the plan is answered
    /// (409) for them to read first, when it needs agreeing to.
    agreement: Option<Agreement>,
    /// The plan the person read and agreed to at their terminal: what is
    /// done must be exactly that.
    agreed_to: Option<PlanSummary>,
}

impl Install {
    fn allowed(&self) -> Allowed {
        Allowed {
            new_key: self.trust_new_key,
            downgrade: self.allow_downgrade,
        }
    }
}

/// `POST /v1/admin/skills/install`: plan installing a skill for an agent,
/// and with a person's agreement, do it; the configuration is reloaded.
pub(super) async fn install_skill(
    State(served): State<Arc<Served>>,
    caller: axum::Extension<Caller>,
    socket: Option<axum::Extension<AdminSocket>>,
    JsonBody(request): JsonBody<Install>,
) -> Result<Json<Value>, ApiError> {
    caller.admin()?;
    let agreement = agreement(&request, socket.is_some())?;
    let agent = served.agent_config(&request.agent)?.id;
    let (name, requirement) = install::parse_requirement(&request.skill).map_err(market_error)?;
    let registry = request
        .registry
        .as_ref()
        .ok_or_else(|| ApiError::bad_request("name the registry to install from"))?;
    let _alone = served.skill_changes.lock().await;
    // The configuration as reloaded: keys trusted since start included.
    let config = served.config();
    let source = Source::new(
        &config.host,
        served.runtime.egress(),
        registry,
        request.allowed(),
    )
    .map_err(market_error)?;
    let plan = install::plan_install(&config.host, &source, &agent, &name, &requirement)
        .await
        .map_err(market_error)?;
    commit(
        &served,
        &caller,
        &plan,
        agreement,
        request.agreed_to.as_ref(),
    )
    .await
}

/// `POST /v1/admin/skills/upgrade`: like install, for an installed skill,
/// from its own registry.
pub(super) async fn upgrade_skill(
    State(served): State<Arc<Served>>,
    caller: axum::Extension<Caller>,
    socket: Option<axum::Extension<AdminSocket>>,
    JsonBody(request): JsonBody<Install>,
) -> Result<Json<Value>, ApiError> {
    caller.admin()?;
    let agreement = agreement(&request, socket.is_some())?;
    let agent = served.agent_config(&request.agent)?.id;
    let (name, requirement) = install::parse_requirement(&request.skill).map_err(market_error)?;
    let _alone = served.skill_changes.lock().await;
    let config = served.config();
    let planned = install::plan_upgrade(
        &config.host,
        served.runtime.egress(),
        &agent,
        &name,
        &requirement,
        request.allowed(),
    );
    match planned.await.map_err(market_error)? {
        Upgrade::Newest(version) => Ok(Json(json!({ "newest": version }))),
        Upgrade::Plan(plan) => {
            commit(
                &served,
                &caller,
                &plan,
                agreement,
                request.agreed_to.as_ref(),
            )
            .await
        }
    }
}

/// How the person agreed, as far as this door can tell: the admin socket
/// is the terminal of the command that asks, whose word is taken; a client
/// of the admin token agrees as that. Nobody is asked from here.
fn agreement(request: &Install, socket: bool) -> Result<Option<Agreement>, ApiError> {
    match request.agreement {
        Some(Agreement::Ask) => Err(ApiError::bad_request(
            "an install through the API cannot wait on a prompt: read the plan, then agree",
        )),
        Some(_) if !socket => Ok(Some(Agreement::AdminToken)),
        agreement => Ok(agreement),
    }
}

/// Commit `plan` once a person agreed to it (if it asks), then reload. The
/// plan agreed to, when one is sent back, must be this one.
async fn commit(
    served: &Served,
    caller: &Caller,
    plan: &install::Plan,
    agreement: Option<Agreement>,
    agreed_to: Option<&PlanSummary>,
) -> Result<Json<Value>, ApiError> {
    let summary = plan.summary();
    let needs_agreement = |message: &str| ApiError {
        extra: Some(json!({ "plan": summary })),
        ..ApiError::new(StatusCode::CONFLICT, "needs_agreement", message)
    };
    if agreed_to.is_some_and(|agreed| *agreed != summary) {
        return Err(needs_agreement(
            "the plan changed since it was agreed to: read it again",
        ));
    }
    let agreement = match (agreement, &summary.asks) {
        (Some(agreement), _) => agreement,
        (None, None) => Agreement::CommandLine,
        (None, Some(_)) => return Err(needs_agreement("a person must agree to this plan first")),
    };
    let runtime = &served.runtime;
    let by = caller.by();
    install::agree(runtime.consent(), runtime.db(), plan, agreement, &by)
        .await
        .map_err(market_error)?;
    let host = runtime.host();
    install::commit(plan, &host.dir, &host.data_dir, runtime.db(), &by)
        .await
        .map_err(market_error)?;
    let warnings = reload(served)?;
    Ok(Json(json!({ "plan": summary, "warnings": warnings })))
}

#[derive(Deserialize)]
pub(super) struct Remove {
    agent: String,
    name: String,
}

/// `POST /v1/admin/skills/remove`: take an installed skill out of an
/// agent; the configuration is reloaded.
pub(super) async fn remove_skill(
    State(served): State<Arc<Served>>,
    caller: axum::Extension<Caller>,
    JsonBody(request): JsonBody<Remove>,
) -> Result<Json<Value>, ApiError> {
    caller.admin()?;
    let agent = AgentId::new(&request.agent).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let _alone = served.skill_changes.lock().await;
    let host = served.runtime.host();
    let removed =
        install::remove(&host.dir, agent.as_str(), &request.name).map_err(market_error)?;
    let warnings = reload(&served)?;
    Ok(Json(json!({ "removed": removed, "warnings": warnings })))
}

fn market_error(e: MarketError) -> ApiError {
    let message = e.to_string();
    match e {
        MarketError::NotAgreed(_) => ApiError::forbidden(message),
        MarketError::NotInstalled { .. } => ApiError::not_found(message),
        MarketError::Io { .. } | MarketError::Audit(_) | MarketError::Randomness(_) => {
            ApiError::internal(message)
        }
        MarketError::Registry { .. } => {
            ApiError::new(StatusCode::BAD_GATEWAY, "registry_unreachable", message)
        }
        _ => ApiError::bad_request(message),
    }
}

/// Re-read the configuration after an install changed it.
fn reload(served: &Served) -> Result<Vec<String>, ApiError> {
    served.reload().map_err(|e| {
        ApiError::internal(format!(
            "the change is written, but the configuration does not load: {e}"
        ))
    })
}

/// `GET /v1/admin/agents/{id}/export`: everything the host holds of the
/// agent (memory, history, grants, usage, audit), as JSON Lines.
pub(super) async fn export_agent(
    State(served): State<Arc<Served>>,
    caller: axum::Extension<Caller>,
    UrlPath(id): UrlPath<String>,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    caller.admin()?;
    let agent = AgentId::new(&id).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let mut lines = Vec::new();
    agent_data::export(served.runtime.db(), agent.as_str(), &mut lines)
        .await
        .map_err(agent_data_error)?;
    let content_type = [(axum::http::header::CONTENT_TYPE, "application/jsonl")];
    Ok((content_type, lines).into_response())
}

/// `POST /v1/admin/agents/{id}/import`: an export (the body) back into a
/// host that holds nothing of the agent.
pub(super) async fn import_agent(
    State(served): State<Arc<Served>>,
    caller: axum::Extension<Caller>,
    UrlPath(id): UrlPath<String>,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    caller.admin()?;
    let agent = AgentId::new(&id).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let records = agent_data::import(served.runtime.db(), agent.as_str(), &body[..])
        .await
        .map_err(agent_data_error)?;
    Ok(Json(json!({ "agent": agent, "records": records })))
}

/// `DELETE /v1/admin/agents/{id}/data`: remove everything the host holds
/// of the agent. Its configuration stays: what it does next starts anew.
pub(super) async fn delete_agent_data(
    State(served): State<Arc<Served>>,
    caller: axum::Extension<Caller>,
    UrlPath(id): UrlPath<String>,
) -> Result<Json<Value>, ApiError> {
    caller.admin()?;
    let agent = AgentId::new(&id).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let records = agent_data::delete(served.runtime.db(), agent.as_str()).await?;
    Ok(Json(json!({ "agent": agent, "records": records })))
}

fn agent_data_error(e: AgentDataError) -> ApiError {
    let message = e.to_string();
    match e {
        AgentDataError::Db(_) | AgentDataError::Write(_) => ApiError::internal(message),
        AgentDataError::NotEmpty { .. } => {
            ApiError::new(StatusCode::CONFLICT, "agent_has_data", message)
        }
        AgentDataError::Malformed { .. } | AgentDataError::OtherAgent { .. } => {
            ApiError::bad_request(message)
        }
    }
}
