//! The one way out of the host. Every outgoing HTTP request goes through
//! here: a skill's, the inference service's, the registry client's and the
//! consent webhook's.
//!
//! - the network allowlist ([`allow`]): its scheme, host and port must match
//!   a granted pattern, and its URL may not carry a user or password;
//! - the addresses a name resolves to are checked at connect time
//!   ([`resolve`]), so a granted name cannot be pointed at loopback, private
//!   or metadata addresses, unless the grant that matched the request names
//!   that host with `allow_private`, or is an IP address itself;
//! - redirects are not followed: each hop is a new request, checked anew;
//! - secrets ([`secrets`]): a request carrying a secret's value (raw or
//!   encoded) anywhere is refused; a secret reaches only the hosts it is
//!   bound to, as the header it is bound to, injected here, and is masked
//!   in what those hosts answer;
//! - attempts per call, request and response bodies, and time per request
//!   are bounded;
//! - no proxy from the environment is used.

mod addr;
mod allow;
mod resolve;
mod secrets;

use std::collections::{BTreeMap, HashSet};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use http::HeaderName;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Limited};
use url::Url;

use crate::config::NetGrant;
use crate::consent::{CallConsent, Verdict};
use crate::redact::SecretScanner;
use crate::vocab::{
    AgentId, Capability, FIELD_MAP_BYTES, HostPattern, Limits, MemoryBudget, NetPattern, truncate,
};

use allow::{Admitted, Miss, SECRET_REFUSAL};

pub(crate) use resolve::AddressRefused;
pub(crate) use secrets::SecretBinding;

/// Time to establish a connection, within the request's own time bound.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Largest request body a guest may send; the whole body is read before the
/// request leaves, to check it for secrets.
pub(crate) const MAX_REQUEST_BODY: usize = 4 << 20;

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
    /// requests (webhooks, inference, the registry) have none: misses are refused.
    consent: Option<CallConsent>,
    /// Requests the call may still attempt, sent or refused.
    attempts_left: Arc<AtomicU64>,
    max_attempts: u64,
    /// The call's memory, which the request bodies it sends are held in.
    budget: Arc<MemoryBudget>,
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

pub(crate) type Response = http::Response<BoxBody<Bytes, BodyError>>;

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

    /// A session for one of the host's own requests (inference, webhooks,
    /// the registry): no one to ask, and a memory budget of its own.
    pub fn host_session(self: &Arc<Self>, limits: &Limits) -> EgressSession {
        let budget = Arc::new(MemoryBudget::new(limits.memory.as_u64()));
        self.session(limits, None, budget)
    }

    /// A session for one call, under the call's limits, holding bodies
    /// within its memory `budget`.
    pub fn session(
        self: &Arc<Self>,
        limits: &Limits,
        consent: Option<CallConsent>,
        budget: Arc<MemoryBudget>,
    ) -> EgressSession {
        EgressSession {
            access: self.clone(),
            consent,
            attempts_left: Arc::new(AtomicU64::new(limits.http_requests)),
            max_attempts: limits.http_requests,
            budget,
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
}

impl EgressSession {
    /// Headers a guest may not set: those the host controls, and those it
    /// injects secrets into.
    pub fn is_forbidden_header(&self, name: &HeaderName) -> bool {
        crate::vocab::is_host_controlled_header(name)
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
        let admitted = self.admit(&parts, &url, &network).await?;
        let body = self.read_body(body).await?;
        if self.access.rules.scanner.finds(&body) {
            return Err(self.refuse(&url, &network, SECRET_REFUSAL.into()));
        }

        let mut headers = parts.headers;
        for name in [http::header::HOST, http::header::CONTENT_LENGTH] {
            headers.remove(name);
        }
        let injected = self.inject(&admitted.url, &mut headers).await?;
        if !injected.is_empty() {
            // Only a plain answer can be masked as it streams: a compressed
            // echo of the secret would pass unseen.
            headers.insert(
                http::header::ACCEPT_ENCODING,
                http::HeaderValue::from_static("identity"),
            );
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
        // The headers become a header set the call holds: within the size
        // its budget reserves for one (see vocab::budget).
        let header_bytes: usize = (response.headers().iter())
            .map(|(name, value)| name.as_str().len() + value.len() + 32)
            .sum();
        if header_bytes > FIELD_MAP_BYTES {
            return Err(EgressError::Protocol(format!(
                "the answer's headers take {header_bytes} bytes, over the {FIELD_MAP_BYTES} a \
                 call may hold"
            )));
        }
        let max = self.max_response;
        let response = response.map(|body| limited(body, max));
        if injected.is_empty() {
            return Ok(response.map(|body| body.boxed()));
        }
        let response = secrets::plain(response, max).await?;
        Ok(secrets::masked(&injected, response))
    }

    /// Count the attempt and check the request's head: allowed by a grant,
    /// or by a person when the manifest asks for what no grant gives.
    async fn admit(
        &self,
        parts: &http::request::Parts,
        url: &Url,
        network: &Capability,
    ) -> Result<Admitted, EgressError> {
        self.take_attempt()
            .map_err(|reason| self.refuse(url, network, reason))?;
        match self.access.check_head(&parts.method, url, &parts.headers) {
            Ok(admitted) => Ok(admitted),
            Err(Miss::Refused(reason)) => Err(self.refuse(url, network, reason)),
            // Public addresses only: a person cannot allow a private one.
            Err(Miss::Ungranted) => match self
                .decide(network.clone(), "the agent does not grant this host")
                .await
            {
                Verdict::Allowed => Ok(Admitted {
                    url: url.clone(),
                    private_too: false,
                }),
                Verdict::Denied(reason) => Err(self.log_refusal(url, reason)),
            },
        }
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
        let reserved = self.budget.take_up_to(MAX_REQUEST_BODY as u64) as usize;
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
        self.budget.give_back((reserved - bytes.len()) as u64);
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

/// A response body bounded to `max` bytes, its errors named.
fn limited(
    body: reqwest::Body,
    max: usize,
) -> impl http_body::Body<Data = Bytes, Error = BodyError> + Send + Sync + Unpin + 'static {
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
    if scanner.finds(url.as_str().as_bytes()) {
        format!("{}/<redacted>", origin(url))
    } else {
        truncate(url.as_str(), MAX_LOGGED_URL)
    }
}
