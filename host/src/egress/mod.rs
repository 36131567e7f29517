//! The one way out of the host. Every outgoing HTTP request a skill makes
//! goes through here (and the inference service and the registry will too):
//!
//! - its scheme, host and port must match a granted pattern;
//! - the addresses a name resolves to are checked at connect time, so a
//!   granted name cannot be pointed at loopback, private or metadata
//!   addresses (unless the grant names that host with `allow_private`, or is
//!   an IP address itself);
//! - redirects are not followed: each hop is a new request, checked anew;
//! - a request carrying a secret's value (raw or encoded) is refused; a
//!   secret reaches only the hosts it is bound to, as the header it is bound
//!   to, injected here;
//! - requests per call, response size and time per request are bounded;
//! - no proxy from the environment is used.

mod addr;
mod resolve;
mod secrets;

use std::collections::{BTreeMap, HashSet};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use http::HeaderName;
use http_body_util::Limited;
use url::{Host, Url};

use crate::config::AgentId;
use crate::config::agent::NetGrant;
use crate::sandbox::Limits;

pub use addr::is_public;
pub use resolve::AddressRefused;
pub use secrets::{SecretBinding, SecretScanner};

/// Time to establish a connection, within the request's own time bound.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Shared by every client of the host: TLS roots and static names.
#[derive(Clone)]
pub struct Egress {
    tls: Arc<rustls::ClientConfig>,
    static_hosts: Arc<BTreeMap<String, Vec<IpAddr>>>,
}

/// What one skill in one agent may reach.
#[derive(Debug)]
pub struct EgressRules {
    pub agent: AgentId,
    pub skill: String,
    pub allow: Vec<NetGrant>,
    pub secrets: Vec<SecretBinding>,
    /// Every secret of the agent, to keep out of requests.
    pub scanner: Arc<SecretScanner>,
}

/// A skill's network access in an agent: its rules and, once needed, an
/// HTTP client whose resolver enforces them.
pub struct NetworkAccess {
    egress: Egress,
    rules: EgressRules,
    client: OnceLock<reqwest::Client>,
}

impl std::fmt::Debug for NetworkAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.rules.fmt(f)
    }
}

/// One call's use of a skill's network access: bounded in requests, time
/// and response size. Clones share the request count.
#[derive(Clone)]
pub struct EgressSession {
    access: Arc<NetworkAccess>,
    requests_left: Arc<AtomicU64>,
    max_requests: u64,
    max_response: usize,
    timeout: Duration,
}

/// Why a request did not get a response.
#[derive(Debug, thiserror::Error)]
pub enum EgressError {
    /// Refused before anything was sent.
    #[error("denied: {0}")]
    Denied(String),
    /// The name resolved only to addresses the grant does not allow.
    #[error("{0}")]
    AddressRefused(String),
    #[error("timed out")]
    Timeout,
    #[error("cannot connect: {0}")]
    Connect(String),
    #[error("{0}")]
    Protocol(String),
}

/// A response whose body fails once it passes the size bound.
pub type Response = http::Response<Limited<reqwest::Body>>;

impl Egress {
    pub fn new(static_hosts: BTreeMap<String, Vec<IpAddr>>) -> Egress {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let roots =
            rustls::RootCertStore::from_iter(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        let mut tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("ring supports the default TLS versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Egress {
            tls: Arc::new(tls),
            static_hosts: Arc::new(static_hosts),
        }
    }

    pub fn network_access(&self, rules: EgressRules) -> NetworkAccess {
        NetworkAccess {
            egress: self.clone(),
            rules,
            client: OnceLock::new(),
        }
    }

    fn client(&self, private_ok: HashSet<String>) -> reqwest::Client {
        reqwest::Client::builder()
            .tls_backend_preconfigured((*self.tls).clone())
            .dns_resolver(Arc::new(resolve::GuardedResolver {
                static_hosts: self.static_hosts.clone(),
                private_ok,
            }))
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .connect_timeout(CONNECT_TIMEOUT)
            .build()
            .expect("the client configuration is static and valid")
    }
}

impl NetworkAccess {
    pub fn rules(&self) -> &EgressRules {
        &self.rules
    }

    /// A session for one call, under the call's limits.
    pub fn session(self: &Arc<Self>, limits: &Limits) -> EgressSession {
        EgressSession {
            access: self.clone(),
            requests_left: Arc::new(AtomicU64::new(limits.http_requests)),
            max_requests: limits.http_requests,
            max_response: usize::try_from(limits.http_response.as_u64()).unwrap_or(usize::MAX),
            timeout: limits.http_timeout,
        }
    }

    fn client(&self) -> &reqwest::Client {
        self.client.get_or_init(|| {
            let private_ok = self
                .rules
                .allow
                .iter()
                .filter(|g| g.allow_private)
                .filter_map(|g| match &g.pattern.host {
                    crate::policy::network::HostPattern::Name(name) => Some(name.clone()),
                    _ => None,
                })
                .collect();
            self.egress.client(private_ok)
        })
    }

    /// Refuse the request unless it is granted and carries no secret.
    fn check(&self, url: &Url, headers: &http::HeaderMap, body: &[u8]) -> Result<(), String> {
        let grant = self
            .rules
            .allow
            .iter()
            .find(|g| g.pattern.matches(url))
            .ok_or_else(|| format!("{} is not granted", origin(url)))?;
        // An IP address in the URL is never resolved, so it is checked here:
        // one that is not public is reached only through a grant naming it.
        let literal = match url.host() {
            Some(Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
            Some(Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
            _ => None,
        };
        if let Some(ip) = literal
            && !is_public(ip)
            && !grant.pattern.is_exact()
        {
            return Err(format!("{ip} is not a public address"));
        }
        let scanner = &self.rules.scanner;
        let carries_secret = scanner.finds(url.as_str().as_bytes())
            || headers.iter().any(|(name, value)| {
                scanner.finds(name.as_str().as_bytes()) || scanner.finds(value.as_bytes())
            })
            || scanner.finds(body);
        if carries_secret {
            return Err("the request carries the value of a secret".into());
        }
        Ok(())
    }
}

impl EgressSession {
    /// Headers a guest may not set: those the host controls, and those it
    /// injects secrets into.
    pub fn is_forbidden_header(&self, name: &HeaderName) -> bool {
        is_host_controlled_header(name)
            || self.access.rules.secrets.iter().any(|s| s.header == *name)
    }

    /// Check `request` and, if allowed, send it.
    pub async fn send(&self, request: http::Request<Bytes>) -> Result<Response, EgressError> {
        let request = self.admit(request)?;
        let response = tokio::time::timeout(self.timeout, request.send())
            .await
            .map_err(|_| EgressError::Timeout)?
            .map_err(connect_error)?;
        let response: http::Response<reqwest::Body> = response.into();
        Ok(response.map(|body| Limited::new(body, self.max_response)))
    }

    /// The largest response body a request of this session may receive.
    pub fn max_response(&self) -> usize {
        self.max_response
    }

    fn admit(&self, request: http::Request<Bytes>) -> Result<reqwest::RequestBuilder, EgressError> {
        let rules = &self.access.rules;
        let (parts, body) = request.into_parts();
        let url = Url::parse(&parts.uri.to_string())
            .map_err(|e| EgressError::Denied(format!("bad URL {}: {e}", parts.uri)))?;
        let verdict = self
            .access
            .check(&url, &parts.headers, &body)
            .and_then(|()| {
                self.requests_left
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| {
                        left.checked_sub(1)
                    })
                    .map(|_| ())
                    .map_err(|_| format!("more than {} requests in one call", self.max_requests))
            });
        if let Err(reason) = verdict {
            tracing::warn!(
                agent = %rules.agent,
                skill = %rules.skill,
                url = %shown(&url, &rules.scanner),
                "outgoing request denied: {reason}"
            );
            return Err(EgressError::Denied(reason));
        }

        let mut headers = parts.headers;
        for name in [http::header::HOST, http::header::CONTENT_LENGTH] {
            headers.remove(name);
        }
        for secret in rules
            .secrets
            .iter()
            .filter(|s| s.hosts.iter().any(|h| h.matches(&url)))
        {
            let value = http::HeaderValue::from_str(&secret.header_value()).map_err(|_| {
                EgressError::Denied(format!(
                    "secret {} is not a valid header value",
                    secret.name
                ))
            })?;
            headers.insert(secret.header.clone(), value);
        }
        Ok(self
            .access
            .client()
            .request(parts.method, url)
            .headers(headers)
            .body(body)
            .timeout(self.timeout))
    }
}

/// Headers the host sets itself; neither a guest nor a secret template may.
pub fn is_host_controlled_header(name: &HeaderName) -> bool {
    wasmtime_wasi_http::DEFAULT_FORBIDDEN_HEADERS.contains(name)
        || *name == http::header::CONTENT_LENGTH
        || *name == http::header::TE
        || *name == http::header::TRAILER
}

fn connect_error(e: reqwest::Error) -> EgressError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
    while let Some(err) = source {
        if let Some(refused) = err.downcast_ref::<AddressRefused>() {
            return EgressError::AddressRefused(refused.to_string());
        }
        source = err.source();
    }
    if e.is_timeout() {
        EgressError::Timeout
    } else if e.is_connect() {
        EgressError::Connect(e.to_string())
    } else {
        EgressError::Protocol(e.to_string())
    }
}

/// `scheme://host:port` of `url`.
fn origin(url: &Url) -> String {
    url.origin().ascii_serialization()
}

/// The URL as it may be logged: whole, unless it carries a secret.
fn shown(url: &Url, scanner: &SecretScanner) -> String {
    if scanner.finds(url.as_str().as_bytes()) {
        format!("{}/<redacted>", origin(url))
    } else {
        url.to_string()
    }
}
