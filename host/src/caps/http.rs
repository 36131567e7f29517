//! `wasi:http/outgoing-handler`: a guest's outgoing HTTP requests.
//!
//! An agent grants a skill network patterns, each covered by one its
//! manifest asks for. Every request reaches [`HttpCap::send_request`]:
//! wasmtime-wasi-http is built without its default sender, so there is no
//! path around it. The request is handed to the egress layer, which
//! enforces the allowlist on every request ([`crate::egress`]); a skill
//! without a network grant is refused here.

use std::sync::Arc;

use http_body_util::BodyExt;
use wasmtime::component::Linker;
use wasmtime_wasi_http::{Error, ForbiddenHeaderFilter, WasiBody, WasiHttpHooks, WasiHttpView};

use super::{CallContext, CapError, GrantContext, HostCapability, OnInstall, Words};
use crate::config::{Capabilities, ConfigError, NetGrant};
use crate::consent::CallConsent;
use crate::egress::{BodyError, EgressError, EgressRules, EgressSession, NetworkAccess};
use crate::vocab::{AgentId, Mode, NetPattern, is_host_controlled_header};

/// The network capability.
pub(crate) struct Http;

/// The hosts a skill may reach, and its way out to them.
#[derive(Debug)]
pub(crate) struct NetworkGrant {
    /// The egress rules: the hosts granted (requests these match leave),
    /// those the manifest asks for (a request only they cover goes to the
    /// consent broker), and the secrets bound to the skill.
    access: Arc<NetworkAccess>,
}

impl NetworkGrant {
    /// The hosts granted.
    pub(crate) fn allow(&self) -> &[NetGrant] {
        &self.access.rules().allow
    }
}

impl HostCapability for Http {
    type Grant = NetworkGrant;
    type State = HttpCap;

    fn grant(cx: &GrantContext<'_>) -> Result<Option<NetworkGrant>, ConfigError> {
        // A local agent reaches nothing outside the host.
        if cx.local {
            return Ok(None);
        }
        let asks = &cx.manifest.capabilities.network;
        let grants = &cx.entry.grants.network;
        for (i, grant) in grants.iter().enumerate() {
            let pattern = &grant.value.pattern;
            if !asks.iter().any(|r| r.covers(pattern)) {
                let asked: Vec<String> = asks.iter().map(ToString::to_string).collect();
                return Err(cx.error(
                    &format!("network[{i}]"),
                    grant.line,
                    format!(
                        "grants {pattern}, which skill '{}' does not ask for (it asks for: {})",
                        cx.skill,
                        if asked.is_empty() {
                            "nothing".into()
                        } else {
                            asked.join(", ")
                        }
                    ),
                ));
            }
        }
        // Without grants, a skill still reaches the network when a person
        // may allow hosts its manifest asks for.
        let may_ask = !asks.is_empty() && cx.agent.consent.mode != Mode::Deny;
        if grants.is_empty() && !may_ask {
            return Ok(None);
        }
        let secrets = cx.secrets.of(cx.skill);
        let access = cx.egress.network_access(EgressRules {
            agent: cx.agent.id.clone(),
            skill: cx.skill.to_owned(),
            allow: grants.iter().map(|g| g.value.clone()).collect(),
            requested: asks.clone(),
            secrets: secrets.map(|s| s.bindings.clone()).unwrap_or_default(),
            scanner: cx.secrets.scanner.clone(),
        });
        Ok(Some(NetworkGrant {
            access: Arc::new(access),
        }))
    }

    fn asked(asks: &Capabilities) -> Vec<Words> {
        let words = |pattern: &NetPattern| {
            let shown = pattern.to_string();
            let target = match shown.split_once("://").map_or("", |(_, host)| host) {
                "*" => "any host".to_owned(),
                "*:*" => "any host, on any port".to_owned(),
                host => host.to_owned(),
            };
            Words {
                term: format!("network {pattern}"),
                sentence: format!(
                    "may send {} requests to {target}",
                    pattern.scheme.as_str().to_uppercase()
                ),
            }
        };
        asks.network.iter().map(words).collect()
    }

    fn granted(grant: &NetworkGrant) -> Vec<String> {
        let words = |g: &NetGrant| {
            let private = match g.allow_private {
                true => ", private addresses allowed",
                false => "",
            };
            format!("network {}{private}", g.pattern)
        };
        grant.allow().iter().map(words).collect()
    }

    fn not_granted(asks: &Capabilities, grant: Option<&NetworkGrant>) -> Vec<String> {
        let allow = grant.map_or(&[][..], |g| g.allow());
        asks.network
            .iter()
            .filter(|request| !allow.iter().any(|g| request.covers(&g.pattern)))
            .map(|request| format!("network {request}"))
            .collect()
    }

    fn on_install(asks: &Capabilities) -> OnInstall {
        let list: toml_edit::Array = asks.network.iter().map(|p| p.to_string()).collect();
        match asks.network.is_empty() {
            true => OnInstall::Nothing,
            false => OnInstall::Grant("network", toml_edit::value(list)),
        }
    }

    async fn prepare(
        grant: Option<&NetworkGrant>,
        call: &CallContext<'_>,
    ) -> Result<HttpCap, CapError> {
        let consent = call.consent.clone();
        Ok(HttpCap {
            agent: call.agent.clone(),
            skill: call.skill.clone(),
            session: grant.map(|g| {
                g.access
                    .session(call.limits, Some(consent.clone()), call.budget.clone())
            }),
            consent,
            refusal_logged: false,
        })
    }
}

/// The outgoing HTTP capability of one call.
pub struct HttpCap {
    agent: AgentId,
    skill: Arc<str>,
    session: Option<EgressSession>,
    consent: CallConsent,
    /// Whether a refusal was recorded yet; once per call is enough.
    refusal_logged: bool,
}

type Response = http::Response<WasiBody>;
type IoFuture = Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send>;

impl WasiHttpHooks for HttpCap {
    fn forbidden_header_filter(&mut self) -> ForbiddenHeaderFilter {
        match self.session.clone() {
            Some(session) => Arc::new(move |name| session.is_forbidden_header(name)),
            None => Arc::new(is_host_controlled_header),
        }
    }

    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        _options: Option<wasmtime_wasi_http::RequestOptions>,
        _fut: IoFuture,
    ) -> Box<dyn Future<Output = wasmtime_wasi_http::Result<(Response, IoFuture)>> + Send> {
        let Some(session) = self.session.clone() else {
            if !std::mem::replace(&mut self.refusal_logged, true) {
                let reason = format!("skill '{}' has no network grant", self.skill);
                tracing::warn!(
                    agent = %self.agent,
                    skill = %self.skill,
                    host = ?request.uri().host(),
                    "outgoing request denied: {reason}"
                );
                self.consent.refuse("network", reason);
            }
            return Box::new(async { Err(Error::HttpRequestDenied) });
        };
        Box::new(async move {
            let response = session.send(request).await.map_err(|e| match e {
                EgressError::Denied(_) => Error::HttpRequestDenied,
                EgressError::Body(_) => Error::HttpRequestBodySize(None),
                EgressError::AddressRefused(_) => Error::DestinationIpProhibited,
                EgressError::Timeout => Error::ConnectionTimeout,
                EgressError::Connect(_) => Error::ConnectionRefused,
                EgressError::Protocol(m) => Error::InternalError(Some(m)),
            })?;
            let response = response.map(|body| {
                body.map_err(|e| match e {
                    BodyError::TooLarge(max) => Error::HttpResponseBodySize(Some(max as u64)),
                    BodyError::Timeout => Error::HttpResponseTimeout,
                    BodyError::Failed(_) => Error::HttpResponseIncomplete,
                })
                .boxed_unsync()
            });
            Ok((response, Box::new(async { Ok(()) }) as IoFuture))
        })
    }
}

/// Link `wasi:http/outgoing-handler`, whose sender is the store's
/// [`HttpCap`] (its `WasiHttpView` hooks).
pub(crate) fn add_to_linker<T: WasiHttpView + 'static>(
    linker: &mut Linker<T>,
) -> wasmtime::Result<()> {
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(linker)
}
