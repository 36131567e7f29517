//! Who is calling: every `/v1` request and `/metrics` carries a bearer
//! token (see [`super::tokens`]). An agent's token reaches only that
//! agent; the admin token reaches everything.
//!
//! Failed attempts are limited per client address and token prefix (the
//! first characters of what was presented, or its absence): one key that
//! fails `auth_failures` times within `auth_lockout` is refused with 429 and
//! `Retry-After` for the lockout, twice as long each time it locks again.
//! A valid token is never refused, so one misconfigured client (a scraper
//! without its token) locks out only itself, never the others at its
//! address. Tokens are 256 random bits: guessing one is not a threat the
//! limiter has to stop; it keeps a broken or scanning client from costing
//! more than a lookup per attempt, and an address that fails with very many
//! prefixes is refused as a whole, for tokens it does not have.

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

/// Most keys remembered; past it, those with old failures and no lock are
/// forgotten.
const MAX_KEYS: usize = 10_000;

/// Characters of a presented token that tell one client's tokens apart.
const PREFIX: usize = 12;

/// Failing keys of one address, within a lockout window, past which the
/// address is refused for unknown tokens.
const KEYS_PER_ADDRESS: usize = 100;

/// The longest lock, in lockouts: the doubling stops here.
const MAX_BACKOFF: u32 = 64;

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

/// Failed authentications, per client address and token prefix.
pub(crate) struct Strikes {
    max: u32,
    lockout: Duration,
    keys: Mutex<HashMap<Key, Record>>,
}

/// Who failed: an address, and the first characters of the token it
/// presented ("" for none).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    address: IpAddr,
    prefix: String,
}

impl Key {
    fn new(address: IpAddr, token: Option<&str>) -> Key {
        let prefix = token.unwrap_or_default().chars().take(PREFIX).collect();
        Key { address, prefix }
    }

    /// The key of everything an address presents that it does not have.
    fn address(address: IpAddr) -> Key {
        Key {
            address,
            prefix: "*".into(),
        }
    }
}

struct Record {
    failures: u32,
    first: Instant,
    locked_until: Option<Instant>,
    /// Locks so far: the next lasts 2^locks lockouts, up to the cap.
    locks: u32,
}

impl Strikes {
    pub(crate) fn new(max: u32, lockout: Duration) -> Strikes {
        Strikes {
            max,
            lockout,
            keys: Mutex::new(HashMap::new()),
        }
    }

    /// How long the key of `address` and `token` (or the whole address)
    /// stays locked out, if it is.
    fn locked(&self, address: IpAddr, token: Option<&str>) -> Option<Duration> {
        let now = Instant::now();
        let keys = self.lock();
        [Key::new(address, token), Key::address(address)]
            .iter()
            .filter_map(|key| keys.get(key)?.locked_until)
            .map(|until| until.saturating_duration_since(now))
            .filter(|left| !left.is_zero())
            .max()
    }

    /// Count a failure of `address` with `token`; how long it is now
    /// locked out, if it is.
    fn fail(&self, address: IpAddr, token: Option<&str>) -> Option<Duration> {
        let now = Instant::now();
        let mut keys = self.lock();
        if keys.len() >= MAX_KEYS {
            let lockout = self.lockout;
            keys.retain(|_, r| r.locked_until.is_some_and(|t| t > now) || now - r.first < lockout);
        }
        let locked = self.count(&mut keys, Key::new(address, token), now);
        let failing = keys
            .iter()
            .filter(|(k, r)| k.address == address && now - r.first < self.lockout)
            .count();
        if failing > KEYS_PER_ADDRESS {
            let whole = self.count(&mut keys, Key::address(address), now);
            return locked.max(whole);
        }
        locked
    }

    /// One more failure of `key`; how long it is locked, if it now is.
    fn count(&self, keys: &mut HashMap<Key, Record>, key: Key, now: Instant) -> Option<Duration> {
        let record = keys.entry(key.clone()).or_insert(Record {
            failures: 0,
            first: now,
            locked_until: None,
            locks: 0,
        });
        if now - record.first >= self.lockout {
            record.failures = 0;
            record.first = now;
        }
        record.failures += 1;
        if self.max == 0 || record.failures < self.max {
            return None;
        }
        let lock = self.lockout * 2u32.pow(record.locks).min(MAX_BACKOFF);
        record.locked_until = Some(now + lock);
        record.locks = (record.locks + 1).min(MAX_BACKOFF.ilog2());
        record.failures = 0;
        record.first = now;
        tracing::warn!(
            client = %key.address,
            prefix = %key.prefix,
            lock = %humantime::format_duration(lock),
            "failed authentications locked out"
        );
        Some(lock)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Record>> {
        self.keys.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Middleware: find the caller of a request by its bearer token, or refuse
/// it (401), or refuse a locked-out key (429). A valid token is let in
/// whatever else its address sent.
pub(super) async fn authenticate(
    State(served): State<Arc<Served>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    mut request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let token = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    if let Some(holder) = token.and_then(|t| served.tokens.holder(t)) {
        request.extensions_mut().insert(Caller(holder));
        return Ok(next.run(request).await);
    }
    let locked_out = |left: Duration| {
        ApiError::too_many(
            "locked_out",
            "too many failed authentications from this address with this token; \
             check the token, then try again later",
            left,
        )
    };
    let strikes = &served.strikes;
    let address = peer.ip();
    if let Some(left) = strikes.locked(address, token) {
        return Err(locked_out(left));
    }
    if let Some(lock) = strikes.fail(address, token) {
        return Err(locked_out(lock));
    }
    let message = match token {
        None => "missing bearer token (Authorization: Bearer <token>)",
        Some(_) => "unknown token",
    };
    Err(ApiError::new(
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        message,
    ))
}

/// Middleware of the admin socket: whoever could open it owns the data
/// directory, and is the admin.
pub(super) async fn as_admin(mut request: Request, next: Next) -> Response {
    request.extensions_mut().insert(Caller(Holder::Admin));
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_locks_alone_and_longer_each_time() {
        let strikes = Strikes::new(3, Duration::from_secs(60));
        let here: IpAddr = [127, 0, 0, 1].into();
        assert_eq!(strikes.fail(here, None), None);
        assert_eq!(strikes.fail(here, None), None);
        assert_eq!(strikes.fail(here, None), Some(Duration::from_secs(60)));
        assert!(strikes.locked(here, None).is_some(), "no token: locked");
        let other = Some("sbx_another_token_entirely");
        assert!(strikes.locked(here, other).is_none(), "another token: not");
        // Locked again: twice as long.
        for _ in 0..2 {
            strikes.fail(here, None);
        }
        assert_eq!(strikes.fail(here, None), Some(Duration::from_secs(120)));
    }

    #[test]
    fn an_address_that_fails_with_very_many_tokens_is_locked_whole() {
        let strikes = Strikes::new(3, Duration::from_secs(60));
        let here: IpAddr = [10, 0, 0, 1].into();
        for i in 0..=KEYS_PER_ADDRESS * 3 {
            strikes.fail(here, Some(&format!("sbx_{i:08}_and_the_rest")));
        }
        assert!(
            strikes
                .locked(here, Some("sbx_never_seen_before"))
                .is_some()
        );
        let elsewhere: IpAddr = [10, 0, 0, 2].into();
        assert!(
            strikes
                .locked(elsewhere, Some("sbx_never_seen_before"))
                .is_none()
        );
    }
}
