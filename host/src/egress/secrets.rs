//! Secrets in outgoing requests: the host injects them as headers where a
//! grant says so, and refuses any request that carries a secret's value
//! anywhere else, raw, base64 (any alignment, standard or URL-safe) or
//! percent- or form-encoded.

use aho_corasick::AhoCorasick;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use crate::policy::network::NetPattern;

/// One secret bound to a skill: its value goes into `header` on requests
/// to `hosts`.
#[derive(Clone)]
pub struct SecretBinding {
    pub name: String,
    pub value: String,
    pub hosts: Vec<NetPattern>,
    pub header: http::HeaderName,
    pub value_template: String,
}

impl SecretBinding {
    pub fn header_value(&self) -> String {
        self.value_template.replacen("{}", &self.value, 1)
    }
}

impl std::fmt::Debug for SecretBinding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretBinding")
            .field("name", &self.name)
            .field("value", &"<redacted>")
            .field("hosts", &self.hosts)
            .field("header", &self.header)
            .finish()
    }
}

/// Finds any encoding of any of a set of secrets in bytes.
pub struct SecretScanner {
    matcher: Option<AhoCorasick>,
}

/// Never prints the patterns: they are the secrets.
impl std::fmt::Debug for SecretScanner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let patterns = self.matcher.as_ref().map_or(0, |m| m.patterns_len());
        write!(f, "SecretScanner {{ {patterns} patterns }}")
    }
}

/// Shortest encoded fragment worth matching; shorter ones would match by
/// chance.
const MIN_FRAGMENT: usize = 6;

/// Percent-encoding of everything but unreserved characters.
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

impl SecretScanner {
    pub fn new<'a>(secrets: impl IntoIterator<Item = &'a str>) -> SecretScanner {
        let mut needles: Vec<String> = Vec::new();
        for secret in secrets {
            needles.push(secret.to_owned());
            for set in [NON_ALPHANUMERIC, COMPONENT] {
                let encoded = utf8_percent_encode(secret, set).to_string();
                needles.push(lowercase_escapes(&encoded));
                needles.push(encoded);
            }
            needles.push(url::form_urlencoded::byte_serialize(secret.as_bytes()).collect());
            for fragment in base64_fragments(secret.as_bytes()) {
                needles.push(fragment.replace('+', "-").replace('/', "_"));
                needles.push(fragment);
            }
        }
        needles.retain(|n| n.len() >= MIN_FRAGMENT);
        needles.sort();
        needles.dedup();
        let matcher =
            (!needles.is_empty()).then(|| AhoCorasick::new(&needles).expect("plain byte patterns"));
        SecretScanner { matcher }
    }

    /// Whether `haystack` holds a secret in any encoding.
    pub fn finds(&self, haystack: &[u8]) -> bool {
        self.matcher.as_ref().is_some_and(|m| m.is_match(haystack))
    }
}

/// `%2F` → `%2f`, leaving everything else as is.
fn lowercase_escapes(encoded: &str) -> String {
    let mut out = String::with_capacity(encoded.len());
    let mut hex_left = 0;
    for c in encoded.chars() {
        if hex_left > 0 {
            out.push(c.to_ascii_lowercase());
            hex_left -= 1;
        } else {
            hex_left = if c == '%' { 2 } else { 0 };
            out.push(c);
        }
    }
    out
}

/// The base64 text that `secret` turns into wherever it sits in a longer
/// encoded byte string: one fragment per alignment (0, 1 or 2 bytes before
/// it), keeping only the characters made of the secret's bits alone.
fn base64_fragments(secret: &[u8]) -> Vec<String> {
    (0..3)
        .map(|offset| {
            let mut bytes = vec![0u8; offset];
            bytes.extend_from_slice(secret);
            let encoded = STANDARD_NO_PAD.encode(&bytes);
            let first = (offset * 8).div_ceil(6);
            let end = ((offset + secret.len()) * 8) / 6;
            encoded[first..end.max(first)].to_owned()
        })
        .chain(std::iter::once(URL_SAFE_NO_PAD.encode(secret)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::STANDARD;

    const SECRET: &str = "ghp_s3cr3t/t0ken+value";

    #[test]
    fn finds_a_secret_in_every_encoding_and_alignment() {
        let scanner = SecretScanner::new([SECRET]);
        let mut carriers = vec![
            format!("https://evil.example/?t={SECRET}"),
            format!("q={}", utf8_percent_encode(SECRET, NON_ALPHANUMERIC)),
            format!(
                "q={}",
                lowercase_escapes(&utf8_percent_encode(SECRET, NON_ALPHANUMERIC).to_string())
            ),
            format!("q={}", utf8_percent_encode(SECRET, COMPONENT)),
            url::form_urlencoded::Serializer::new(String::new())
                .append_pair("token", SECRET)
                .finish(),
        ];
        for prefix in ["", "a", "ab", "abc"] {
            let embedded = format!("{prefix}{SECRET}!!");
            carriers.push(STANDARD.encode(&embedded));
            carriers.push(URL_SAFE_NO_PAD.encode(&embedded));
        }
        for carrier in carriers {
            assert!(scanner.finds(carrier.as_bytes()), "missed: {carrier}");
        }
        assert!(!scanner.finds(b"an ordinary request body with ghp_ in it"));
        assert!(!SecretScanner::new([]).finds(SECRET.as_bytes()));
    }
}
