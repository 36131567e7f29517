//! Per-call resource limits: what one tool call may consume.
//!
//! The operator's limits for a skill are the host's defaults
//! ([`Limits::DEFAULT`], or `[defaults]`), changed by the agent's `[limits]`
//! and the skill entry's `[skills.<name>.limits]`, never past the host's
//! maxima ([`Limits::MAXIMUM`], or `[maxima]`). A call gets what the skill's
//! manifest asks for (`[limits]`) within those: a skill that asks for more
//! is told what it did not get, and gets it only when the operator grants
//! it.

use std::time::Duration;

use bytesize::ByteSize;
use serde::Deserialize;

/// Everything one tool call may consume.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Ceiling of each linear memory of the component, in bytes.
    pub memory: ByteSize,
    /// CPU budget in wasmtime fuel units (about one per wasm instruction;
    /// the default is some 10 s of compute, as long as the default
    /// deadline).
    pub fuel: u64,
    /// Wall-clock deadline for the whole call, host calls included.
    pub timeout: Duration,
    /// Largest accepted input document.
    pub input: ByteSize,
    /// Largest accepted output document.
    pub output: ByteSize,
    /// Bytes of log records and stdout/stderr the call may write.
    pub log: ByteSize,
    /// Bytes (keys and values) the skill may keep in its memory namespace.
    pub memory_quota: ByteSize,
    /// Keys the skill may keep in its memory namespace.
    pub memory_keys: u64,
    /// Outgoing HTTP requests per call.
    pub http_requests: u64,
    /// Largest HTTP response body a call may receive, per request.
    pub http_response: ByteSize,
    /// Time one HTTP request may take, from connecting to the last byte.
    pub http_timeout: Duration,
}

impl Limits {
    /// What a call gets when nobody asks for more or less.
    pub const DEFAULT: Limits = Limits {
        memory: ByteSize::mib(64),
        fuel: 100_000_000_000,
        timeout: Duration::from_secs(10),
        input: ByteSize::mib(1),
        output: ByteSize::mib(1),
        log: ByteSize::kib(256),
        memory_quota: ByteSize::mib(16),
        memory_keys: 10_000,
        http_requests: 20,
        http_response: ByteSize::mib(4),
        http_timeout: Duration::from_secs(10),
    };

    /// The most any call may get.
    pub const MAXIMUM: Limits = Limits {
        memory: ByteSize::gib(4),
        fuel: u64::MAX,
        timeout: Duration::from_secs(600),
        input: ByteSize::mib(64),
        output: ByteSize::mib(64),
        log: ByteSize::mib(16),
        memory_quota: ByteSize::gib(1),
        memory_keys: 1_000_000,
        http_requests: 10_000,
        http_response: ByteSize::gib(1),
        http_timeout: Duration::from_secs(600),
    };

    /// These limits with every field `overrides` sets replaced.
    pub fn with(self, overrides: &LimitOverrides) -> Limits {
        Limits {
            memory: overrides.memory.unwrap_or(self.memory),
            fuel: overrides.fuel.unwrap_or(self.fuel),
            timeout: overrides.timeout.unwrap_or(self.timeout),
            input: overrides.input.unwrap_or(self.input),
            output: overrides.output.unwrap_or(self.output),
            log: overrides.log.unwrap_or(self.log),
            memory_quota: overrides.memory_quota.unwrap_or(self.memory_quota),
            memory_keys: overrides.memory_keys.unwrap_or(self.memory_keys),
            http_requests: overrides.http_requests.unwrap_or(self.http_requests),
            http_response: overrides.http_response.unwrap_or(self.http_response),
            http_timeout: overrides.http_timeout.unwrap_or(self.http_timeout),
        }
    }

    /// The fields where `asked` goes beyond these limits: each field's name
    /// (as written in `[limits]`), what is asked and what these allow, in
    /// words (`memory`, `1.0 GiB`, `64.0 MiB`).
    pub fn beyond(&self, asked: &Limits) -> Vec<(&'static str, String, String)> {
        let size = |b: ByteSize| b.to_string();
        let time = |d: Duration| humantime::format_duration(d).to_string();
        let (a, m) = (asked, self);
        let fields = [
            (
                "memory",
                size(a.memory),
                size(m.memory),
                a.memory > m.memory,
            ),
            (
                "fuel",
                a.fuel.to_string(),
                m.fuel.to_string(),
                a.fuel > m.fuel,
            ),
            (
                "timeout",
                time(a.timeout),
                time(m.timeout),
                a.timeout > m.timeout,
            ),
            ("input", size(a.input), size(m.input), a.input > m.input),
            (
                "output",
                size(a.output),
                size(m.output),
                a.output > m.output,
            ),
            ("log", size(a.log), size(m.log), a.log > m.log),
            (
                "memory_quota",
                size(a.memory_quota),
                size(m.memory_quota),
                a.memory_quota > m.memory_quota,
            ),
            (
                "memory_keys",
                a.memory_keys.to_string(),
                m.memory_keys.to_string(),
                a.memory_keys > m.memory_keys,
            ),
            (
                "http_requests",
                a.http_requests.to_string(),
                m.http_requests.to_string(),
                a.http_requests > m.http_requests,
            ),
            (
                "http_response",
                size(a.http_response),
                size(m.http_response),
                a.http_response > m.http_response,
            ),
            (
                "http_timeout",
                time(a.http_timeout),
                time(m.http_timeout),
                a.http_timeout > m.http_timeout,
            ),
        ];
        fields
            .into_iter()
            .filter(|(.., over)| *over)
            .map(|(name, asked, mine, _)| (name, asked, mine))
            .collect()
    }

    /// What `asked` asks for beyond these limits, in words, one field each:
    /// `limit timeout 1m (granted 10s)`.
    pub fn shortfall(&self, asked: &Limits) -> Vec<String> {
        self.beyond(asked)
            .into_iter()
            .map(|(name, asked, granted)| format!("limit {name} {asked} (granted {granted})"))
            .collect()
    }

    /// These limits, none below `floor`.
    pub fn at_least(self, floor: &Limits) -> Limits {
        Limits {
            memory: self.memory.max(floor.memory),
            fuel: self.fuel.max(floor.fuel),
            timeout: self.timeout.max(floor.timeout),
            input: self.input.max(floor.input),
            output: self.output.max(floor.output),
            log: self.log.max(floor.log),
            memory_quota: self.memory_quota.max(floor.memory_quota),
            memory_keys: self.memory_keys.max(floor.memory_keys),
            http_requests: self.http_requests.max(floor.http_requests),
            http_response: self.http_response.max(floor.http_response),
            http_timeout: self.http_timeout.max(floor.http_timeout),
        }
    }

    /// These limits, none above `max`.
    pub fn capped_by(self, max: &Limits) -> Limits {
        Limits {
            memory: self.memory.min(max.memory),
            fuel: self.fuel.min(max.fuel),
            timeout: self.timeout.min(max.timeout),
            input: self.input.min(max.input),
            output: self.output.min(max.output),
            log: self.log.min(max.log),
            memory_quota: self.memory_quota.min(max.memory_quota),
            memory_keys: self.memory_keys.min(max.memory_keys),
            http_requests: self.http_requests.min(max.http_requests),
            http_response: self.http_response.min(max.http_response),
            http_timeout: self.http_timeout.min(max.http_timeout),
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Limits as written in a manifest or config file: every field optional.
/// Sizes accept units (`"64MiB"`), durations human forms (`"5s"`, `"2m"`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitOverrides {
    pub memory: Option<ByteSize>,
    pub fuel: Option<u64>,
    #[serde(default, with = "humantime_serde")]
    pub timeout: Option<Duration>,
    pub input: Option<ByteSize>,
    pub output: Option<ByteSize>,
    pub log: Option<ByteSize>,
    pub memory_quota: Option<ByteSize>,
    pub memory_keys: Option<u64>,
    pub http_requests: Option<u64>,
    pub http_response: Option<ByteSize>,
    #[serde(default, with = "humantime_serde")]
    pub http_timeout: Option<Duration>,
}

impl LimitOverrides {
    /// Only the fields these set that go beyond `limits`: what an install
    /// grants a skill over the defaults when a person agrees.
    pub fn beyond(&self, limits: &Limits) -> LimitOverrides {
        let over: Vec<&str> = limits
            .beyond(&limits.with(self))
            .into_iter()
            .map(|(field, ..)| field)
            .collect();
        let keep = |field: &str| over.contains(&field);
        LimitOverrides {
            memory: self.memory.filter(|_| keep("memory")),
            fuel: self.fuel.filter(|_| keep("fuel")),
            timeout: self.timeout.filter(|_| keep("timeout")),
            input: self.input.filter(|_| keep("input")),
            output: self.output.filter(|_| keep("output")),
            log: self.log.filter(|_| keep("log")),
            memory_quota: self.memory_quota.filter(|_| keep("memory_quota")),
            memory_keys: self.memory_keys.filter(|_| keep("memory_keys")),
            http_requests: self.http_requests.filter(|_| keep("http_requests")),
            http_response: self.http_response.filter(|_| keep("http_response")),
            http_timeout: self.http_timeout.filter(|_| keep("http_timeout")),
        }
    }

    /// The fields set, as `[limits]` writes them: sizes and durations as
    /// text (`"1 GiB"`, `"10m"`), counts as integers.
    pub fn written(&self) -> Vec<(&'static str, WrittenLimit)> {
        let size = |b: Option<ByteSize>| b.map(|b| WrittenLimit::Text(format!("{} B", b.as_u64())));
        let time = |d: Option<Duration>| {
            d.map(|d| WrittenLimit::Text(humantime::format_duration(d).to_string()))
        };
        let count = |n: Option<u64>| n.map(WrittenLimit::Count);
        [
            ("memory", size(self.memory)),
            ("fuel", count(self.fuel)),
            ("timeout", time(self.timeout)),
            ("input", size(self.input)),
            ("output", size(self.output)),
            ("log", size(self.log)),
            ("memory_quota", size(self.memory_quota)),
            ("memory_keys", count(self.memory_keys)),
            ("http_requests", count(self.http_requests)),
            ("http_response", size(self.http_response)),
            ("http_timeout", time(self.http_timeout)),
        ]
        .into_iter()
        .filter_map(|(name, value)| Some((name, value?)))
        .collect()
    }

    pub fn is_empty(&self) -> bool {
        self.written().is_empty()
    }
}

/// One limit as a configuration file holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WrittenLimit {
    Text(String),
    Count(u64),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_apply_and_maxima_cap() {
        let overrides: LimitOverrides =
            toml::from_str("memory = \"8GiB\"\ntimeout = \"2s\"\nlog = 1024").unwrap();
        let limits = Limits::DEFAULT.with(&overrides).capped_by(&Limits::MAXIMUM);
        assert_eq!(limits.memory, Limits::MAXIMUM.memory);
        assert_eq!(limits.timeout, Duration::from_secs(2));
        assert_eq!(limits.log, ByteSize::b(1024));
        assert_eq!(limits.output, Limits::DEFAULT.output);
    }

    #[test]
    fn what_goes_beyond_the_defaults_is_written_back_as_read() {
        let asked: LimitOverrides =
            toml::from_str("memory = \"1GiB\"\ntimeout = \"10m\"\nlog = \"1KiB\"\nfuel = 5")
                .unwrap();
        let beyond = asked.beyond(&Limits::DEFAULT);
        assert_eq!(beyond.memory, Some(ByteSize::gib(1)));
        assert_eq!(beyond.timeout, Some(Duration::from_secs(600)));
        assert_eq!(
            (beyond.log, beyond.fuel),
            (None, None),
            "less than the defaults"
        );
        let text: Vec<String> = beyond
            .written()
            .into_iter()
            .map(|(name, value)| match value {
                WrittenLimit::Text(t) => format!("{name} = \"{t}\""),
                WrittenLimit::Count(n) => format!("{name} = {n}"),
            })
            .collect();
        let read: LimitOverrides = toml::from_str(&text.join("\n")).unwrap();
        assert_eq!(read, beyond);
    }
}
