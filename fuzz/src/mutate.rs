//! Mutations: small random edits of an input, stacked a few at a time, in
//! the manner of AFL's havoc stage. Byte-level edits find what a parser does
//! with broken text; dictionary words and splices keep enough of the format
//! for the input to reach the checks behind the syntax.

use fastrand::Rng;

/// Bytes that mean something in TOML, JSON, URLs or tar headers.
const INTERESTING_BYTES: &[u8] = b"\0\x7f\x80\xff\"'\\\n\r\t []{}=,.:/*@#-_$";

/// Numbers at the edges of the integer types, and a few floats no integer
/// field accepts.
const INTERESTING_NUMBERS: &[&str] = &[
    "0",
    "-1",
    "1",
    "127",
    "255",
    "256",
    "65535",
    "65536",
    "2147483647",
    "4294967295",
    "4294967296",
    "9223372036854775807",
    "18446744073709551615",
    "18446744073709551616",
    "99999999999999999999999999",
    "1e308",
    "1e309",
    "-0",
    "0.5",
];

/// The longest run of bytes one edit inserts, deletes or copies.
const MAX_CHUNK: usize = 64;

/// Edit `input` in place: between one and eight mutations, then cut to
/// `max_len`. `pool` gives other inputs to splice from, `dictionary` the
/// words of the format.
pub fn mutate(
    rng: &mut Rng,
    input: &mut Vec<u8>,
    pool: &[Vec<u8>],
    dictionary: &[&str],
    max_len: usize,
) {
    let rounds = 1 << rng.usize(0..4);
    for _ in 0..rounds {
        match rng.u8(0..10) {
            0 => flip_bit(rng, input),
            1 => set_byte(rng, input),
            2 => insert_random(rng, input),
            3 => delete_range(rng, input),
            4 => duplicate_chunk(rng, input),
            5 => splice(rng, input, pool),
            6 | 7 => insert_word(rng, input, dictionary),
            8 => replace_number(rng, input),
            _ => truncate(rng, input),
        }
    }
    input.truncate(max_len);
}

fn flip_bit(rng: &mut Rng, input: &mut [u8]) {
    if !input.is_empty() {
        let at = rng.usize(..input.len());
        input[at] ^= 1 << rng.u8(0..8);
    }
}

fn set_byte(rng: &mut Rng, input: &mut [u8]) {
    if !input.is_empty() {
        let at = rng.usize(..input.len());
        input[at] = if rng.bool() {
            INTERESTING_BYTES[rng.usize(..INTERESTING_BYTES.len())]
        } else {
            rng.u8(..)
        };
    }
}

fn insert_random(rng: &mut Rng, input: &mut Vec<u8>) {
    let at = rng.usize(..=input.len());
    let bytes: Vec<u8> = (0..rng.usize(1..=8)).map(|_| rng.u8(..)).collect();
    input.splice(at..at, bytes);
}

fn delete_range(rng: &mut Rng, input: &mut Vec<u8>) {
    if !input.is_empty() {
        let (start, end) = range(rng, input.len());
        input.drain(start..end);
    }
}

/// Copy a chunk elsewhere, sometimes many times over: long names, deep
/// nesting (`[[[[`, `{"a":{"a":`) and long lists come from here.
fn duplicate_chunk(rng: &mut Rng, input: &mut Vec<u8>) {
    if input.is_empty() {
        return;
    }
    let (start, end) = range(rng, input.len());
    let times = if rng.u8(0..4) == 0 {
        rng.usize(2..=256)
    } else {
        1
    };
    let chunk = input[start..end].repeat(times);
    let at = rng.usize(..=input.len());
    input.splice(at..at, chunk);
}

/// Insert a chunk of another input, or continue with another input's tail:
/// the sections of one file meet the values of another.
fn splice(rng: &mut Rng, input: &mut Vec<u8>, pool: &[Vec<u8>]) {
    if pool.is_empty() {
        return;
    }
    let other = &pool[rng.usize(..pool.len())];
    if other.is_empty() {
        return;
    }
    if rng.bool() {
        let (start, end) = range(rng, other.len());
        let at = rng.usize(..=input.len());
        input.splice(at..at, other[start..end].iter().copied());
    } else {
        let keep = rng.usize(..=input.len());
        let from = rng.usize(..other.len());
        input.truncate(keep);
        input.extend_from_slice(&other[from..]);
    }
}

/// Insert a word of the format, or put it in place of a few bytes.
fn insert_word(rng: &mut Rng, input: &mut Vec<u8>, dictionary: &[&str]) {
    if dictionary.is_empty() {
        return;
    }
    let word = dictionary[rng.usize(..dictionary.len())].as_bytes();
    let at = rng.usize(..=input.len());
    let replaced = if rng.bool() {
        rng.usize(..=(input.len() - at).min(word.len()))
    } else {
        0
    };
    input.splice(at..at + replaced, word.iter().copied());
}

/// Put a number from the edges of the integer types in place of the next
/// run of digits after a random place (or at that place, if there is none).
fn replace_number(rng: &mut Rng, input: &mut Vec<u8>) {
    let number = INTERESTING_NUMBERS[rng.usize(..INTERESTING_NUMBERS.len())].as_bytes();
    let from = rng.usize(..=input.len());
    let Some(start) = input[from..]
        .iter()
        .position(u8::is_ascii_digit)
        .map(|i| from + i)
    else {
        input.splice(from..from, number.iter().copied());
        return;
    };
    let end = input[start..]
        .iter()
        .position(|b| !b.is_ascii_digit())
        .map_or(input.len(), |i| start + i);
    input.splice(start..end, number.iter().copied());
}

fn truncate(rng: &mut Rng, input: &mut Vec<u8>) {
    let keep = rng.usize(..=input.len());
    input.truncate(keep);
}

/// A range of at most `MAX_CHUNK` bytes, at least one, within `len` (> 0).
fn range(rng: &mut Rng, len: usize) -> (usize, usize) {
    let start = rng.usize(..len);
    let end = start + rng.usize(1..=MAX_CHUNK.min(len - start));
    (start, end)
}
