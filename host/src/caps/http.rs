//! `wasi:http/outgoing-handler`: a guest's outgoing HTTP requests.
//!
//! Every request reaches [`HttpCap::send_request`]; wasmtime-wasi-http is
//! built without its default sender, so there is no path around it. No
//! network grant exists yet, so every request is refused.

use wasmtime::component::Linker;
use wasmtime_wasi_http::{WasiBody, WasiHttpHooks};

use crate::sandbox::CallState;

/// The outgoing HTTP capability of one call.
pub struct HttpCap {
    skill: String,
}

impl HttpCap {
    pub fn new(skill: &str) -> Self {
        Self {
            skill: skill.to_owned(),
        }
    }
}

type Response = http::Response<WasiBody>;
type IoFuture = Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send>;

impl WasiHttpHooks for HttpCap {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        _options: Option<wasmtime_wasi_http::RequestOptions>,
        _fut: IoFuture,
    ) -> Box<dyn Future<Output = wasmtime_wasi_http::Result<(Response, IoFuture)>> + Send> {
        tracing::warn!(skill = %self.skill, url = %request.uri(), "outgoing HTTP denied: no network grant");
        Box::new(async { Err(wasmtime_wasi_http::Error::HttpRequestDenied) })
    }
}

pub fn link(linker: &mut Linker<CallState>) -> wasmtime::Result<()> {
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(linker)
}
