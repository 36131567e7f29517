//! `wasi:http/outgoing-handler`: a guest's outgoing HTTP requests.
//!
//! Every request reaches [`HttpCap::send_request`]: wasmtime-wasi-http is
//! built without its default sender, so there is no path around it. The
//! request is handed to the egress layer, which decides and sends; a skill
//! without a network grant is refused here.

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use wasmtime::component::Linker;
use wasmtime_wasi_http::{Error, ForbiddenHeaderFilter, WasiBody, WasiHttpHooks};

use crate::config::AgentId;
use crate::egress::{EgressError, EgressSession, NetworkAccess, is_host_controlled_header};
use crate::sandbox::{CallState, Limits};

/// Largest request body a guest may send.
pub const MAX_REQUEST_BODY: usize = 4 << 20;

/// The outgoing HTTP capability of one call.
pub struct HttpCap {
    agent: AgentId,
    skill: Arc<str>,
    session: Option<EgressSession>,
}

impl HttpCap {
    pub fn new(
        agent: &AgentId,
        skill: Arc<str>,
        network: Option<Arc<NetworkAccess>>,
        limits: &Limits,
    ) -> Self {
        Self {
            agent: agent.clone(),
            skill,
            session: network.map(|access| access.session(limits)),
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
            tracing::warn!(
                agent = %self.agent,
                skill = %self.skill,
                url = %request.uri(),
                "outgoing request denied: skill '{}' has no network grant in agent '{}'",
                self.skill,
                self.agent
            );
            return Box::new(async { Err(Error::HttpRequestDenied) });
        };
        Box::new(async move {
            let (parts, body) = request.into_parts();
            let body = Limited::new(body, MAX_REQUEST_BODY)
                .collect()
                .await
                .map_err(|e| match e.downcast::<Error>() {
                    Ok(e) => *e,
                    Err(_) => Error::HttpRequestBodySize(Some(MAX_REQUEST_BODY as u64)),
                })?
                .to_bytes();
            let max_response = session.max_response() as u64;
            let response = session
                .send(http::Request::from_parts(parts, body))
                .await
                .map_err(|e| match e {
                    EgressError::Denied(_) => Error::HttpRequestDenied,
                    EgressError::AddressRefused(_) => Error::DestinationIpProhibited,
                    EgressError::Timeout => Error::ConnectionTimeout,
                    EgressError::Connect(_) => Error::ConnectionRefused,
                    EgressError::Protocol(m) => Error::InternalError(Some(m)),
                })?;
            let response = response.map(|body| {
                body.map_err(move |e| {
                    if e.is::<LengthLimitError>() {
                        Error::HttpResponseBodySize(Some(max_response))
                    } else {
                        Error::HttpResponseIncomplete
                    }
                })
                .map_frame(|frame| frame.map_data(|data: Bytes| data))
                .boxed_unsync()
            });
            Ok((response, Box::new(async { Ok(()) }) as IoFuture))
        })
    }
}

pub fn link(linker: &mut Linker<CallState>) -> wasmtime::Result<()> {
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(linker)
}
