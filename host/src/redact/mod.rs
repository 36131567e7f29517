//! Finding secrets where they must not be, and masking them: in outgoing
//! requests (raw, base64 at any alignment, standard or URL-safe, hex, or
//! percent- or form-encoded), in prompts, and in what a host that received
//! a secret answers ([`Mask`]).

mod mask;

use aho_corasick::AhoCorasick;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};

pub(crate) use mask::Mask;

/// Finds any of a set of secrets in bytes: raw (in any letter case), hex,
/// base64 (standard or URL-safe, at any alignment) or form-encoded, and,
/// through [`finds_in_url`](Self::finds_in_url) and
/// [`finds_in_body`](Self::finds_in_body), percent-encoded however partly.
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

impl SecretScanner {
    pub fn new<'a>(secrets: impl IntoIterator<Item = &'a str>) -> SecretScanner {
        let mut needles: Vec<String> = Vec::new();
        for secret in secrets {
            needles.push(secret.to_owned());
            needles.push(hex::encode(secret));
            needles.push(url::form_urlencoded::byte_serialize(secret.as_bytes()).collect());
            for fragment in base64_fragments(secret.as_bytes()) {
                needles.push(fragment.replace('+', "-").replace('/', "_"));
                needles.push(fragment);
            }
        }
        needles.retain(|n| n.len() >= MIN_FRAGMENT);
        needles.sort();
        needles.dedup();
        // Letter case is ignored: names (hosts, headers) are lowercased on
        // the way out, and a random secret does not turn up by accident in
        // another case. Base64 fragments lose a little precision, not safety.
        let matcher = (!needles.is_empty()).then(|| {
            AhoCorasick::builder()
                .ascii_case_insensitive(true)
                .build(&needles)
                .expect("plain byte patterns")
        });
        SecretScanner { matcher }
    }

    /// Whether `haystack` holds a secret in any of the encodings above.
    pub fn finds(&self, haystack: &[u8]) -> bool {
        self.matcher.as_ref().is_some_and(|m| m.is_match(haystack))
    }

    /// `text` with every secret found in it replaced by as many `*`.
    pub fn mask(&self, text: &str) -> String {
        let Some(matcher) = &self.matcher else {
            return text.to_owned();
        };
        let mut bytes = text.as_bytes().to_vec();
        for found in matcher.find_iter(text) {
            bytes[found.range()].fill(b'*');
        }
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// Whether `url` holds a secret, as written or once percent-decoded.
    pub fn finds_in_url(&self, url: &str) -> bool {
        self.finds_decoded(url.as_bytes())
    }

    /// Whether a request body holds a secret, as sent or once decoded.
    pub fn finds_in_body(&self, body: &[u8]) -> bool {
        self.finds_decoded(body)
    }

    /// `bytes` as they are, percent-decoded, and decoded as a form (where
    /// `+` is a space).
    fn finds_decoded(&self, bytes: &[u8]) -> bool {
        if self.matcher.is_none() {
            return false;
        }
        let form: Vec<u8> = bytes
            .iter()
            .map(|&b| if b == b'+' { b' ' } else { b })
            .collect();
        let decoded = |b: &[u8]| percent_encoding::percent_decode(b).collect::<Vec<u8>>();
        self.finds(bytes) || self.finds(&decoded(bytes)) || self.finds(&decoded(&form))
    }
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
            assert!(scanner.finds_in_url(&url), "missed: {url}");
        }
        for body in bodies {
            assert!(scanner.finds_in_body(body.as_bytes()), "missed: {body}");
        }
        assert!(!scanner.finds_in_body(b"an ordinary request body with ghp_ in it"));
        assert!(!SecretScanner::new([]).finds(SECRET.as_bytes()));
    }
}
