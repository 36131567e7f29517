//! Outgoing HTTP through `wasi:http`, checked by the host on every request.
//!
//! Needs `network` patterns under `[capabilities]` in `skill.toml` and a
//! grant from the agent; anything else is refused with [`HttpError::Denied`].
//! Secrets are never visible here: the host adds them to requests itself.
//!
//! ```ignore
//! let response = skillbox_sdk::http::get("https://api.example.com/items")?;
//! let items: Vec<Item> = response.json()?;
//! ```

use std::fmt;

use crate::bindings::wasi::http::outgoing_handler;
use crate::bindings::wasi::http::types::{
    ErrorCode, Fields, Method, OutgoingBody, OutgoingRequest, Scheme, http_error_code,
};
use crate::bindings::wasi::io::streams::StreamError;

/// Redirects [`fetch`] follows before giving up.
pub const MAX_REDIRECTS: usize = 5;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpError {
    /// The host refused: the destination is not granted, or the request
    /// would carry a secret, or a limit was reached.
    Denied(String),
    /// The request is malformed (bad URL, forbidden header).
    Invalid(String),
    /// The request was sent and failed.
    Failed(String),
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HttpError::Denied(m) => write!(f, "denied: {m}"),
            HttpError::Invalid(m) => write!(f, "invalid request: {m}"),
            HttpError::Failed(m) => write!(f, "failed: {m}"),
        }
    }
}

impl std::error::Error for HttpError {}

impl From<HttpError> for crate::ToolError {
    fn from(e: HttpError) -> Self {
        // The tool's error says "failed" or "denied" itself.
        match e {
            HttpError::Denied(m) => crate::ToolError::Denied(m),
            HttpError::Failed(m) => crate::ToolError::Failed(m),
            invalid @ HttpError::Invalid(_) => crate::ToolError::Failed(invalid.to_string()),
        }
    }
}

impl Request {
    pub fn new(method: &str, url: &str) -> Request {
        Request {
            method: method.to_owned(),
            url: url.to_owned(),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    pub fn header(mut self, name: &str, value: &str) -> Request {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Request {
        self.body = body.into();
        self
    }
}

impl Response {
    /// The first header called `name`, ignoring case.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, HttpError> {
        serde_json::from_slice(&self.body).map_err(|e| HttpError::Failed(format!("not JSON: {e}")))
    }
}

/// `GET url`, following redirects.
pub fn get(url: &str) -> Result<Response, HttpError> {
    fetch(Request::new("GET", url))
}

/// Send `request`, following up to [`MAX_REDIRECTS`] redirects. The host
/// checks every hop as a request of its own.
pub fn fetch(mut request: Request) -> Result<Response, HttpError> {
    for _ in 0..=MAX_REDIRECTS {
        let response = send(&request)?;
        let location = match response.status {
            301 | 302 | 303 | 307 | 308 => response.header("location"),
            _ => None,
        };
        let Some(location) = location else {
            return Ok(response);
        };
        request.url = resolve(&request.url, location);
        if response.status == 303
            || (response.status != 307 && response.status != 308 && request.method != "HEAD")
        {
            request.method = "GET".into();
            request.body.clear();
        }
    }
    Err(HttpError::Failed(format!(
        "more than {MAX_REDIRECTS} redirects"
    )))
}

/// Send one request; a redirect is returned as is.
pub fn send(request: &Request) -> Result<Response, HttpError> {
    let (scheme, authority, path) = split_url(&request.url)?;
    let headers = Fields::new();
    for (name, value) in &request.headers {
        headers.append(name, value.as_bytes()).map_err(|e| {
            let why = crate::words::variant(&format!("{e:?}"));
            HttpError::Invalid(format!("header {name}: {why}"))
        })?;
    }
    let outgoing = OutgoingRequest::new(headers);
    let method = match request.method.to_ascii_uppercase().as_str() {
        "GET" => Method::Get,
        "HEAD" => Method::Head,
        "POST" => Method::Post,
        "PUT" => Method::Put,
        "DELETE" => Method::Delete,
        "PATCH" => Method::Patch,
        "OPTIONS" => Method::Options,
        other => Method::Other(other.to_owned()),
    };
    let invalid = |what: &str| HttpError::Invalid(format!("bad {what} in {}", request.url));
    outgoing
        .set_method(&method)
        .map_err(|()| invalid("method"))?;
    outgoing
        .set_scheme(Some(&scheme))
        .map_err(|()| invalid("scheme"))?;
    outgoing
        .set_authority(Some(authority))
        .map_err(|()| invalid("host"))?;
    outgoing
        .set_path_with_query(Some(path))
        .map_err(|()| invalid("path"))?;

    let body = outgoing
        .body()
        .map_err(|()| HttpError::Failed("no request body".into()))?;
    let pending = outgoing_handler::handle(outgoing, None).map_err(error)?;
    {
        let stream = body
            .write()
            .map_err(|()| HttpError::Failed("cannot write the request body".into()))?;
        for chunk in request.body.chunks(4096) {
            stream
                .blocking_write_and_flush(chunk)
                .map_err(|e| stream_error(e, "writing the request body"))?;
        }
    }
    OutgoingBody::finish(body, None).map_err(error)?;

    pending.subscribe().block();
    let incoming = match pending.get() {
        Some(Ok(result)) => result.map_err(error)?,
        _ => return Err(HttpError::Failed("no response".into())),
    };
    let status = incoming.status();
    let headers = incoming
        .headers()
        .entries()
        .into_iter()
        .map(|(name, value)| (name, String::from_utf8_lossy(&value).into_owned()))
        .collect();
    let body = incoming
        .consume()
        .map_err(|()| HttpError::Failed("no response body".into()))?;
    let mut bytes = Vec::new();
    {
        let stream = body
            .stream()
            .map_err(|()| HttpError::Failed("cannot read the response body".into()))?;
        loop {
            match stream.blocking_read(64 * 1024) {
                Ok(chunk) => bytes.extend_from_slice(&chunk),
                Err(StreamError::Closed) => break,
                Err(e) => return Err(stream_error(e, "reading the response body")),
            }
        }
    }
    Ok(Response {
        status,
        headers,
        body: bytes,
    })
}

/// `https://host:port/path?q` → (scheme, `host:port`, `/path?q`).
fn split_url(url: &str) -> Result<(Scheme, &str, &str), HttpError> {
    let bad = || HttpError::Invalid(format!("'{url}' is not an http(s) URL"));
    let (scheme, rest) = url.split_once("://").ok_or_else(bad)?;
    let scheme = match scheme.to_ascii_lowercase().as_str() {
        "http" => Scheme::Http,
        "https" => Scheme::Https,
        _ => return Err(bad()),
    };
    let split = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(split);
    if authority.is_empty() {
        return Err(bad());
    }
    Ok((scheme, authority, if path.is_empty() { "/" } else { path }))
}

/// Where a `Location` header points, relative to `base`.
fn resolve(base: &str, location: &str) -> String {
    if location.contains("://") {
        return location.to_owned();
    }
    let origin_end = base
        .find("://")
        .map(|i| i + 3 + base[i + 3..].find('/').unwrap_or(base.len() - i - 3))
        .unwrap_or(base.len());
    if location.starts_with('/') {
        format!("{}{location}", &base[..origin_end])
    } else {
        let dir_end = base
            .rfind('/')
            .filter(|&i| i >= origin_end)
            .unwrap_or(origin_end);
        format!("{}/{location}", &base[..dir_end])
    }
}

fn error(code: ErrorCode) -> HttpError {
    match code {
        ErrorCode::HttpRequestDenied => HttpError::Denied("the host refused the request".into()),
        ErrorCode::DestinationIpProhibited => {
            HttpError::Denied("the host refused the destination address".into())
        }
        ErrorCode::ConnectionRefused => HttpError::Failed("the connection was refused".into()),
        ErrorCode::ConnectionTimeout => HttpError::Failed("the connection timed out".into()),
        ErrorCode::HttpResponseTimeout => HttpError::Failed("the response timed out".into()),
        ErrorCode::HttpResponseBodySize(Some(max)) => {
            HttpError::Failed(format!("the response is over the {max} bytes allowed"))
        }
        ErrorCode::HttpRequestBodySize(_) => {
            HttpError::Failed("the request body is over the size allowed".into())
        }
        ErrorCode::HttpResponseIncomplete => HttpError::Failed("the response ended early".into()),
        ErrorCode::DnsError(dns) => HttpError::Failed(match dns.rcode {
            Some(rcode) => format!("the name could not be resolved ({rcode})"),
            None => "the name could not be resolved".into(),
        }),
        // The host's own words, for a failure it explains (TLS, protocol).
        ErrorCode::InternalError(Some(message)) => HttpError::Failed(message),
        // The rest, by name.
        other => HttpError::Failed(crate::words::variant(&format!("{other:?}"))),
    }
}

fn stream_error(e: StreamError, doing: &str) -> HttpError {
    match e {
        StreamError::Closed => HttpError::Failed(format!("stream closed while {doing}")),
        // The HTTP failure behind a stream's, in words where the host
        // says which it was.
        StreamError::LastOperationFailed(e) => match http_error_code(&e).map(error) {
            Some(HttpError::Failed(why) | HttpError::Denied(why) | HttpError::Invalid(why)) => {
                HttpError::Failed(format!("{doing}: {why}"))
            }
            None => HttpError::Failed(format!("{doing}: {}", e.to_debug_string())),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_redirects() {
        assert_eq!(resolve("http://a.test/x/y", "/z"), "http://a.test/z");
        assert_eq!(resolve("http://a.test/x/y", "z"), "http://a.test/x/z");
        assert_eq!(resolve("http://a.test", "z"), "http://a.test/z");
        assert_eq!(
            resolve("http://a.test/x", "https://b.test/"),
            "https://b.test/"
        );
    }
}
