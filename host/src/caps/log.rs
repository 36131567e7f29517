//! `skillbox:skill/log`, and the guest's stdout/stderr, captured per call into
//! one bounded buffer. A call that writes past its log limit is stopped: a
//! flood is a bug or an attack, and silently dropping it would hide both.

use std::fmt;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use serde::Serialize;
use wasmtime::component::{HasSelf, Linker};
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError, StreamResult};

use super::bindings::skillbox::skill::log as wit;
use super::{CallContext, CapError, GrantContext, HostCapability};
use crate::config::ConfigError;
use crate::redact::SecretScanner;

/// Bytes charged per record on top of its text, so that a flood of empty
/// messages is bounded too.
const RECORD_OVERHEAD: usize = 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Level::Trace => "trace",
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        })
    }
}

/// Where a record came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    Log,
    Stdout,
    Stderr,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogRecord {
    pub level: Level,
    pub source: Source,
    pub message: String,
}

impl fmt::Display for LogRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.source {
            Source::Log => write!(f, "{}: {}", self.level, self.message),
            Source::Stdout => write!(f, "stdout: {}", self.message),
            Source::Stderr => write!(f, "stderr: {}", self.message),
        }
    }
}

/// The call wrote more log than its limit allows.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LogLimitExceeded;

impl fmt::Display for LogLimitExceeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("log limit exceeded")
    }
}

impl std::error::Error for LogLimitExceeded {}

/// A call's log: records plus the partial lines of stdout and stderr.
#[derive(Default)]
struct Buffer {
    records: Vec<LogRecord>,
    /// The agent's secrets, masked in every record.
    secrets: Arc<SecretScanner>,
    used: usize,
    limit: usize,
    stdout_line: Vec<u8>,
    stderr_line: Vec<u8>,
}

impl Buffer {
    fn charge(&mut self, bytes: usize) -> Result<(), LogLimitExceeded> {
        self.used = self.used.saturating_add(bytes + RECORD_OVERHEAD);
        if self.used > self.limit {
            Err(LogLimitExceeded)
        } else {
            Ok(())
        }
    }

    fn push(&mut self, level: Level, source: Source, message: String) {
        self.records.push(LogRecord {
            level,
            source,
            message: self.secrets.mask(&message),
        });
    }

    /// Append stream output, turning complete lines into records.
    fn write_stream(&mut self, source: Source, bytes: &[u8]) -> Result<(), LogLimitExceeded> {
        self.charge(bytes.len())?;
        let pending = match source {
            Source::Stderr => &mut self.stderr_line,
            _ => &mut self.stdout_line,
        };
        pending.extend_from_slice(bytes);
        let Some(end) = pending.iter().rposition(|&b| b == b'\n') else {
            return Ok(());
        };
        let complete: Vec<u8> = pending.drain(..=end).collect();
        let level = stream_level(source);
        for line in complete.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            self.push(level, source, String::from_utf8_lossy(line).into_owned());
        }
        Ok(())
    }

    fn finish(&mut self) -> Vec<LogRecord> {
        for source in [Source::Stdout, Source::Stderr] {
            let pending = match source {
                Source::Stderr => std::mem::take(&mut self.stderr_line),
                _ => std::mem::take(&mut self.stdout_line),
            };
            if !pending.is_empty() {
                let message = String::from_utf8_lossy(&pending).into_owned();
                self.push(stream_level(source), source, message);
            }
        }
        std::mem::take(&mut self.records)
    }
}

fn stream_level(source: Source) -> Level {
    match source {
        Source::Stderr => Level::Warn,
        _ => Level::Info,
    }
}

/// The log capability: every call has one, bounded by its log limit.
pub(crate) struct Log;

impl HostCapability for Log {
    type Grant = ();
    type State = LogCap;

    fn grant(_cx: &GrantContext<'_>) -> Result<Option<()>, ConfigError> {
        Ok(Some(()))
    }

    async fn prepare(_grant: Option<&()>, call: &CallContext<'_>) -> Result<LogCap, CapError> {
        let limit = usize::try_from(call.limits.log.as_u64()).unwrap_or(usize::MAX);
        Ok(LogCap::new(limit).masking(call.secrets.clone()))
    }
}

/// The log capability of one call. Cloning shares the buffer, so that the
/// stdout and stderr pipes and the `log` import all charge one budget.
#[derive(Clone)]
pub struct LogCap {
    buffer: Arc<Mutex<Buffer>>,
}

impl LogCap {
    pub fn new(limit: usize) -> Self {
        Self {
            buffer: Arc::new(Mutex::new(Buffer {
                limit,
                ..Buffer::default()
            })),
        }
    }

    /// This log, with `secrets` masked in every record.
    pub fn masking(self, secrets: Arc<SecretScanner>) -> Self {
        self.lock().secrets = secrets;
        self
    }

    /// A pipe for the guest's stdout or stderr into this log.
    pub fn pipe(&self, source: Source) -> LogPipe {
        LogPipe {
            log: self.clone(),
            source,
        }
    }

    /// Everything logged, in order; partial lines become records too.
    pub fn finish(&self) -> Vec<LogRecord> {
        self.lock().finish()
    }

    /// The last stderr lines, which hold a guest's panic message.
    pub fn stderr_tail(&self) -> Option<String> {
        let buffer = self.lock();
        let pending = String::from_utf8_lossy(&buffer.stderr_line);
        let mut lines: Vec<&str> = buffer
            .records
            .iter()
            .filter(|r| r.source == Source::Stderr)
            .map(|r| r.message.as_str())
            .collect();
        if !pending.is_empty() {
            lines.push(&pending);
        }
        let tail = lines[lines.len().saturating_sub(4)..].join("\n");
        (!tail.is_empty()).then_some(tail)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Buffer> {
        // A panic while holding this lock cannot leave the buffer inconsistent.
        self.buffer.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl wit::Host for LogCap {
    async fn log(&mut self, level: wit::Level, message: String) -> wasmtime::Result<()> {
        let level = match level {
            wit::Level::Trace => Level::Trace,
            wit::Level::Debug => Level::Debug,
            wit::Level::Info => Level::Info,
            wit::Level::Warn => Level::Warn,
            wit::Level::Error => Level::Error,
        };
        let mut buffer = self.lock();
        buffer.charge(message.len())?;
        buffer.push(level, Source::Log, message);
        Ok(())
    }
}

/// A store whose calls log.
pub(crate) trait LogView: Send {
    fn log(&mut self) -> &mut LogCap;
}

pub(crate) fn add_to_linker<T: LogView + 'static>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    wit::add_to_linker::<T, HasSelf<LogCap>>(linker, T::log)
}

/// The guest's stdout or stderr, feeding the call's log.
#[derive(Clone)]
pub struct LogPipe {
    log: LogCap,
    source: Source,
}

impl LogPipe {
    fn write_bytes(&self, bytes: &[u8]) -> Result<(), LogLimitExceeded> {
        self.log.lock().write_stream(self.source, bytes)
    }
}

impl IsTerminal for LogPipe {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for LogPipe {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for LogPipe {
    async fn ready(&mut self) {}
}

impl OutputStream for LogPipe {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.write_bytes(&bytes)
            .map_err(|e| StreamError::Trap(wasmtime::Error::new(e)))
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        // The budget is checked on write; report a generous permit.
        Ok(64 * 1024)
    }
}

impl tokio::io::AsyncWrite for LogPipe {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Poll::Ready(
            self.write_bytes(buf)
                .map(|()| buf.len())
                .map_err(std::io::Error::other),
        )
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_lines_become_records_and_the_budget_holds() {
        let log = LogCap::new(200);
        let pipe = log.pipe(Source::Stderr);
        pipe.write_bytes(b"thread 'main' panicked").unwrap();
        pipe.write_bytes(b" at src/lib.rs\nboom\npartial").unwrap();
        assert_eq!(
            log.stderr_tail().as_deref(),
            Some("thread 'main' panicked at src/lib.rs\nboom\npartial")
        );
        let records = log.finish();
        assert_eq!(records.len(), 3);
        assert_eq!(records[2].message, "partial");
        assert!(pipe.write_bytes(&[b'x'; 200]).is_err());
    }
}
