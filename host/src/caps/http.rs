//! `wasi:http/outgoing-handler`: a guest's outgoing HTTP requests.
//!
//! Every request reaches [`HttpCap::send_request`]: wasmtime-wasi-http is
//! built without its default sender, so there is no path around it. The
//! request is handed to the egress layer, which decides and sends; a skill
//! without a network grant is refused here.

use std::sync::Arc;

use http_body_util::BodyExt;
use wasmtime::component::Linker;
use wasmtime_wasi_http::{Error, ForbiddenHeaderFilter, WasiBody, WasiHttpHooks};

use crate::config::AgentId;
use crate::egress::{
    BodyError, EgressError, EgressSession, NetworkAccess, is_host_controlled_header,
};
use crate::policy::consent::CallConsent;
use crate::sandbox::{CallState, Limits};

/// The outgoing HTTP capability of one call.
pub struct HttpCap {
    agent: AgentId,
    skill: Arc<str>,
    session: Option<EgressSession>,
    consent: CallConsent,
    /// Whether a refusal was recorded yet; once per call is enough.
    refusal_logged: bool,
}

impl HttpCap {
    pub fn new(
        agent: &AgentId,
        skill: Arc<str>,
        network: Option<Arc<NetworkAccess>>,
        limits: &Limits,
        consent: CallConsent,
    ) -> Self {
        Self {
            agent: agent.clone(),
            skill,
            session: network.map(|access| access.session(limits, Some(consent.clone()))),
            consent,
            refusal_logged: false,
        }
    }
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

pub fn link(linker: &mut Linker<CallState>) -> wasmtime::Result<()> {
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(linker)
}
