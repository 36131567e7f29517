//! Peeling encodings off bytes, layer by layer, for a scan: a secret
//! percent-encoded twice, or base64 inside a JSON string escape, is still
//! the secret.

use base64::Engine;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::{DecodePaddingMode, GeneralPurpose as Engine64};

/// Most bytes all layers of one scan may decode into, as a multiple of the
/// scanned bytes (plus a floor for small inputs): the bound on a scan's
/// work whatever the input.
const BUDGET_FACTOR: usize = 16;
const BUDGET_FLOOR: usize = 64 * 1024;

/// Shortest run of base64 or hex worth decoding: shorter runs are words.
const MIN_RUN: usize = 8;

/// Whether `found` holds for `bytes` or for any decoding of it, up to
/// `rounds` layers deep; `None` when the decodings outgrow the budget.
pub(super) fn layers(bytes: &[u8], rounds: usize, found: impl Fn(&[u8]) -> bool) -> Option<bool> {
    let mut budget = bytes.len().saturating_mul(BUDGET_FACTOR) + BUDGET_FLOOR;
    let mut layer = vec![bytes.to_vec()];
    for round in 0..=rounds {
        if layer.iter().any(|b| found(b)) {
            return Some(true);
        }
        if round == rounds {
            break;
        }
        let mut next: Vec<Vec<u8>> = Vec::new();
        for decoded in layer.iter().flat_map(|b| decodings(b)) {
            budget = budget.checked_sub(decoded.len())?;
            if !next.contains(&decoded) {
                next.push(decoded);
            }
        }
        if next.is_empty() {
            break;
        }
        layer = next;
    }
    Some(false)
}

/// A way to decode bytes; `None` when it does not apply.
type Decoder = fn(&[u8]) -> Option<Vec<u8>>;

/// Every decoding that changes `bytes`.
fn decodings(bytes: &[u8]) -> Vec<Vec<u8>> {
    let decoders: [Decoder; 5] = [percent, form, json_escapes, base64_runs, hex_runs];
    decoders
        .iter()
        .filter_map(|decode| decode(bytes))
        .filter(|decoded| decoded != bytes)
        .collect()
}

fn percent(bytes: &[u8]) -> Option<Vec<u8>> {
    bytes
        .contains(&b'%')
        .then(|| percent_encoding::percent_decode(bytes).collect())
}

/// A form value: `+` is a space, then percent-decoded.
fn form(bytes: &[u8]) -> Option<Vec<u8>> {
    bytes.contains(&b'+').then(|| {
        let spaced: Vec<u8> = bytes
            .iter()
            .map(|&b| if b == b'+' { b' ' } else { b })
            .collect();
        percent_encoding::percent_decode(&spaced).collect()
    })
}

/// JSON string escapes (`\u0067`, `\/`, `\n`, ...); anything else stays.
fn json_escapes(bytes: &[u8]) -> Option<Vec<u8>> {
    if !bytes.contains(&b'\\') {
        return None;
    }
    let mut out = Vec::with_capacity(bytes.len());
    let mut rest = bytes;
    while let Some((&first, tail)) = rest.split_first() {
        rest = tail;
        if first != b'\\' {
            out.push(first);
            continue;
        }
        let Some((&kind, tail)) = rest.split_first() else {
            out.push(first);
            break;
        };
        let simple = match kind {
            b'n' => Some(b'\n'),
            b't' => Some(b'\t'),
            b'r' => Some(b'\r'),
            b'b' => Some(0x08),
            b'f' => Some(0x0c),
            b'"' | b'\\' | b'/' => Some(kind),
            _ => None,
        };
        if let Some(byte) = simple {
            out.push(byte);
            rest = tail;
            continue;
        }
        let unit = (kind == b'u')
            .then(|| tail.get(..4))
            .flatten()
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u32::from_str_radix(hex, 16).ok());
        match unit {
            Some(unit) => {
                let c = char::from_u32(unit).unwrap_or(char::REPLACEMENT_CHARACTER);
                out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
                rest = &tail[4..];
            }
            None => out.push(first),
        }
    }
    Some(out)
}

/// Base64 that accepts either alphabet's padding and stray bits, as a
/// lenient receiver would.
const LENIENT: GeneralPurposeConfig = GeneralPurposeConfig::new()
    .with_decode_padding_mode(DecodePaddingMode::Indifferent)
    .with_decode_allow_trailing_bits(true);
const STANDARD: Engine64 = GeneralPurpose::new(&base64::alphabet::STANDARD, LENIENT);
const URL_SAFE: Engine64 = GeneralPurpose::new(&base64::alphabet::URL_SAFE, LENIENT);

/// Each run of base64 decoded from each of its first four characters (a
/// run may begin with a letter that is not part of the encoding, as in
/// `x=...` or `tokenQUJD...`), the decodings joined by newlines. Padding
/// ends a run.
fn base64_runs(bytes: &[u8]) -> Option<Vec<u8>> {
    let in_alphabet = |b: &u8| b.is_ascii_alphanumeric() || b"+/-_".contains(b);
    decode_runs(bytes, in_alphabet, |run| {
        let decoded: Vec<Vec<u8>> = (0..4.min(run.len()))
            .filter_map(|skip| {
                let run = &run[skip..];
                // A length of 4n+1 cannot be base64: the last character is noise.
                let whole = &run[..run.len() - usize::from(run.len() % 4 == 1)];
                STANDARD
                    .decode(whole)
                    .or_else(|_| URL_SAFE.decode(whole))
                    .ok()
            })
            .collect();
        (!decoded.is_empty()).then(|| decoded.join(&b'\n'))
    })
}

/// Each run of hex decoded, the runs joined by newlines.
fn hex_runs(bytes: &[u8]) -> Option<Vec<u8>> {
    decode_runs(bytes, u8::is_ascii_hexdigit, |run| {
        hex::decode(&run[..run.len() & !1]).ok()
    })
}

fn decode_runs(
    bytes: &[u8],
    in_run: impl Fn(&u8) -> bool,
    decode: impl Fn(&[u8]) -> Option<Vec<u8>>,
) -> Option<Vec<u8>> {
    let decoded: Vec<Vec<u8>> = bytes
        .split(|b| !in_run(b))
        .filter(|run| run.len() >= MIN_RUN)
        .filter_map(decode)
        .collect();
    (!decoded.is_empty()).then(|| decoded.join(&b'\n'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finds(haystack: &str, needle: &str) -> Option<bool> {
        let needle = needle.as_bytes();
        layers(haystack.as_bytes(), 3, |b| {
            b.windows(needle.len()).any(|w| w == needle)
        })
    }

    #[test]
    fn peels_nested_layers() {
        // Percent-encoded twice.
        assert_eq!(finds("q=%2567%2568%2570_token", "ghp_token"), Some(true));
        // JSON escapes around a percent-encoded letter.
        assert_eq!(
            finds(r#"{"t":"\u0067hp_%74oken"}"#, "ghp_token"),
            Some(true)
        );
        // Base64 of hex.
        let inner = hex::encode("ghp_token");
        let outer = STANDARD.encode(inner);
        assert_eq!(finds(&format!("x={outer}"), "ghp_token"), Some(true));
        assert_eq!(finds("nothing to see here", "ghp_token"), Some(false));
    }

    #[test]
    fn stops_at_the_round_limit() {
        let mut text = "ghp_token".to_owned();
        for _ in 0..4 {
            text = percent_encoding::utf8_percent_encode(&text, percent_encoding::NON_ALPHANUMERIC)
                .to_string();
        }
        assert_eq!(finds(&text, "ghp_token"), Some(false));
    }
}
