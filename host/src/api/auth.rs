//! Who is calling: every `/v1` request and `/metrics` carries a bearer
//! token (see [`super::tokens`]). An agent's token talks to its agent; an
//! approver's decides for its agents; the admin token reaches everything.
//! Each handler asks one question of its [`Caller`]: may it talk to, oversee
//! or see the agent, or is it the admin.
//!
//! Failed attempts are limited per client address and token prefix (the
//! first characters of what was presented, or its absence): one key that
//! fails `auth_failures` times within `auth_lockout` is refused with 429 and
//! `Retry-After` for the lockout, twice as long each time it locks again. An
//! address (an IPv6 client by its /64) that fails with very many prefixes is
//! locked as a whole: every token it has not used before is refused, right
//! ones included, which is what stops guessing. A token that already
//! succeeded from an address is never refused there, so one misconfigured
//! client (a scraper without its token) never locks out the others at its
//! address.

use std::collections::{HashMap, HashSet};
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

/// Most addresses remembered, and most tokens vouched for; past it, the
/// old are forgotten.
const MAX_ENTRIES: usize = 10_000;

/// Characters of a presented token that tell one client's tokens apart.
const PREFIX: usize = 12;

/// Failing prefixes of one address, within a lockout window, past which the
/// address is refused for tokens it has not used before.
const KEYS_PER_ADDRESS: usize = 100;

/// The longest lock, in lockouts: the doubling stops here.
const MAX_BACKOFF: u32 = 64;

/// Who calls: the holder of the request's token, and which token it is
/// (for the audit).
#[derive(Debug, Clone)]
pub(super) struct Caller {
    pub holder: Holder,
    /// The token's id, or where the admin came in without one.
    pub token: String,
}

impl Caller {
    /// May this caller talk to `agent`: its messages, tools and history?
    /// The agent's own token and the admin.
    pub(super) fn talk(&self, agent: &str) -> Result<(), ApiError> {
        match &self.holder {
            Holder::Admin => Ok(()),
            Holder::Agent(id) if id.as_str() == agent => Ok(()),
            Holder::Agent(id) => Err(ApiError::forbidden(format!(
                "this token belongs to agent '{id}' and cannot reach agent '{agent}'"
            ))),
            Holder::Approver(_) => Err(ApiError::forbidden(
                "an approver's token decides for agents, it does not talk to them",
            )),
        }
    }

    /// May this caller decide for `agent`: answer its prompts, list and
    /// revoke its grants, read its audit and usage? Its approvers and the
    /// admin; never a token that talks to it.
    pub(super) fn oversee(&self, agent: &str) -> Result<(), ApiError> {
        match &self.holder {
            Holder::Admin => Ok(()),
            Holder::Approver(agents) if agents.iter().any(|a| a.as_str() == agent) => Ok(()),
            Holder::Approver(_) => Err(ApiError::forbidden(format!(
                "this token does not approve for agent '{agent}'"
            ))),
            Holder::Agent(_) => Err(ApiError::forbidden(
                "an agent's token cannot decide for an agent: that takes an approver's token",
            )),
        }
    }

    /// Does this caller decide for any agent: may it look at prompts?
    pub(super) fn decides(&self) -> Result<(), ApiError> {
        match self.holder {
            Holder::Admin | Holder::Approver(_) => Ok(()),
            Holder::Agent(_) => Err(ApiError::forbidden(
                "an agent's token cannot see or answer prompts: that takes an approver's token",
            )),
        }
    }

    /// May this caller see that `agent` exists, and what it is?
    pub(super) fn see(&self, agent: &str) -> Result<(), ApiError> {
        self.talk(agent).or_else(|_| self.oversee(agent))
    }

    pub(super) fn admin(&self) -> Result<(), ApiError> {
        match self.holder {
            Holder::Admin => Ok(()),
            _ => Err(ApiError::forbidden("this needs the admin token")),
        }
    }

    /// Who this is, as the audit and grants record it: `token t1a2b
    /// (approver)`, or the admin socket.
    pub(super) fn by(&self) -> String {
        format!("{} ({})", self.token, self.holder.role())
    }
}

/// Failed authentications, per client address and token prefix, and the
/// tokens that succeeded from each address.
pub(crate) struct Strikes {
    max: u32,
    lockout: Duration,
    table: Mutex<Table>,
}

#[derive(Default)]
struct Table {
    /// Per address, per what it presented.
    failures: HashMap<IpAddr, HashMap<Presented, Record>>,
    /// Tokens (by prefix) that succeeded from an address.
    vouched: HashSet<(IpAddr, String)>,
}

/// What an address presented.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Presented {
    /// The first characters of a token ("" for none).
    Prefix(String),
    /// Any token the address has not used before: locked when the address
    /// fails with too many prefixes.
    Unproven,
}

struct Record {
    failures: u32,
    first: Instant,
    locked_until: Option<Instant>,
    /// Locks so far: the next lasts 2^locks lockouts, up to the cap.
    locks: u32,
}

/// What becomes of a request, by its token.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    Admit,
    Unknown,
    LockedOut(Duration),
}

impl Strikes {
    pub(crate) fn new(max: u32, lockout: Duration) -> Strikes {
        Strikes {
            max,
            lockout,
            table: Mutex::new(Table::default()),
        }
    }

    /// Judge a request from `peer` presenting `token`, which is `valid` or
    /// not. A valid token already used from this address is admitted;
    /// anything else first waits out a lock on what it presents or on the
    /// address, and an invalid token counts a failure.
    fn judge(&self, peer: IpAddr, token: Option<&str>, valid: bool) -> Verdict {
        let now = Instant::now();
        let address = client(peer);
        let prefix: String = token.unwrap_or_default().chars().take(PREFIX).collect();
        let mut table = self.table.lock().unwrap_or_else(|e| e.into_inner());
        let vouch = (address, prefix.clone());
        if valid && table.vouched.contains(&vouch) {
            return Verdict::Admit;
        }
        let presented = [Presented::Prefix(prefix.clone()), Presented::Unproven];
        let left = table.failures.get(&address).and_then(|records| {
            presented
                .iter()
                .filter_map(|p| records.get(p)?.locked_until)
                .map(|until| until.saturating_duration_since(now))
                .filter(|left| !left.is_zero())
                .max()
        });
        if let Some(left) = left {
            return Verdict::LockedOut(left);
        }
        if valid {
            if table.vouched.len() >= MAX_ENTRIES {
                table.vouched.clear();
            }
            table.vouched.insert(vouch);
            return Verdict::Admit;
        }
        match self.fail(&mut table, address, prefix, now) {
            Some(lock) => Verdict::LockedOut(lock),
            None => Verdict::Unknown,
        }
    }

    /// Count a failure of `address` with `prefix`; how long it is now
    /// locked out, if it is.
    fn fail(
        &self,
        table: &mut Table,
        address: IpAddr,
        prefix: String,
        now: Instant,
    ) -> Option<Duration> {
        // What is worth remembering: failures in the window, and locks
        // recent enough that the next would still be longer.
        let lockout = self.lockout;
        let live = |r: &Record| {
            now - r.first < lockout
                || r.locked_until
                    .is_some_and(|t| t + lockout * MAX_BACKOFF > now)
        };
        if table.failures.len() >= MAX_ENTRIES && !table.failures.contains_key(&address) {
            table
                .failures
                .retain(|_, records| records.values().any(live));
        }
        let records = table.failures.entry(address).or_default();
        records.retain(|_, record| live(record));
        let locked = self.count(records, Presented::Prefix(prefix), now);
        let failing = records
            .iter()
            .filter(|(p, r)| **p != Presented::Unproven && now - r.first < self.lockout)
            .count();
        let locked = match failing > KEYS_PER_ADDRESS {
            true => locked.max(self.count(records, Presented::Unproven, now)),
            false => locked,
        };
        if let Some(lock) = locked {
            tracing::warn!(
                client = %address,
                lock = %humantime::format_duration(lock),
                "failed authentications locked out"
            );
        }
        locked
    }

    /// One more failure of `presented`; how long it is locked, if it now is.
    fn count(
        &self,
        records: &mut HashMap<Presented, Record>,
        presented: Presented,
        now: Instant,
    ) -> Option<Duration> {
        let record = records.entry(presented).or_insert(Record {
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
        Some(lock)
    }
}

/// The client an address stands for: an IPv6 client by its /64, which one
/// host can fill with addresses.
fn client(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) if v6.to_ipv4_mapped().is_none() => {
            let bits = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(bits.into())
        }
        IpAddr::V6(v6) => IpAddr::V4(v6.to_ipv4_mapped().expect("mapped")),
        v4 => v4,
    }
}

/// Middleware: find the caller of a request by its bearer token, or refuse
/// it (401), or refuse what is locked out (429).
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
    let record = token.and_then(|t| served.tokens.record(t));
    let verdict = served.strikes.judge(peer.ip(), token, record.is_some());
    match (verdict, record) {
        (Verdict::Admit, Some(record)) => {
            request.extensions_mut().insert(Caller {
                holder: record.holder,
                token: format!("token {}", record.id),
            });
            Ok(next.run(request).await)
        }
        (Verdict::LockedOut(left), _) => Err(ApiError::too_many(
            "locked_out",
            "too many failed authentications from this address; check the token, then try \
             again later",
            left,
        )),
        _ => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            match token {
                None => "missing bearer token (Authorization: Bearer <token>)",
                Some(_) => "unknown token",
            },
        )),
    }
}

/// A request that came through the admin socket.
#[derive(Debug, Clone, Copy)]
pub(super) struct AdminSocket;

/// Middleware of the admin socket: whoever could open it owns the data
/// directory, and is the admin.
pub(super) async fn as_admin(mut request: Request, next: Next) -> Response {
    request.extensions_mut().insert(Caller {
        holder: Holder::Admin,
        token: "admin socket".into(),
    });
    request.extensions_mut().insert(AdminSocket);
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: Option<&str> = Some("sbx_good_token_of_a_good_client");

    #[test]
    fn a_prefix_locks_alone_and_longer_each_time() {
        let strikes = Strikes::new(3, Duration::from_secs(60));
        let here: IpAddr = [127, 0, 0, 1].into();
        assert_eq!(strikes.judge(here, None, false), Verdict::Unknown);
        assert_eq!(strikes.judge(here, None, false), Verdict::Unknown);
        let minute = Verdict::LockedOut(Duration::from_secs(60));
        assert_eq!(strikes.judge(here, None, false), minute);
        assert!(matches!(
            strikes.judge(here, None, false),
            Verdict::LockedOut(_)
        ));
        // Another token of the same address, good or bad, is not locked.
        assert_eq!(strikes.judge(here, GOOD, true), Verdict::Admit);
        let other = Some("sbx_another_stale_token");
        assert_eq!(strikes.judge(here, other, false), Verdict::Unknown);
    }

    #[test]
    fn the_lock_doubles_each_time() {
        let strikes = Strikes::new(1, Duration::from_secs(60));
        let here: IpAddr = [127, 0, 0, 1].into();
        let mut table = Table::default();
        let now = Instant::now();
        let prefix = || String::from("sbx_stale");
        let first = strikes.fail(&mut table, here, prefix(), now);
        let second = strikes.fail(&mut table, here, prefix(), now);
        assert_eq!(first, Some(Duration::from_secs(60)));
        assert_eq!(second, Some(Duration::from_secs(120)));
    }

    #[test]
    fn a_guessing_address_is_locked_whole_but_its_proven_tokens_go_on() {
        let strikes = Strikes::new(3, Duration::from_secs(60));
        let here: IpAddr = [10, 0, 0, 1].into();
        assert_eq!(strikes.judge(here, GOOD, true), Verdict::Admit);
        for i in 0..=KEYS_PER_ADDRESS * 2 {
            let guess = format!("sbx_{i:08}_and_the_rest");
            strikes.judge(here, Some(&guess), false);
        }
        // A right guess now is refused: the address is locked for tokens
        // it never used; the good client's token goes on.
        let right_guess = Some("sbx_right_guess_of_a_token");
        assert!(matches!(
            strikes.judge(here, right_guess, true),
            Verdict::LockedOut(_)
        ));
        assert_eq!(strikes.judge(here, GOOD, true), Verdict::Admit);
        let elsewhere: IpAddr = [10, 0, 0, 2].into();
        assert_eq!(strikes.judge(elsewhere, right_guess, true), Verdict::Admit);
    }

    #[test]
    fn an_ipv6_client_is_its_slash_64() {
        let one: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let two: IpAddr = "2001:db8:1:2:bbbb::2".parse().unwrap();
        let other: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(client(one), client(two));
        assert_ne!(client(one), client(other));
        let mapped: IpAddr = "::ffff:10.0.0.1".parse().unwrap();
        assert_eq!(client(mapped), IpAddr::from([10, 0, 0, 1]));
    }
}
