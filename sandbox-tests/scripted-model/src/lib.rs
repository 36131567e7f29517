//! A scripted model server on 127.0.0.1: it speaks the OpenAI chat
//! completions API (`POST /v1/chat/completions`, whole or streamed as
//! server-sent events) and Ollama's (`POST /api/chat`, whole or as JSON
//! lines), and answers each request with what a test's script returns for
//! it: text, tool calls, an error status, or any of these after a delay.
//!
//! Every request is recorded with whether its answer was completed or the
//! client went away first, and the server counts requests in flight.
//!
//! The binary serves [`demo`], a script that behaves enough like a model
//! with tools to show the agent loop where no real model runs.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use futures_util::{StreamExt, stream};
use serde_json::{Value, json};

/// Tokens every answer reports using.
pub const PROMPT_TOKENS: u64 = 10;
pub const COMPLETION_TOKENS: u64 = 5;

/// What the server answers to one request.
#[derive(Debug, Clone)]
pub enum Reply {
    Text(String),
    /// Tool calls, as (name, JSON arguments).
    Calls(Vec<(String, String)>),
    /// An error status, with a `Retry-After` in seconds if given.
    Status(u16, Option<u64>),
    /// Wait, then answer.
    After(Duration, Box<Reply>),
    /// Stream this text, then break the connection.
    BreakAfter(String),
    /// Stream this text, then end the answer without saying it is complete.
    Unfinished(String),
}

impl Reply {
    pub fn text(text: &str) -> Reply {
        Reply::Text(text.to_owned())
    }

    pub fn call(name: &str, arguments: Value) -> Reply {
        Reply::Calls(vec![(name.to_owned(), arguments.to_string())])
    }

    pub fn after(wait: Duration, reply: Reply) -> Reply {
        Reply::After(wait, Box::new(reply))
    }
}

/// A script with a little of a model's manner: given a phrase in single
/// quotes and a word-count tool, it counts the phrase's words with the tool
/// and reports what the tool said; asked "What is my name?", it looks for
/// "My name is ..." earlier in the conversation; anything else it notes.
pub fn demo(exchange: &Exchange) -> Reply {
    let last = exchange.last_message();
    if last["role"] == "tool" {
        let content = last["content"].as_str().unwrap_or_default();
        let output = content.lines().nth(1).unwrap_or_default();
        let words = serde_json::from_str::<Value>(output)
            .ok()
            .and_then(|v| v["words"].as_u64());
        return Reply::Text(match words {
            Some(words) => format!("That is {words} words."),
            None => format!("The tool answered: {content}"),
        });
    }
    let text = exchange.user_text();
    let counter = exchange
        .tool_names()
        .into_iter()
        .find(|name| name.ends_with("word_count"));
    if let (Some(quoted), Some(counter)) = (text.split('\'').nth(1), counter) {
        return Reply::call(&counter, json!({ "text": quoted }));
    }
    if text.trim() == "What is my name?" {
        let told = exchange
            .messages()
            .iter()
            .filter(|m| m["role"] == "user")
            .filter_map(|m| m["content"].as_str())
            .find_map(|c| c.strip_prefix("My name is "));
        return Reply::Text(match told {
            Some(name) => format!("You are {}", name.trim()),
            None => "You have not told me.".into(),
        });
    }
    Reply::Text(format!("Noted: {text}"))
}

/// One request as the server saw it.
#[derive(Debug)]
pub struct Exchange {
    pub path: String,
    pub body: Value,
    pub authorization: Option<String>,
    pub arrived: Instant,
    /// The number of requests before this one.
    pub index: usize,
    completed: AtomicBool,
    abandoned: AtomicBool,
}

impl Exchange {
    pub fn model(&self) -> &str {
        self.body["model"].as_str().unwrap_or_default()
    }

    pub fn messages(&self) -> &[Value] {
        self.body["messages"].as_array().map_or(&[], Vec::as_slice)
    }

    pub fn last_message(&self) -> &Value {
        self.messages().last().unwrap_or(&Value::Null)
    }

    /// The content of the last user message.
    pub fn user_text(&self) -> &str {
        self.messages()
            .iter()
            .rev()
            .find(|m| m["role"] == "user")
            .and_then(|m| m["content"].as_str())
            .unwrap_or_default()
    }

    /// The names of the tools offered.
    pub fn tool_names(&self) -> Vec<String> {
        self.body["tools"]
            .as_array()
            .map(|tools| {
                tools
                    .iter()
                    .filter_map(|t| t["function"]["name"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn completed(&self) -> bool {
        self.completed.load(Ordering::SeqCst)
    }

    /// Whether the client went away before the answer was complete.
    pub fn abandoned(&self) -> bool {
        self.abandoned.load(Ordering::SeqCst)
    }
}

type Script = dyn Fn(&Exchange) -> Reply + Send + Sync;

#[derive(Clone)]
struct Shared {
    script: Arc<Script>,
    exchanges: Arc<Mutex<Vec<Arc<Exchange>>>>,
    in_flight: Arc<AtomicUsize>,
    max_in_flight: Arc<AtomicUsize>,
}

pub struct ScriptedModel {
    pub addr: SocketAddr,
    shared: Shared,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for ScriptedModel {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl ScriptedModel {
    /// Serve on a free port, answering each request with `script(request)`.
    pub async fn start(
        script: impl Fn(&Exchange) -> Reply + Send + Sync + 'static,
    ) -> ScriptedModel {
        let addr = SocketAddr::from(([127, 0, 0, 1], 0));
        ScriptedModel::start_on(addr, script)
            .await
            .expect("bind a free port")
    }

    /// Serve on `addr`.
    pub async fn start_on(
        addr: SocketAddr,
        script: impl Fn(&Exchange) -> Reply + Send + Sync + 'static,
    ) -> std::io::Result<ScriptedModel> {
        let shared = Shared {
            script: Arc::new(script),
            exchanges: Arc::default(),
            in_flight: Arc::default(),
            max_in_flight: Arc::default(),
        };
        let app = Router::new().fallback(answer).with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("serve");
        });
        Ok(ScriptedModel { addr, shared, task })
    }

    /// The base URL of the OpenAI API, for `kind = "openai"`.
    pub fn openai_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// The base URL for `kind = "ollama"`.
    pub fn ollama_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn exchanges(&self) -> Vec<Arc<Exchange>> {
        self.shared.exchanges.lock().unwrap().clone()
    }

    /// The most requests that were in flight at once.
    pub fn max_in_flight(&self) -> usize {
        self.shared.max_in_flight.load(Ordering::SeqCst)
    }
}

/// Counts a request in flight until dropped; marks its exchange abandoned
/// if dropped before the answer was complete.
struct InFlight {
    exchange: Arc<Exchange>,
    count: Arc<AtomicUsize>,
}

impl InFlight {
    fn complete(&self) {
        self.exchange.completed.store(true, Ordering::SeqCst);
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.count.fetch_sub(1, Ordering::SeqCst);
        if !self.exchange.completed() {
            self.exchange.abandoned.store(true, Ordering::SeqCst);
        }
    }
}

async fn answer(
    State(shared): State<Shared>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let exchange = {
        let mut exchanges = shared.exchanges.lock().unwrap();
        let exchange = Arc::new(Exchange {
            path: uri.path().to_owned(),
            body: serde_json::from_slice(&body).unwrap_or(Value::Null),
            authorization: headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
            arrived: Instant::now(),
            index: exchanges.len(),
            completed: AtomicBool::new(false),
            abandoned: AtomicBool::new(false),
        });
        exchanges.push(exchange.clone());
        exchange
    };
    let now = shared.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    shared.max_in_flight.fetch_max(now, Ordering::SeqCst);
    let guard = InFlight {
        exchange: exchange.clone(),
        count: shared.in_flight.clone(),
    };
    let wire = match exchange.path.as_str() {
        "/v1/chat/completions" => Wire::OpenAi,
        "/api/chat" => Wire::Ollama,
        _ => {
            guard.complete();
            return (StatusCode::NOT_FOUND, "no such endpoint").into_response();
        }
    };
    let stream = exchange.body["stream"] == true;
    let mut reply = (shared.script)(&exchange);
    while let Reply::After(wait, next) = reply {
        tokio::time::sleep(wait).await;
        reply = *next;
    }
    respond(reply, wire, stream, guard)
}

#[derive(Clone, Copy)]
enum Wire {
    OpenAi,
    Ollama,
}

fn respond(reply: Reply, wire: Wire, stream: bool, guard: InFlight) -> Response {
    let (text, calls, broken, unfinished) = match reply {
        Reply::Status(code, retry_after) => {
            guard.complete();
            let status = StatusCode::from_u16(code).expect("a valid status");
            let body = json!({ "error": { "message": format!("scripted {code}") } });
            let mut response = (status, axum::Json(body)).into_response();
            if let Some(seconds) = retry_after {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, seconds.to_string().parse().unwrap());
            }
            return response;
        }
        Reply::Text(text) => (text, Vec::new(), false, false),
        Reply::Calls(calls) => (String::new(), calls, false, false),
        Reply::BreakAfter(text) => (text, Vec::new(), true, false),
        Reply::Unfinished(text) => (text, Vec::new(), false, true),
        Reply::After(..) => unreachable!("waited for above"),
    };
    if !stream && !broken && !unfinished {
        guard.complete();
        return axum::Json(whole(wire, &text, &calls)).into_response();
    }
    let mut chunks = streamed(wire, &text, &calls);
    if broken || unfinished {
        // The text, and not the end.
        chunks.truncate(text.split_inclusive(' ').count());
    }
    if broken {
        // The break, in place of the end.
        chunks.push(String::new());
    }
    let last = chunks.len();
    let body = stream::iter(chunks.into_iter().enumerate()).then(move |(i, chunk)| {
        let end = i + 1 == last;
        if end && !broken {
            guard.complete();
        }
        async move {
            if end && broken {
                // Let what was sent reach the client before the break.
                tokio::time::sleep(Duration::from_millis(200)).await;
                return Err(std::io::Error::other("scripted break"));
            }
            Ok::<_, std::io::Error>(Bytes::from(chunk))
        }
    });
    let content_type = match wire {
        Wire::OpenAi => "text/event-stream",
        Wire::Ollama => "application/x-ndjson",
    };
    (
        [(header::CONTENT_TYPE, content_type)],
        Body::from_stream(body),
    )
        .into_response()
}

fn openai_calls(calls: &[(String, String)]) -> Vec<Value> {
    calls
        .iter()
        .enumerate()
        .map(|(i, (name, arguments))| {
            json!({
                "id": format!("call_{i}"),
                "type": "function",
                "function": { "name": name, "arguments": arguments },
            })
        })
        .collect()
}

fn ollama_calls(calls: &[(String, String)]) -> Vec<Value> {
    calls
        .iter()
        .map(|(name, arguments)| {
            let arguments: Value = serde_json::from_str(arguments).unwrap_or(json!({}));
            json!({ "function": { "name": name, "arguments": arguments } })
        })
        .collect()
}

fn whole(wire: Wire, text: &str, calls: &[(String, String)]) -> Value {
    match wire {
        Wire::OpenAi => json!({
            "id": "scripted",
            "object": "chat.completion",
            "choices": [{
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": if text.is_empty() { Value::Null } else { text.into() },
                    "tool_calls": openai_calls(calls),
                },
                "finish_reason": if calls.is_empty() { "stop" } else { "tool_calls" },
            }],
            "usage": {
                "prompt_tokens": PROMPT_TOKENS,
                "completion_tokens": COMPLETION_TOKENS,
                "total_tokens": PROMPT_TOKENS + COMPLETION_TOKENS,
            },
        }),
        Wire::Ollama => json!({
            "model": "scripted",
            "message": { "role": "assistant", "content": text, "tool_calls": ollama_calls(calls) },
            "done": true,
            "prompt_eval_count": PROMPT_TOKENS,
            "eval_count": COMPLETION_TOKENS,
        }),
    }
}

/// The chunks of a streamed answer: text word by word, each tool call's
/// arguments in two pieces (OpenAI) or whole (Ollama), then the end.
fn streamed(wire: Wire, text: &str, calls: &[(String, String)]) -> Vec<String> {
    let words = text.split_inclusive(' ');
    match wire {
        Wire::OpenAi => {
            let event = |data: Value| format!("data: {data}\n\n");
            let mut chunks: Vec<String> = words
                .map(|word| {
                    event(json!({ "choices": [{ "index": 0, "delta": { "content": word } }] }))
                })
                .collect();
            for (i, (name, arguments)) in calls.iter().enumerate() {
                let mut half = arguments.len() / 2;
                while !arguments.is_char_boundary(half) {
                    half -= 1;
                }
                chunks.push(event(
                    json!({ "choices": [{ "index": 0, "delta": { "tool_calls": [{
                    "index": i, "id": format!("call_{i}"), "type": "function",
                    "function": { "name": name, "arguments": &arguments[..half] },
                }] } }] }),
                ));
                chunks.push(event(
                    json!({ "choices": [{ "index": 0, "delta": { "tool_calls": [{
                    "index": i, "function": { "arguments": &arguments[half..] },
                }] } }] }),
                ));
            }
            let finish = if calls.is_empty() {
                "stop"
            } else {
                "tool_calls"
            };
            chunks.push(event(
                json!({ "choices": [{ "index": 0, "delta": {}, "finish_reason": finish }] }),
            ));
            chunks.push(event(json!({ "choices": [], "usage": {
                "prompt_tokens": PROMPT_TOKENS, "completion_tokens": COMPLETION_TOKENS,
            } })));
            chunks.push("data: [DONE]\n\n".into());
            chunks
        }
        Wire::Ollama => {
            let line = |value: Value| format!("{value}\n");
            let mut chunks: Vec<String> = words
                .map(|word| {
                    line(json!({ "message": { "role": "assistant", "content": word }, "done": false }))
                })
                .collect();
            if !calls.is_empty() {
                chunks.push(line(json!({
                    "message": { "role": "assistant", "content": "", "tool_calls": ollama_calls(calls) },
                    "done": false,
                })));
            }
            chunks.push(line(json!({
                "message": { "role": "assistant", "content": "" },
                "done": true,
                "prompt_eval_count": PROMPT_TOKENS,
                "eval_count": COMPLETION_TOKENS,
            })));
            chunks
        }
    }
}
