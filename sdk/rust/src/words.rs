//! Errors in words a person reads: no error numbers of the sandbox's
//! system, no Rust debug output.

/// `e` as a person reads it. WASI numbers its errors differently from
/// Linux, so the `(os error N)` that std adds would mislead anyone who looks
/// the number up; the words before it are what the error means.
pub fn io_error(e: &std::io::Error) -> String {
    let text = e.to_string();
    match text.rfind(" (os error ") {
        Some(at) if text.ends_with(')') => text[..at].to_owned(),
        _ => text,
    }
}

/// A variant's name as words: `ConnectionRefused` is "connection refused".
pub(crate) fn variant(debug: &str) -> String {
    let name = debug.split(['(', ' ', '{']).next().unwrap_or(debug);
    let mut words = String::with_capacity(name.len() + 4);
    for (i, c) in name.chars().enumerate() {
        if c.is_uppercase() && i > 0 {
            words.push(' ');
        }
        words.extend(c.to_lowercase());
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_error_numbers_no_debug_names() {
        let e = std::io::Error::from_raw_os_error(2);
        let words = io_error(&e);
        assert!(!words.contains("os error"), "{words}");
        assert!(!words.is_empty());
        let custom = std::io::Error::other("the disk said no");
        assert_eq!(io_error(&custom), "the disk said no");
        assert_eq!(variant("ConnectionRefused"), "connection refused");
        assert_eq!(
            variant("HttpResponseBodySize(Some(10))"),
            "http response body size"
        );
    }
}
