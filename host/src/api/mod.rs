//! `skillbox serve`: the HTTP API of a host of many agents (docs/api.md).
//!
//! Requests pass, in order: the connection's limits (headers within
//! `request_timeout` and 64 KiB), authentication ([`auth`]: every route
//! but the health checks), the body's limits (whole within
//! `request_timeout` and `max_body`, read only for a known caller), then
//! the handler, which checks that the caller may reach the agent it names
//! and takes a turn place ([`Served`]).

mod admin;
mod agents;
mod approvals;
mod auth;
mod client;
mod error;
mod messages;
mod openai;
mod served;
mod tokens;

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::extract::{ConnectInfo, FromRequest, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use serde::de::DeserializeOwned;
use serde_json::json;
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::Semaphore;
use tower::ServiceExt;

pub(crate) use client::{AdminClient, RemoteError, SkillChange, segment};
pub(crate) use error::ApiError;
pub use openai::conversation_of;
pub(crate) use served::Served;
pub(crate) use tokens::TokenRecord;
pub use tokens::{Holder, TokenStore};

use crate::metrics::{BudgetLabels, OPENMETRICS, PROMETHEUS};
use auth::Caller;

/// Most bytes of a request line and headers.
const MAX_HEAD: usize = 64 << 10;

/// The routes of the API over `served`, for callers with a bearer token.
pub(crate) fn router(served: Arc<Served>) -> Router {
    let authenticated = routes(&served).route_layer(middleware::from_fn_with_state(
        served.clone(),
        auth::authenticate,
    ));
    open_routes(authenticated, served)
}

/// The routes of the API over `served`, for the admin socket: whoever
/// opens it is the admin.
pub(crate) fn admin_router(served: Arc<Served>) -> Router {
    let admin = routes(&served).route_layer(middleware::from_fn(auth::as_admin));
    open_routes(admin, served)
}

/// Every route that needs a caller.
fn routes(served: &Arc<Served>) -> Router<Arc<Served>> {
    Router::new()
        .route("/v1/agents", get(agents::list))
        .route("/v1/agents/{id}", get(agents::get))
        .route("/v1/agents/{id}/messages", post(messages::post))
        .route("/v1/agents/{id}/history", get(agents::history))
        .route("/v1/agents/{id}/tools/{tool}", post(agents::call_tool))
        .route("/v1/agents/{id}/grants", get(agents::list_grants))
        .route(
            "/v1/agents/{id}/grants/{grant}",
            delete(agents::revoke_grant),
        )
        .route("/v1/agents/{id}/audit", get(agents::audit))
        .route("/v1/agents/{id}/audit/verify", get(agents::verify_audit))
        .route("/v1/approvals", get(approvals::list))
        .route("/v1/approvals/{id}", post(approvals::answer))
        .route("/v1/models", get(openai::models))
        .route("/v1/models/{id}", get(openai::model))
        .route("/v1/chat/completions", post(openai::chat_completions))
        .route("/v1/admin/reload", post(reload))
        .route(
            "/v1/admin/tokens",
            get(admin::tokens).post(admin::new_token),
        )
        .route("/v1/admin/tokens/{id}", delete(admin::revoke_token))
        .route("/v1/admin/skills/install", post(admin::install_skill))
        .route("/v1/admin/skills/upgrade", post(admin::upgrade_skill))
        .route("/v1/admin/skills/remove", post(admin::remove_skill))
        .route("/v1/admin/agents/{id}/export", get(admin::export_agent))
        .route("/v1/admin/agents/{id}/import", post(admin::import_agent))
        .route(
            "/v1/admin/agents/{id}/data",
            delete(admin::delete_agent_data),
        )
        .route("/metrics", get(metrics))
        // Layers run last-added first: who calls (added by the door), then
        // their body.
        .route_layer(middleware::from_fn_with_state(served.clone(), read_body))
}

/// `callers` beside the routes anyone may reach.
fn open_routes(callers: Router<Arc<Served>>, served: Arc<Served>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .merge(callers)
        .fallback(|| async { ApiError::not_found("no such endpoint") })
        .with_state(served)
}

/// Serve `served` on `listener`, and to the admin on `admin` (see
/// [`admin`]), until `shutdown` completes; then stop accepting, give
/// requests in flight `shutdown_grace` to finish, and cancel the rest.
pub(crate) async fn serve(
    served: Arc<Served>,
    listener: TcpListener,
    admin: Option<UnixListener>,
    shutdown: impl Future<Output = ()>,
) {
    let doors = (router(served.clone()), admin_router(served.clone()));
    let settings = served.settings.clone();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(settings.request_timeout)
        .max_buf_size(MAX_HEAD);
    let graceful = GracefulShutdown::new();
    let places = Arc::new(Semaphore::new(settings.max_connections));
    let mut connections = tokio::task::JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        while connections.try_join_next().is_some() {}
        let place = tokio::select! {
            place = places.clone().acquire_owned() => place.expect("never closed"),
            () = &mut shutdown => break,
        };
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted.map(|(stream, peer)| Door::Api(stream, peer)),
            accepted = accept_admin(admin.as_ref()) => accepted.map(Door::Admin),
            () = &mut shutdown => break,
        };
        let door = match accepted {
            Ok(door) => door,
            Err(e) => {
                // Out of file descriptors, say: wait rather than spin.
                tracing::warn!("cannot accept a connection: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let connection = door.serve(&http, &doors, &graceful);
        connections.spawn(async move {
            let _place = place;
            if let Err(e) = connection.await {
                tracing::debug!("connection ended: {e}");
            }
        });
    }
    served.stop();
    drop(listener);
    drop(admin);
    let grace = settings.shutdown_grace;
    if tokio::time::timeout(grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            "requests still running after {}: cancelled",
            humantime::format_duration(grace)
        );
        connections.abort_all();
    }
    while connections.join_next().await.is_some() {}
}

/// A running server of a configuration directory's agents: what
/// `skillbox serve` runs, and what tests start in process.
pub struct Server {
    addr: std::net::SocketAddr,
    served: Arc<Served>,
    socket: Option<std::path::PathBuf>,
    stop: tokio::sync::oneshot::Sender<()>,
    serving: tokio::task::JoinHandle<()>,
}

/// Why a server did not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("data dir {}: {error}", dir.display())]
    Open {
        dir: std::path::PathBuf,
        error: crate::runtime::OpenError,
    },
    #[error("cannot listen on {addr}: {error}")]
    Listen {
        addr: std::net::SocketAddr,
        error: std::io::Error,
    },
    #[error(transparent)]
    Webhook(#[from] crate::config::ConfigError),
}

impl Server {
    /// Serve the agents of `config` (read from `config_dir`) on `addr`, and
    /// to the operator on the admin socket of its data directory. Prompts
    /// wait in a queue for the API (and the configured webhook).
    pub async fn start(
        config_dir: &std::path::Path,
        config: crate::config::ConfigDir,
        addr: std::net::SocketAddr,
    ) -> Result<Server, ServeError> {
        let runtime =
            crate::runtime::Runtime::open(&config.host).map_err(|error| ServeError::Open {
                dir: config.host.data_dir.clone(),
                error,
            })?;
        let queue = Arc::new(crate::prompt::PromptQueue::default());
        let channel: Arc<dyn crate::consent::PromptChannel> =
            match runtime.webhook(queue.clone())? {
                Some(webhook) => Arc::new(webhook),
                None => queue.clone(),
            };
        runtime.consent().attach(channel);
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|error| ServeError::Listen { addr, error })?;
        let addr = listener
            .local_addr()
            .map_err(|error| ServeError::Listen { addr, error })?;
        // Without its socket the server still serves; the CLI then cannot
        // reach it, and says the database is in use.
        let admin = admin::bind(runtime.data_dir())
            .inspect_err(|e| tracing::warn!("serving without the admin socket: {e}"))
            .ok();
        let socket = admin
            .is_some()
            .then(|| admin::socket_path(runtime.data_dir()));
        let served = Arc::new(Served::new(runtime, config_dir, config, queue));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let serving = tokio::spawn(serve(served.clone(), listener, admin, async {
            let _ = stopped.await;
        }));
        Ok(Server {
            addr,
            served,
            socket,
            stop,
            serving,
        })
    }

    /// Where it listens.
    pub fn addr(&self) -> std::net::SocketAddr {
        self.addr
    }

    /// Read the configuration again: see [`Served::reload`].
    pub fn reload(&self) -> Result<Vec<String>, crate::config::ConfigError> {
        self.served.reload()
    }

    /// Stop accepting, let requests in flight finish (within the grace),
    /// and write what is still in memory.
    pub async fn stop(self) -> Result<(), crate::db::DbError> {
        let _ = self.stop.send(());
        let _ = self.serving.await;
        if let Some(socket) = self.socket {
            let _ = std::fs::remove_file(socket);
        }
        // Whatever was acknowledged is on disk already; this writes the
        // rest (usage counts written behind).
        self.served.runtime.inference().flush();
        self.served.runtime.db().flush().await
    }
}

/// A connection, by the door it came through.
enum Door {
    Api(tokio::net::TcpStream, std::net::SocketAddr),
    Admin(tokio::net::UnixStream),
}

type Connection = std::pin::Pin<Box<dyn Future<Output = hyper::Result<()>> + Send>>;

impl Door {
    /// Serve the connection with the door's routes: the API's, told the
    /// client's address; or the admin's. It ends gracefully on shutdown.
    fn serve(
        self,
        http: &hyper::server::conn::http1::Builder,
        doors: &(Router, Router),
        graceful: &GracefulShutdown,
    ) -> Connection {
        match self {
            Door::Api(stream, peer) => connection(http, graceful, stream, &doors.0, Some(peer)),
            Door::Admin(stream) => connection(http, graceful, stream, &doors.1, None),
        }
    }
}

fn connection(
    http: &hyper::server::conn::http1::Builder,
    graceful: &GracefulShutdown,
    stream: impl tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    router: &Router,
    peer: Option<std::net::SocketAddr>,
) -> Connection {
    let router = router.clone();
    let service = hyper::service::service_fn(move |mut request: Request<_>| {
        if let Some(peer) = peer {
            request.extensions_mut().insert(ConnectInfo(peer));
        }
        router.clone().oneshot(request.map(axum::body::Body::new))
    });
    Box::pin(graceful.watch(http.serve_connection(TokioIo::new(stream), service)))
}

/// The next connection on the admin socket; none ever without one.
async fn accept_admin(admin: Option<&UnixListener>) -> std::io::Result<tokio::net::UnixStream> {
    match admin {
        Some(admin) => admin.accept().await.map(|(stream, _)| stream),
        None => std::future::pending().await,
    }
}

/// Aborts tasks when dropped: a stream's turn, once its client is gone.
struct AbortOnDrop(Vec<tokio::task::AbortHandle>);

/// While the task returned runs, hand `tell` every prompt raised for
/// `agent`, until it returns false: what a stream of the agent's turn shows
/// of the approvals it waits on. Prompts missed because the stream fell
/// behind are skipped; the next are still told.
fn watch_prompts(
    served: &Served,
    agent: crate::vocab::AgentId,
    mut tell: impl FnMut(crate::consent::Prompt) -> bool + Send + 'static,
) -> tokio::task::JoinHandle<()> {
    use tokio::sync::broadcast::error::RecvError;
    let mut asked = served.queue.subscribe();
    tokio::spawn(async move {
        loop {
            match asked.recv().await {
                Ok(prompt) if prompt.agent == agent => {
                    if !tell(prompt) {
                        break;
                    }
                }
                Ok(_) | Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => break,
            }
        }
    })
}

/// `turn`'s outcome, or an error if it panicked: a stream always gets its
/// last event, and ends.
async fn outcome_of<T>(
    turn: impl Future<Output = Result<T, crate::agent::TurnError>>,
) -> Result<T, ApiError> {
    use futures_util::FutureExt;
    match std::panic::AssertUnwindSafe(turn).catch_unwind().await {
        Ok(outcome) => outcome.map_err(ApiError::from),
        Err(_) => Err(ApiError::internal("the turn failed unexpectedly")),
    }
}

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        for task in &self.0 {
            task.abort();
        }
    }
}

/// A JSON response: the value, then a newline, as the line-oriented tools
/// people read responses with expect.
pub(crate) struct Json<T>(pub T);

impl<T: serde::Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        match serde_json::to_vec(&self.0) {
            Ok(mut bytes) => {
                bytes.push(b'\n');
                ([(header::CONTENT_TYPE, "application/json")], bytes).into_response()
            }
            Err(e) => ApiError::internal(format!("cannot write the answer: {e}")).into_response(),
        }
    }
}

/// A JSON request body; what is wrong with it is said as an [`ApiError`].
pub(crate) struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        axum::Json::<T>::from_request(request, state)
            .await
            .map(|axum::Json(value)| JsonBody(value))
            .map_err(|rejection| ApiError::bad_request(rejection.body_text()))
    }
}

/// Read the whole body within the request deadline and size limit, so no
/// handler waits on a slow client or holds a huge body.
async fn read_body(
    State(served): State<Arc<Served>>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let settings = &served.settings;
    let (parts, body) = request.into_parts();
    let limit = usize::try_from(settings.max_body.as_u64()).unwrap_or(usize::MAX);
    let read =
        tokio::time::timeout(settings.request_timeout, axum::body::to_bytes(body, limit)).await;
    let bytes = match read {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(e)) => {
            let too_large = e
                .into_inner()
                .downcast_ref::<http_body_util::LengthLimitError>()
                .is_some();
            return Err(if too_large {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "too_large",
                    format!(
                        "the request body is over {} (server.max_body)",
                        settings.max_body
                    ),
                )
            } else {
                ApiError::bad_request("the request body could not be read")
            });
        }
        Err(_) => {
            return Err(ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                "timeout",
                "the request body did not arrive in time (server.request_timeout)",
            ));
        }
    };
    Ok(next
        .run(Request::from_parts(parts, axum::body::Body::from(bytes)))
        .await)
}

async fn readyz(State(served): State<Arc<Served>>) -> Response {
    if served.is_ready() {
        Json(json!({ "ready": true, "agents": served.config().agents.len() })).into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "ready": false })),
        )
            .into_response()
    }
}

/// `POST /v1/admin/reload`: like SIGHUP.
async fn reload(
    State(served): State<Arc<Served>>,
    caller: axum::Extension<Caller>,
) -> Result<Json<serde_json::Value>, ApiError> {
    caller.admin()?;
    let warnings = served.reload().map_err(|e| {
        ApiError::bad_request(format!("configuration refused, the running one stays: {e}"))
    })?;
    Ok(Json(json!({
        "reloaded": true,
        "agents": served.config().agents.len(),
        "warnings": warnings,
    })))
}

/// `GET /metrics`, for the admin token: the Prometheus text format, or
/// OpenMetrics for a scraper that asks for it.
async fn metrics(
    State(served): State<Arc<Served>>,
    caller: axum::Extension<Caller>,
    headers: axum::http::HeaderMap,
) -> Result<Response, ApiError> {
    caller.admin()?;
    let metrics = served.runtime.metrics();
    // Budgets are read when scraped, for the agents in use.
    for agent in served.loaded() {
        let Some(client) = &agent.inference else {
            continue;
        };
        let remaining = served
            .runtime
            .inference()
            .remaining(agent.id(), &client.settings().budget);
        for (limit, left) in remaining {
            metrics
                .budget_remaining
                .get_or_create(&BudgetLabels {
                    agent: metrics.agent(agent.id()),
                    limit: limit.to_owned(),
                })
                .set(i64::try_from(left).unwrap_or(i64::MAX));
        }
    }
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    let (content_type, text) = match accept {
        Some(accept) if accept.contains("application/openmetrics-text") => {
            (OPENMETRICS, metrics.encode_openmetrics())
        }
        _ => (PROMETHEUS, metrics.encode_prometheus()),
    };
    Ok(([(header::CONTENT_TYPE, content_type)], text).into_response())
}
