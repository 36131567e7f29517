//! Text made safe to store and show.

use std::borrow::Cow;

/// `s` cut to at most `max` bytes on a character boundary, marked when cut.
pub(crate) fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes)", &s[..end], s.len())
}

/// `text` without control characters but newlines and tabs: text from
/// models and tools cannot move the cursor, recolour or rewrite what the
/// terminal shows.
pub(crate) fn printable(text: &str) -> Cow<'_, str> {
    let keep = |c: char| !c.is_control() || c == '\n' || c == '\t';
    if text.chars().all(keep) {
        text.into()
    } else {
        text.chars().filter(|&c| keep(c)).collect::<String>().into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_not_printed() {
        assert_eq!(printable("plain\ttext\n"), "plain\ttext\n");
        // Erase the line, move up, then claim the prompt was answered.
        let hostile = "\x1b[2K\x1b[1A\r  -> allowed always\u{9b}31m";
        assert_eq!(printable(hostile), "[2K[1A  -> allowed always31m");
    }

    #[test]
    fn truncates_on_a_character_boundary() {
        assert_eq!(truncate("short", 10), "short");
        assert_eq!(truncate("ééé", 3), "é… (6 bytes)");
    }
}
