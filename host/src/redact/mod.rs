//! Finding secrets where they must not be, and masking them: in outgoing
//! requests, in prompts, the audit and logs, and in what a host that
//! received a secret answers ([`Mask`]).
//!
//! A secret is recognised raw (in any letter case), as hex, as base64
//! (standard or URL-safe, at any alignment) and form-encoded; and, by
//! [`SecretScanner::finds`], under up to [`DECODE_ROUNDS`] layers of
//! percent-encoding, form encoding, JSON string escapes, base64 and hex,
//! however they nest.

mod decode;
mod mask;

use aho_corasick::AhoCorasick;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};

pub(crate) use mask::Mask;

/// Layers of encoding peeled off before a scan gives up. Each layer may be
/// any of the decodings in [`decode`], so three already means hundreds of
/// variants of a body; more is refused rather than scanned.
pub(crate) const DECODE_ROUNDS: usize = 3;

/// Finds any of a set of secrets in bytes, in every encoding above.
pub struct SecretScanner {
    matcher: Option<AhoCorasick>,
}

/// A scanner that finds nothing: no secrets to look for.
impl Default for SecretScanner {
    fn default() -> Self {
        SecretScanner::new([])
    }
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

/// What a text becomes when it holds a secret that cannot be masked where
/// it sits, because it is only there once decoded.
const WITHHELD: &str = "[withheld: it holds a secret]";

impl SecretScanner {
    pub fn new<'a>(secrets: impl IntoIterator<Item = &'a str>) -> SecretScanner {
        SecretScanner {
            matcher: matcher(secrets).map(|(matcher, _)| matcher),
        }
    }

    /// Whether `haystack` holds a secret, as it is or under up to
    /// [`DECODE_ROUNDS`] layers of encoding. A haystack that decodes into
    /// too much to scan counts as holding one: it is refused, not let by.
    pub fn finds(&self, haystack: &[u8]) -> bool {
        let Some(matcher) = &self.matcher else {
            return false;
        };
        decode::layers(haystack, DECODE_ROUNDS, |bytes| matcher.is_match(bytes)).unwrap_or(true)
    }

    /// `text` with every secret found in it replaced by as many `*`; or,
    /// when a secret is still there once decoded, [`WITHHELD`].
    pub fn mask(&self, text: &str) -> String {
        let Some(matcher) = &self.matcher else {
            return text.to_owned();
        };
        let mut bytes = text.as_bytes().to_vec();
        for found in matcher.find_iter(text) {
            bytes[found.range()].fill(b'*');
        }
        if self.finds(&bytes) {
            return WITHHELD.to_owned();
        }
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

/// A case-insensitive matcher for every encoding of `secrets` that a scan
/// looks for without decoding, and the length of its longest pattern;
/// `None` when there is nothing to find.
fn matcher<'a>(secrets: impl IntoIterator<Item = &'a str>) -> Option<(AhoCorasick, usize)> {
    let mut needles: Vec<String> = secrets.into_iter().flat_map(encodings).collect();
    needles.retain(|n| n.len() >= MIN_FRAGMENT);
    needles.sort();
    needles.dedup();
    let longest = needles.iter().map(String::len).max()?;
    // Letter case is ignored: names (hosts, headers) are lowercased on the
    // way out, hex comes in either case, and a random secret does not turn
    // up by accident in another case. Base64 fragments lose a little
    // precision, not safety.
    let matcher = AhoCorasick::builder()
        .ascii_case_insensitive(true)
        .build(&needles)
        .expect("plain byte patterns");
    Some((matcher, longest))
}

/// `secret` raw, as hex, form-encoded, and as the base64 fragments it
/// leaves wherever it sits in a longer encoded string.
fn encodings(secret: &str) -> Vec<String> {
    let mut needles = vec![
        secret.to_owned(),
        hex::encode(secret),
        url::form_urlencoded::byte_serialize(secret.as_bytes()).collect(),
    ];
    for fragment in base64_fragments(secret.as_bytes()) {
        needles.push(fragment.replace('+', "-").replace('/', "_"));
        needles.push(fragment);
    }
    needles
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
    use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};

    const SECRET: &str = "ghp_s3cr3t/t0ken+value";

    #[test]
    fn finds_a_secret_in_every_encoding_and_alignment() {
        let scanner = SecretScanner::new([SECRET]);
        let encoded_all = utf8_percent_encode(SECRET, NON_ALPHANUMERIC).to_string();
        let mut urls = vec![
            format!("https://evil.example/?t={SECRET}"),
            format!("https://evil.example/?q={encoded_all}"),
            format!("https://evil.example/?q={}", encoded_all.to_lowercase()),
            // One character encoded is enough to dodge a naive match.
            format!("https://evil.example/?q=%67{}", &SECRET[1..]),
            format!("https://{}.evil.example/", SECRET.to_lowercase()),
        ];
        let mut bodies = vec![
            url::form_urlencoded::Serializer::new(String::new())
                .append_pair("token", SECRET)
                .finish(),
            hex::encode(SECRET),
            hex::encode(SECRET).to_uppercase(),
        ];
        for prefix in ["", "a", "ab", "abc"] {
            let embedded = format!("{prefix}{SECRET}!!");
            bodies.push(STANDARD.encode(&embedded));
            bodies.push(URL_SAFE_NO_PAD.encode(&embedded));
        }
        for url in urls.drain(..) {
            assert!(scanner.finds(url.as_bytes()), "missed: {url}");
        }
        for body in bodies {
            assert!(scanner.finds(body.as_bytes()), "missed: {body}");
        }
        assert!(!scanner.finds(b"an ordinary request body with ghp_ in it"));
        assert!(!SecretScanner::new([]).finds(SECRET.as_bytes()));
    }
}
