use serde::Deserialize;
use skillbox_sdk::bindings::wasi::http::outgoing_handler;
use skillbox_sdk::bindings::wasi::http::types::{Fields, OutgoingRequest, Scheme};
use skillbox_sdk::bindings::wasi::io::streams::StreamError;
use skillbox_sdk::{ToolError, export_tools};

#[derive(Deserialize)]
struct Target {
    url: String,
}

fn download(target: Target) -> Result<serde_json::Value, ToolError> {
    let rest = target
        .url
        .strip_prefix("http://")
        .ok_or_else(|| ToolError::invalid_input("http only"))?;
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let request = OutgoingRequest::new(Fields::new());
    let _ = request.set_scheme(Some(&Scheme::Http));
    let _ = request.set_authority(Some(authority));
    let _ = request.set_path_with_query(Some(if path.is_empty() { "/" } else { path }));
    let pending =
        outgoing_handler::handle(request, None).map_err(|e| ToolError::failed(format!("{e:?}")))?;
    pending.subscribe().block();
    let response = pending
        .get()
        .ok_or_else(|| ToolError::failed("no response"))?
        .map_err(|()| ToolError::failed("response taken"))?
        .map_err(|e| ToolError::failed(format!("{e:?}")))?;
    let body = response
        .consume()
        .map_err(|()| ToolError::failed("no body"))?;
    let stream = body.stream().map_err(|()| ToolError::failed("no stream"))?;
    let mut read: u64 = 0;
    loop {
        match stream.blocking_read(1 << 20) {
            Ok(chunk) => read += chunk.len() as u64,
            Err(StreamError::Closed) => return Ok(serde_json::json!({ "bytes": read })),
            Err(StreamError::LastOperationFailed(e)) => {
                return Err(ToolError::failed(format!(
                    "stopped after {read} bytes: {}",
                    e.to_debug_string()
                )));
            }
        }
    }
}

export_tools! {
    "download" => download,
}
