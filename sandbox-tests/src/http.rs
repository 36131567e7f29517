//! A real HTTP server on 127.0.0.1 for tests, which records every request it
//! receives, so that a test can assert what reached it and what did not.
//!
//! - `/redirect?to=URL` answers 302 to URL;
//! - `/bytes?n=N` streams N bytes;
//! - `/html` is a small HTML page;
//! - `/slow?ms=N` answers after N milliseconds;
//! - `/barrier?n=N` answers 200 once N requests to it have arrived, or 504
//!   if they do not within 3 s: proof that requests run at once;
//! - `/echo` answers with the request's headers, in its body and as
//!   `x-echo-*` headers;
//! - `/echo-gzip` is `/echo`'s body gzipped when the request accepts gzip,
//!   and `/echo-gzip?always` gzipped whatever it accepts;
//! - `/echo-encoded` answers with each request header's value as hex,
//!   base64 and in upper case;
//! - `/webhook?answer=allow` answers a consent prompt (allow always);
//!   `/webhook` alone accepts it without an answer;
//! - anything else answers 200 `ok`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use futures_util::stream;

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: Method,
    pub uri: Uri,
    pub headers: HeaderMap,
    pub body: Bytes,
}

pub struct TestServer {
    pub addr: SocketAddr,
    requests: Arc<Mutex<Vec<Recorded>>>,
    task: tokio::task::JoinHandle<()>,
}

pub const HTML: &str = "<html><head><title>Test page</title></head>\
    <body><h1>Hello</h1><p>A <a href=\"/next\">link</a> and <b>bold</b> text.</p>\
    <script>var hidden = 1;</script></body></html>";

impl TestServer {
    pub async fn start() -> TestServer {
        let requests = Arc::new(Mutex::new(Vec::new()));
        let app = Router::new().fallback(handle).with_state(requests.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("serve");
        });
        TestServer {
            addr,
            requests,
            task,
        }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `http://127.0.0.1:<port><path>`
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Every request received so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn handle(
    State(requests): State<Arc<Mutex<Vec<Recorded>>>>,
    Query(query): Query<HashMap<String, String>>,
    request: Request,
) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, 64 << 20)
        .await
        .unwrap_or_default();
    requests.lock().unwrap().push(Recorded {
        method: parts.method,
        uri: parts.uri.clone(),
        headers: parts.headers.clone(),
        body,
    });
    match parts.uri.path() {
        "/redirect" => {
            let to = query.get("to").cloned().unwrap_or_default();
            (StatusCode::FOUND, [(header::LOCATION, to)]).into_response()
        }
        "/bytes" => {
            let n: usize = query.get("n").and_then(|n| n.parse().ok()).unwrap_or(0);
            let chunk = Bytes::from(vec![b'x'; 64 * 1024]);
            let chunks = (0..n.div_ceil(chunk.len())).map(move |i| {
                let len = chunk.len().min(n - i * chunk.len());
                Ok::<_, std::io::Error>(chunk.slice(..len))
            });
            Response::new(Body::from_stream(stream::iter(chunks)))
        }
        "/html" => ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], HTML).into_response(),
        "/echo" => {
            let mut response = Response::builder();
            for (name, value) in &parts.headers {
                response = response.header(format!("x-echo-{name}"), value);
            }
            response.body(Body::from(echoed(&parts.headers))).unwrap()
        }
        "/echo-gzip" => {
            let text = echoed(&parts.headers);
            let accepts = parts.headers.get(header::ACCEPT_ENCODING);
            let gzip = accepts.is_some_and(|v| v.to_str().unwrap_or("").contains("gzip"));
            if !gzip && !query.contains_key("always") {
                return text.into_response();
            }
            let mut encoder = flate2::write::GzEncoder::new(Vec::new(), Default::default());
            std::io::Write::write_all(&mut encoder, text.as_bytes()).unwrap();
            let body = encoder.finish().unwrap();
            ([(header::CONTENT_ENCODING, "gzip")], body).into_response()
        }
        "/echo-encoded" => {
            use base64::Engine;
            let mut text = String::new();
            for (name, value) in &parts.headers {
                let value = value.as_bytes();
                let b64 = base64::engine::general_purpose::STANDARD.encode(value);
                let upper = String::from_utf8_lossy(value).to_uppercase();
                text.push_str(&format!("{name}: {} {b64} {upper}\n", hex::encode(value)));
            }
            text.into_response()
        }
        "/webhook" => match query.get("answer").map(String::as_str) {
            Some("allow") => (
                [(header::CONTENT_TYPE, "application/json")],
                r#"{"allow":true,"scope":"always"}"#,
            )
                .into_response(),
            _ => StatusCode::ACCEPTED.into_response(),
        },
        "/barrier" => {
            let n: usize = query.get("n").and_then(|n| n.parse().ok()).unwrap_or(2);
            let arrived = || {
                let requests = requests.lock().unwrap();
                requests
                    .iter()
                    .filter(|r| r.uri.path() == "/barrier")
                    .count()
            };
            let waiting = std::time::Instant::now();
            while arrived() < n {
                if waiting.elapsed() > std::time::Duration::from_secs(3) {
                    return (StatusCode::GATEWAY_TIMEOUT, "alone").into_response();
                }
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
            "together".into_response()
        }
        "/slow" => {
            let ms = query.get("ms").and_then(|n| n.parse().ok()).unwrap_or(0);
            tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
            "late".into_response()
        }
        _ => "ok".into_response(),
    }
}

/// Each header as `name: value`, one a line.
fn echoed(headers: &HeaderMap) -> String {
    let lines = headers
        .iter()
        .map(|(name, value)| format!("{name}: {}\n", value.to_str().unwrap_or("?")));
    lines.collect()
}
