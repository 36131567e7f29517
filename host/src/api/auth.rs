//! Who is calling: every `/v1` request and `/metrics` carries a bearer
//! token (see [`super::tokens`]). An agent's token reaches only that
//! agent; the admin token reaches everything.
//!
//! A client address that fails `auth_failures` times within `auth_lockout`
//! is refused with 429 and `Retry-After` until the lockout has passed, even
//! with a good token: guessing costs time. The lock clears by itself.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;

use super::error::ApiError;
use super::served::Served;
use super::tokens::Holder;

/// Most client addresses remembered; past it, those with old failures and
/// no lock are forgotten.
const MAX_CLIENTS: usize = 10_000;

/// The holder of the token of a request.
#[derive(Debug, Clone)]
pub(super) struct Caller(pub Holder);

impl Caller {
    /// May this caller act for `agent`?
    pub(super) fn reach(&self, agent: &str) -> Result<(), ApiError> {
        match &self.0 {
            Holder::Admin => Ok(()),
            Holder::Agent(id) if id.as_str() == agent => Ok(()),
            Holder::Agent(id) => Err(ApiError::forbidden(format!(
                "this token belongs to agent '{id}' and cannot reach agent '{agent}'"
            ))),
        }
    }

    pub(super) fn admin(&self) -> Result<(), ApiError> {
        match self.0 {
            Holder::Admin => Ok(()),
            Holder::Agent(_) => Err(ApiError::forbidden("this needs the admin token")),
        }
    }
}

/// Failed authentications, per client address.
pub(crate) struct Strikes {
    max: u32,
    lockout: Duration,
    clients: Mutex<HashMap<IpAddr, Record>>,
}

struct Record {
    failures: u32,
    first: Instant,
    locked_until: Option<Instant>,
}

impl Strikes {
    pub(crate) fn new(max: u32, lockout: Duration) -> Strikes {
        Strikes {
            max,
            lockout,
            clients: Mutex::new(HashMap::new()),
        }
    }

    /// How long `client` stays locked out, if it is.
    fn locked(&self, client: IpAddr) -> Option<Duration> {
        let mut clients = self.lock();
        let record = clients.get(&client)?;
        let until = record.locked_until?;
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            clients.remove(&client);
            return None;
        }
        Some(left)
    }

    /// Count a failure of `client`; true if it is now locked out.
    fn fail(&self, client: IpAddr) -> bool {
        let now = Instant::now();
        let mut clients = self.lock();
        if clients.len() >= MAX_CLIENTS {
            let lockout = self.lockout;
            clients
                .retain(|_, r| r.locked_until.is_some_and(|t| t > now) || now - r.first < lockout);
        }
        let record = clients.entry(client).or_insert(Record {
            failures: 0,
            first: now,
            locked_until: None,
        });
        if now - record.first >= self.lockout {
            record.failures = 0;
            record.first = now;
        }
        record.failures += 1;
        if self.max > 0 && record.failures >= self.max {
            record.locked_until = Some(now + self.lockout);
            tracing::warn!(%client, failures = record.failures, "client locked out for failed authentication");
            return true;
        }
        false
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, Record>> {
        self.clients.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Middleware: find the caller of a request by its bearer token, or refuse
/// it (401), or refuse a locked-out client (429).
pub(super) async fn authenticate(
    State(served): State<Arc<Served>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    mut request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let client = peer.ip();
    let locked_out = |left: Duration| {
        ApiError::too_many(
            "locked_out",
            "too many failed authentications from this address; try again later",
            left,
        )
    };
    if let Some(left) = served.strikes.locked(client) {
        return Err(locked_out(left));
    }
    let token = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let Some(holder) = token.and_then(|t| served.tokens.holder(t)) else {
        if served.strikes.fail(client) {
            return Err(locked_out(served.strikes.lockout));
        }
        let message = match token {
            None => "missing bearer token (Authorization: Bearer <token>)",
            Some(_) => "unknown token",
        };
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            message,
        ));
    };
    request.extensions_mut().insert(Caller(holder));
    Ok(next.run(request).await)
}
