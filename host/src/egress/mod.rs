//! The one way out of the host. Every outgoing HTTP request a skill makes
//! goes through here (and the inference service and the registry will too):
//!
//! - its scheme, host and port must match a granted pattern, and its URL may
//!   not carry a user or password;
//! - the addresses a name resolves to are checked at connect time, so a
//!   granted name cannot be pointed at loopback, private or metadata
//!   addresses, unless the grant that matched the request names that host
//!   with `allow_private`, or is an IP address itself;
//! - redirects are not followed: each hop is a new request, checked anew;
//! - a request carrying a secret's value (raw or encoded) anywhere is
//!   refused; a secret reaches only the hosts it is bound to, as the header
//!   it is bound to, injected here, and is masked in what those hosts answer;
//! - attempts per call, request and response bodies, and time per request
//!   are bounded;
//! - no proxy from the environment is used.

mod addr;
mod redact;
mod resolve;
mod secrets;

use std::collections::{BTreeMap, HashSet};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderName, Method};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Limited};
use url::{Host, Url};

use crate::config::AgentId;
use crate::config::agent::NetGrant;
use crate::policy::consent::{CallConsent, Verdict};
use crate::policy::network::{HostPattern, NetPattern};
use crate::prompt::Capability;
use crate::sandbox::Limits;

pub use addr::is_public;
pub use resolve::AddressRefused;
pub use secrets::{SecretBinding, SecretScanner};

/// Time to establish a connection, within the request's own time bound.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Largest request body a guest may send; the whole body is read before the
/// request leaves, to check it for secrets.
pub const MAX_REQUEST_BODY: usize = 4 << 20;

/// Longest URL written to the host's log.
const MAX_LOGGED_URL: usize = 200;

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
    /// What the skill's manifest asks for: a request it covers but no grant
    /// does goes to the consent broker.
    pub requested: Vec<NetPattern>,
    pub secrets: Vec<SecretBinding>,
    /// Every secret of the agent, to keep out of requests.
    pub scanner: Arc<SecretScanner>,
}

/// A skill's network access in an agent: its rules and, once needed, the
/// HTTP clients whose resolvers enforce them.
pub struct NetworkAccess {
    egress: Egress,
    rules: EgressRules,
    /// Connects to public addresses only.
    public_only: OnceLock<reqwest::Client>,
    /// For requests matched by an `allow_private` grant: may also connect to
    /// the private addresses of the hosts such grants name.
    private_too: OnceLock<reqwest::Client>,
}

impl std::fmt::Debug for NetworkAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.rules.fmt(f)
    }
}

/// One call's use of a skill's network access. Clones share its budgets.
#[derive(Clone)]
pub struct EgressSession {
    access: Arc<NetworkAccess>,
    /// The call's consent, when the session is a skill's; the host's own
    /// requests (webhooks, later inference) have none: misses are refused.
    consent: Option<CallConsent>,
    /// Requests the call may still attempt, sent or refused.
    attempts_left: Arc<AtomicU64>,
    max_attempts: u64,
    /// Bytes of request bodies the call may still have the host hold.
    body_budget: Arc<AtomicUsize>,
    max_response: usize,
    timeout: Duration,
}

/// Why a request did not get a response.
#[derive(Debug, thiserror::Error)]
pub enum EgressError {
    /// Refused before anything was sent.
    #[error("denied: {0}")]
    Denied(String),
    /// The request body is over its limit, or could not be read.
    #[error("request body: {0}")]
    Body(String),
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

/// Why a response body stopped.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("response body over {0} bytes")]
    TooLarge(usize),
    #[error("timed out")]
    Timeout,
    #[error("{0}")]
    Failed(String),
}

pub type Response = http::Response<BoxBody<Bytes, BodyError>>;

/// How a checked request may leave.
struct Admitted {
    url: Url,
    private_too: bool,
}

/// Why a request does not leave as it is.
enum Miss {
    /// No grant matches, but the manifest asks for it: a person may allow it.
    Ungranted,
    /// Refused outright.
    Refused(String),
}

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
            public_only: OnceLock::new(),
            private_too: OnceLock::new(),
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
    pub fn session(
        self: &Arc<Self>,
        limits: &Limits,
        consent: Option<CallConsent>,
    ) -> EgressSession {
        EgressSession {
            access: self.clone(),
            consent,
            attempts_left: Arc::new(AtomicU64::new(limits.http_requests)),
            max_attempts: limits.http_requests,
            body_budget: Arc::new(AtomicUsize::new(
                usize::try_from(limits.memory.as_u64()).unwrap_or(usize::MAX),
            )),
            max_response: usize::try_from(limits.http_response.as_u64()).unwrap_or(usize::MAX),
            timeout: limits.http_timeout,
        }
    }

    fn client(&self, private_too: bool) -> &reqwest::Client {
        if !private_too {
            return self
                .public_only
                .get_or_init(|| self.egress.client(HashSet::new()));
        }
        self.private_too.get_or_init(|| {
            let names = self.rules.allow.iter().filter(|g| g.allow_private);
            let names = names.filter_map(|g| match &g.pattern.host {
                HostPattern::Name(name) => Some(name.clone()),
                _ => None,
            });
            self.egress.client(names.collect())
        })
    }

    /// Whether the request line and headers may leave, and how.
    fn check_head(
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
        let carries_secret = scanner.finds_in_url(url.as_str())
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

const SECRET_REFUSAL: &str = "the request carries the value of a secret";

impl EgressSession {
    /// Headers a guest may not set: those the host controls, and those it
    /// injects secrets into.
    pub fn is_forbidden_header(&self, name: &HeaderName) -> bool {
        is_host_controlled_header(name)
            || self.access.rules.secrets.iter().any(|s| s.header == *name)
    }

    /// Check `request` and, if allowed, send it. Every attempt counts
    /// against the call's requests; the head is checked before the body is
    /// read, and the body before anything leaves.
    pub async fn send<B>(&self, request: http::Request<B>) -> Result<Response, EgressError>
    where
        B: http_body::Body<Data = Bytes> + Send,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let (parts, body) = request.into_parts();
        let url = Url::parse(&parts.uri.to_string())
            .map_err(|e| EgressError::Denied(format!("bad URL: {e}")))?;
        let network = Capability::Network {
            method: parts.method.to_string(),
            origin: origin(&url),
        };
        self.take_attempt()
            .map_err(|reason| self.refuse(&url, &network, reason))?;
        let admitted = match self.access.check_head(&parts.method, &url, &parts.headers) {
            Ok(admitted) => admitted,
            Err(Miss::Refused(reason)) => return Err(self.refuse(&url, &network, reason)),
            // Public addresses only: a person cannot allow a private one.
            Err(Miss::Ungranted) => match self
                .decide(network.clone(), "the agent does not grant this host")
                .await
            {
                Verdict::Allowed => Admitted {
                    url: url.clone(),
                    private_too: false,
                },
                Verdict::Denied(reason) => return Err(self.log_refusal(&url, reason)),
            },
        };
        let body = self.read_body(body).await?;
        if self.access.rules.scanner.finds_in_body(&body) {
            return Err(self.refuse(&url, &network, SECRET_REFUSAL.into()));
        }

        let rules = &self.access.rules;
        let mut headers = parts.headers;
        for name in [http::header::HOST, http::header::CONTENT_LENGTH] {
            headers.remove(name);
        }
        let injected: Vec<&SecretBinding> = rules
            .secrets
            .iter()
            .filter(|s| s.hosts.iter().any(|h| h.matches(&admitted.url)))
            .collect();
        for secret in &injected {
            if secret.ask {
                let capability = Capability::Secret {
                    name: secret.name.clone(),
                    origin: origin(&admitted.url),
                };
                let reason = "the agent lends this secret only with a person's consent";
                if let Verdict::Denied(why) = self.decide(capability, reason).await {
                    return Err(self.log_refusal(&url, why));
                }
            }
            let value = http::HeaderValue::from_str(&secret.header_value()).map_err(|_| {
                EgressError::Denied(format!(
                    "secret {} is not a valid header value",
                    secret.name
                ))
            })?;
            headers.insert(secret.header.clone(), value);
        }
        let request = self
            .access
            .client(admitted.private_too)
            .request(parts.method, admitted.url)
            .headers(headers)
            .body(body)
            .timeout(self.timeout);
        let response = tokio::time::timeout(self.timeout, request.send())
            .await
            .map_err(|_| EgressError::Timeout)?
            .map_err(connect_error)?;

        let response: http::Response<reqwest::Body> = response.into();
        let max = self.max_response;
        let limited = |body: reqwest::Body| {
            Limited::new(body, max).map_err(move |e| {
                if e.is::<http_body_util::LengthLimitError>() {
                    BodyError::TooLarge(max)
                } else if e
                    .downcast_ref::<reqwest::Error>()
                    .is_some_and(|e| e.is_timeout())
                {
                    BodyError::Timeout
                } else {
                    BodyError::Failed(e.to_string())
                }
            })
        };
        // A host that received a secret may echo it; the guest never sees it.
        Ok(
            match redact::Mask::new(injected.iter().map(|s| s.value.as_str())) {
                Some(mask) => {
                    let (mut parts, body) = response.into_parts();
                    mask.headers(&mut parts.headers);
                    http::Response::from_parts(parts, mask.body(limited(body)).boxed())
                }
                None => response.map(|body| limited(body).boxed()),
            },
        )
    }

    /// The largest response body a request of this session may receive.
    pub fn max_response(&self) -> usize {
        self.max_response
    }

    fn take_attempt(&self) -> Result<(), String> {
        self.attempts_left
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| {
                left.checked_sub(1)
            })
            .map(|_| ())
            .map_err(|_| format!("more than {} requests in one call", self.max_attempts))
    }

    /// Read the body whole, within the request body limit and what is left
    /// of the call's budget for bodies.
    async fn read_body<B>(&self, body: B) -> Result<Bytes, EgressError>
    where
        B: http_body::Body<Data = Bytes> + Send,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let before = self
            .body_budget
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| {
                Some(left - left.min(MAX_REQUEST_BODY))
            })
            .unwrap_or_else(|left| left);
        let reserved = before.min(MAX_REQUEST_BODY);
        let collected = Limited::new(body, reserved).collect().await;
        let bytes = match collected {
            Ok(collected) => collected.to_bytes(),
            Err(e) => {
                let why = if e.is::<http_body_util::LengthLimitError>() {
                    format!("over {reserved} bytes")
                } else {
                    e.to_string()
                };
                return Err(EgressError::Body(why));
            }
        };
        self.body_budget
            .fetch_add(reserved - bytes.len(), Ordering::SeqCst);
        Ok(bytes)
    }

    /// Record a refusal in the audit log and the host's log, and turn it
    /// into an error.
    fn refuse(&self, url: &Url, capability: &Capability, reason: String) -> EgressError {
        if let Some(consent) = &self.consent {
            consent.refuse(&capability.to_string(), reason.clone());
        }
        self.log_refusal(url, reason)
    }

    /// Ask the consent broker, when there is a call to ask for.
    async fn decide(&self, capability: Capability, reason: &str) -> Verdict {
        match &self.consent {
            Some(consent) => consent.decide(capability, reason).await,
            None => Verdict::Denied(format!("{capability}: {reason}")),
        }
    }

    /// Log a refusal (already audited) for the operator; the error.
    fn log_refusal(&self, url: &Url, reason: String) -> EgressError {
        let rules = &self.access.rules;
        tracing::warn!(
            agent = %rules.agent,
            skill = %rules.skill,
            url = %shown(url, &rules.scanner),
            "outgoing request denied: {reason}"
        );
        EgressError::Denied(reason)
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

/// The URL as it may be logged: bounded, and cut to its origin if it
/// carries a secret.
pub(crate) fn shown(url: &Url, scanner: &SecretScanner) -> String {
    if scanner.finds_in_url(url.as_str()) {
        format!("{}/<redacted>", origin(url))
    } else {
        crate::caps::truncate(url.as_str(), MAX_LOGGED_URL)
    }
}
