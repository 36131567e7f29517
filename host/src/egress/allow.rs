//! The network allowlist, enforced on every request: a request leaves only
//! if a granted pattern matches its scheme, host and port, it carries no
//! user or password and no secret's value, and an IP address in its URL is
//! public or named by the grant. A request that no grant matches but the
//! skill's manifest asks for goes to the consent broker.

use std::net::IpAddr;

use http::Method;
use url::{Host, Url};

use super::addr::is_public;
use super::{NetworkAccess, origin};
use crate::config::NetGrant;

/// Why a request is refused when it carries a secret's value.
pub(super) const SECRET_REFUSAL: &str = "the request carries the value of a secret";

/// How a checked request may leave.
pub(super) struct Admitted {
    pub url: Url,
    /// Matched by an `allow_private` grant: its host's private addresses
    /// may be connected to.
    pub private_too: bool,
}

/// Why a request does not leave as it is.
pub(super) enum Miss {
    /// No grant matches, but the manifest asks for it: a person may allow it.
    Ungranted,
    /// Refused outright.
    Refused(String),
}

impl NetworkAccess {
    /// Whether the request line and headers may leave, and how.
    pub(super) fn check_head(
        &self,
        method: &Method,
        url: &Url,
        headers: &http::HeaderMap,
    ) -> Result<Admitted, Miss> {
        let refused = Miss::Refused;
        if !url.username().is_empty() || url.password().is_some() {
            return Err(refused("a URL may not carry a user or password".into()));
        }
        if [Method::CONNECT, Method::TRACE].contains(method) {
            return Err(refused(format!("the method {method} is not allowed")));
        }
        let scanner = &self.rules.scanner;
        let carries_secret = scanner.finds(url.as_str().as_bytes())
            || scanner.finds(method.as_str().as_bytes())
            || headers.iter().any(|(name, value)| {
                scanner.finds(name.as_str().as_bytes()) || scanner.finds(value.as_bytes())
            });
        if carries_secret {
            return Err(refused(SECRET_REFUSAL.into()));
        }
        let matching: Vec<&NetGrant> = self
            .rules
            .allow
            .iter()
            .filter(|g| g.pattern.matches(url))
            .collect();
        // An IP address in the URL is never resolved, so it is checked here:
        // one that is not public is reached only through a grant naming it.
        let literal = match url.host() {
            Some(Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
            Some(Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
            _ => None,
        };
        if let Some(ip) = literal
            && !is_public(ip)
            && !matching.iter().any(|g| g.pattern.is_exact())
        {
            return Err(refused(format!("{ip} is not a public address")));
        }
        if matching.is_empty() {
            return Err(if self.rules.requested.iter().any(|r| r.matches(url)) {
                Miss::Ungranted
            } else {
                refused(format!("{} is not granted", origin(url)))
            });
        }
        Ok(Admitted {
            url: url.clone(),
            private_too: matching.iter().any(|g| g.allow_private),
        })
    }
}
