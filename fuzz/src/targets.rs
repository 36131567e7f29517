//! The targets: each parser of what the host reads from operators, skill
//! authors, registries and API clients, called as the host calls it.
//! Besides not panicking, some hold a property of what they read: a network
//! pattern prints as text that reads back as the same pattern, and a package
//! unpacked and packed again unpacks the same.

use std::borrow::Cow;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use skillbox::fuzzing::{NetPattern, TomlFile, conversation_of};
use skillbox::market::package::Package;
use skillbox::market::registry::{self, Index, Listing, SignedIndex};
use skillbox::market::signing::{KeyPair, PublicKey};
use skillbox::{HostConfig, Manifest};

/// One parser to fuzz.
pub struct Target {
    pub name: &'static str,
    /// What it calls, for `--list`.
    pub entry: &'static str,
    /// Words of its format that mutations insert.
    pub dictionary: &'static [&'static str],
    /// The longest input to try.
    pub max_len: usize,
    /// Read one input; true when the parser accepts it. A panic is a bug.
    pub parse: fn(&[u8]) -> bool,
}

pub const TARGETS: &[Target] = &[
    Target {
        name: "manifest",
        entry: "Manifest::from_file (skill.toml)",
        dictionary: MANIFEST_WORDS,
        max_len: 64 << 10,
        parse: manifest,
    },
    Target {
        name: "agent",
        entry: "AgentConfig::from_file (agents/<id>.toml)",
        dictionary: AGENT_WORDS,
        max_len: 64 << 10,
        parse: agent,
    },
    Target {
        name: "host",
        entry: "HostConfig::from_file (skillbox.toml)",
        dictionary: HOST_WORDS,
        max_len: 64 << 10,
        parse: host,
    },
    Target {
        name: "network",
        entry: "NetPattern::parse",
        dictionary: NETWORK_WORDS,
        max_len: 1 << 10,
        parse: network,
    },
    Target {
        name: "index",
        entry: "registry::SignedIndex from JSON (index/<name>.json), its check, registry::choose",
        dictionary: INDEX_WORDS,
        max_len: 64 << 10,
        parse: index,
    },
    Target {
        name: "names",
        entry: "registry::Listing list from JSON (names.json), registry::search",
        dictionary: INDEX_WORDS,
        max_len: 64 << 10,
        parse: names,
    },
    Target {
        name: "package",
        entry: "Package::unpack (<name>-<version>.skill)",
        dictionary: PACKAGE_WORDS,
        max_len: 256 << 10,
        parse: package,
    },
    Target {
        name: "openai",
        entry: "conversation_of (POST /v1/chat/completions body)",
        dictionary: OPENAI_WORDS,
        max_len: 64 << 10,
        parse: openai,
    },
];

/// Text as the host reads files: UTF-8, which a mutation often breaks; the
/// rest of the input still goes to the parser.
fn text(input: &[u8]) -> String {
    String::from_utf8_lossy(input).into_owned()
}

fn manifest(input: &[u8]) -> bool {
    let file = TomlFile {
        path: "skills/fuzz/skill.toml".into(),
        text: text(input),
    };
    Manifest::from_file(&file).is_ok()
}

/// The example configuration directory: its `skillbox.toml` has the
/// backend the example agents name, and their prompt files and mounts are
/// there.
fn example_config() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(crate::files::example_config)
}

fn agent(input: &[u8]) -> bool {
    static HOST: OnceLock<HostConfig> = OnceLock::new();
    let host = HOST.get_or_init(|| {
        HostConfig::load(example_config()).expect("docs/examples/config/skillbox.toml reads")
    });
    let text = text(input);
    // An agent's file must be named by its id: read it from there, so that
    // the checks past that one are reached too.
    let path = example_config()
        .join("agents")
        .join(format!("{}.toml", written_id(&text)));
    skillbox::fuzzing::agent(&TomlFile { path, text }, host).is_ok()
}

/// The value of an `id = "..."` line, without parsing the file.
fn written_id(text: &str) -> &str {
    text.lines()
        .find_map(|line| {
            let value = line.trim().strip_prefix("id")?.trim_start();
            let quoted = value.strip_prefix('=')?.trim().strip_prefix('"')?;
            quoted.split('"').next()
        })
        .unwrap_or("agent")
}

fn host(input: &[u8]) -> bool {
    let file = TomlFile {
        path: "config/skillbox.toml".into(),
        text: text(input),
    };
    HostConfig::from_file(&file).is_ok()
}

fn network(input: &[u8]) -> bool {
    let text = text(input);
    let Ok(pattern) = NetPattern::parse(&text) else {
        return false;
    };
    // Patterns are shown (agent explain, the install review) and stored as
    // they print: what prints must read back as the same pattern.
    let printed = pattern.to_string();
    match NetPattern::parse(&printed) {
        Ok(again) => assert_eq!(again, pattern, "{text:?} prints as {printed:?}"),
        Err(e) => panic!("{text:?} prints as {printed:?}, which does not parse: {e}"),
    }
    assert!(pattern.covers(&pattern), "{text:?} does not cover itself");
    true
}

fn index(input: &[u8]) -> bool {
    let Ok(signed) = serde_json::from_slice::<SignedIndex>(input) else {
        return false;
    };
    // What a host does with it: check its signature (by a key that did not
    // sign it, so the check itself is what runs), then read the index.
    let _ = signed.clone().verify(index_key());
    let Ok(index) = serde_json::from_value::<Index>(signed.signed) else {
        return false;
    };
    // What installing does with it: the newest release that will do.
    for requirement in ["*", "^0.1", ">=1.0.0, <2.0.0", "=0.1.0-beta.1"] {
        let requirement = semver::VersionReq::parse(requirement).expect("a requirement");
        registry::choose(&index, &requirement);
    }
    true
}

fn names(input: &[u8]) -> bool {
    let Ok(listings) = serde_json::from_slice::<Vec<Listing>>(input) else {
        return false;
    };
    // What `skill search` does with it; the empty text matches every skill.
    for text in ["", "te"] {
        registry::search(&listings, text);
    }
    true
}

fn package(input: &[u8]) -> bool {
    // A tar is gzipped here, so that mutations of the tar inside reach the
    // checks of its entries rather than stop at gzip's checksum; a package
    // file is read as it is.
    let bytes = if input.starts_with(&[0x1f, 0x8b]) {
        Cow::Borrowed(input)
    } else {
        Cow::Owned(gzip(input))
    };
    let Ok(package) = Package::unpack(&bytes) else {
        return false;
    };
    if let Ok(packed) = package.pack() {
        match Package::unpack(&packed) {
            Ok(again) => assert!(again == package, "a package unpacks otherwise once packed"),
            Err(e) => panic!("a package packed again does not unpack: {e}"),
        }
    }
    true
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gzip.write_all(bytes).expect("writing to memory");
    gzip.finish().expect("writing to memory")
}

fn openai(input: &[u8]) -> bool {
    conversation_of(input).is_ok()
}

/// TOML's syntax and values at its edges.
macro_rules! toml_words {
    ($($word:expr),* $(,)?) => {
        &[
            "[", "]", "[[", "]]", "{", "}", "=", ",", ".", "\"", "'", "\"\"\"", "'''", "\n",
            "\r\n", "#", "\\", "\\u0000", "\\U0010FFFF", "\\ud800", "\0", "true", "false",
            "inf", "-inf", "nan", "1979-05-27T07:32:00Z", "0x7f", "0o17", "0b1", "1e308", "..",
            "../", "/", "*", "*.", "://", "\u{202e}", "\u{feff}",
            $($word),*
        ]
    };
}

const MANIFEST_WORDS: &[&str] = toml_words![
    "[skill]",
    "[[tool]]",
    "[capabilities]",
    "[limits]",
    "[capabilities.secrets.TOKEN]",
    "name",
    "version",
    "\"0.1.0-alpha.1+build\"",
    "description",
    "component",
    "input_schema",
    "type",
    "\"object\"",
    "properties",
    "required",
    "additionalProperties",
    "\"$ref\"",
    "\"#\"",
    "\"#/properties/a\"",
    "\"$defs\"",
    "\"$id\"",
    "\"$anchor\"",
    "\"$dynamicRef\"",
    "\"$schema\"",
    "\"http://json-schema.org/draft-04/schema#\"",
    "\"https://example.com/schema\"",
    "allOf",
    "oneOf",
    "if",
    "then",
    "items",
    "enum",
    "const",
    "multipleOf",
    "minLength",
    "pattern",
    "\"(a+)+$\"",
    "format",
    "minimum",
    "network",
    "filesystem",
    "secrets",
    "memory",
    "inference",
    "guest",
    "access",
    "\"read-write\"",
    "\"read-only\"",
    "\"/workspace\"",
    "hosts",
    "header",
    "\"Authorization: Bearer {}\"",
    "\"https://*\"",
    "\"http://[::1]:*\"",
    "timeout",
    "fuel",
    "input",
    "output",
    "log",
    "memory_quota",
    "memory_keys",
    "http_requests",
    "http_response",
    "http_timeout",
    "\"64MiB\"",
    "\"18446744073709551615 EiB\"",
    "\"5s\"",
    "\"584942417355y\"",
];

const AGENT_WORDS: &[&str] = toml_words![
    "id",
    "\"ops\"",
    "description",
    "[tools]",
    "allow",
    "deny",
    "\"text.*\"",
    "\"*.*\"",
    "[mounts]",
    "path",
    "\"workspace\"",
    "access",
    "\"read-write\"",
    "[skills.web]",
    "[skills.web.grants]",
    "[skills.web.limits]",
    "installed",
    "\"0.1.0\"",
    "network",
    "url",
    "allow_private",
    "filesystem",
    "mount",
    "guest",
    "ask",
    "secrets",
    "env",
    "file",
    "memory",
    "inference",
    "max_tokens",
    "[limits]",
    "[consent]",
    "mode",
    "\"ask\"",
    "\"always\"",
    "fallback",
    "[inference]",
    "model",
    "\"demo/scripted\"",
    "weight",
    "max_steps",
    "temperature",
    "history",
    "[inference.budget]",
    "tokens_per_day",
    "[prompts]",
    "system",
    "context",
    "\"prompts/assistant.md\"",
    "\"workspace/runbook.md\"",
];

const HOST_WORDS: &[&str] = toml_words![
    "data_dir",
    "[sandbox]",
    "max_concurrent_calls",
    "max_calls_per_agent",
    "max_wasm_stack",
    "[defaults]",
    "[maxima]",
    "memory",
    "timeout",
    "[network.hosts]",
    "\"10.0.0.7\"",
    "\"::1\"",
    "[consent]",
    "webhook",
    "\"http://127.0.0.1:9000/prompts\"",
    "webhook_secret",
    "trust_webhook_answers",
    "[inference.backends.local]",
    "kind",
    "\"openai\"",
    "\"ollama\"",
    "url",
    "\"http://user:pw@[::1]:0/v1?x\"",
    "api_key",
    "env",
    "models",
    "max_concurrency",
    "retries",
    "backoff",
    "[server]",
    "addr",
    "\"[::]:0\"",
    "max_body",
    "request_timeout",
    "[registries.main]",
    "keys",
    "key_id",
    "publisher",
    "public_key",
];

const NETWORK_WORDS: &[&str] = &[
    "http://",
    "https://",
    "://",
    "*",
    "*.",
    ".",
    "..",
    ":",
    ":*",
    ":0",
    ":443",
    ":65536",
    "/",
    "?",
    "#",
    "@",
    "[",
    "]",
    "[::1]",
    "[::ffff:127.0.0.1]",
    "[fe80::1%eth0]",
    "127.0.0.1",
    "0x7f.1",
    "xn--",
    "-",
    "%2e",
    "\u{0}",
    "\u{130}",
    "\u{212a}",
];

const INDEX_WORDS: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    ":",
    ",",
    "\"",
    "\\",
    "\\u0000",
    "\\ud800",
    "null",
    "true",
    "false",
    "-0",
    "1e999",
    "\"name\"",
    "\"versions\"",
    "\"version\"",
    "\"0.1.0\"",
    "\"1.0.0-rc.1+build.5\"",
    "\"18446744073709551615.0.0\"",
    "\"description\"",
    "\"sha256\"",
    "\"key_id\"",
    "\"publisher\"",
    "\"signature\"",
    "\"yanked\"",
    "\"capabilities\"",
    "\"tools\"",
    "\"network\"",
    "\"$ref\"",
    "\"..\"",
    "\"*\"",
];

const PACKAGE_WORDS: &[&str] = &[
    "skill.toml",
    "README.md",
    "x.wasm",
    "..",
    "../",
    "/",
    "./",
    "\0",
    "ustar\0",
    "ustar  \0",
    "././@LongLink",
    "00000000000",
    "77777777777",
    "0000644",
    "component = \"x.wasm\"\n",
    "component = \"..\"\n",
    "[skill]\n",
    "\u{0}asm\r\u{0}\u{1}\u{0}",
];

const OPENAI_WORDS: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    ":",
    ",",
    "\"",
    "\\u0000",
    "\\ud800",
    "null",
    "\"model\"",
    "\"messages\"",
    "\"role\"",
    "\"system\"",
    "\"developer\"",
    "\"user\"",
    "\"assistant\"",
    "\"tool\"",
    "\"content\"",
    "\"type\"",
    "\"text\"",
    "\"image_url\"",
    "\"stream\"",
    "\"stream_options\"",
    "\"include_usage\"",
    "\"tool_calls\"",
    "\"temperature\"",
    "true",
    "false",
];

/// A trusted key for the index target's signature checks, made once.
fn index_key() -> &'static PublicKey {
    static KEY: OnceLock<PublicKey> = OnceLock::new();
    KEY.get_or_init(|| {
        let pair = KeyPair::generate("fuzz").expect("a key pair");
        pair.public().expect("its public key")
    })
}
