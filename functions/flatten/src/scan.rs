//! A validating JSON scanner over bytes: positions and spans, no allocation, no
//! recursion. The flattener builds on it and copies numbers and strings verbatim (so
//! numbers keep their exact digits and strings their escapes).

use crate::error::{Fallible, FlattenError};

pub(crate) struct Scanner<'a> {
    pub input: &'a [u8],
    pub pos: usize,
}

/// Bytes that end a run of plain string content: `"`, `\\` and control characters (also
/// exactly the bytes a JSON string writer must escape).
pub(crate) static STRING_SPECIAL: [bool; 256] = {
    let mut table = [false; 256];
    let mut i = 0;
    while i < 0x20 {
        table[i] = true;
        i += 1;
    }
    table[b'"' as usize] = true;
    table[b'\\' as usize] = true;
    table
};

/// The index of the first `"`, `\\`, control character or non-ASCII byte at or after
/// `from` (or the end): eight bytes at a time (SWAR), then byte by byte for the tail.
/// Non-ASCII bytes stop the run so that the string scanner validates UTF-8 on the way
/// (no separate pass over the input).
#[inline]
pub(crate) fn plain_run_end(input: &[u8], from: usize) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let mut i = from.min(input.len());
    while let Some(chunk) = input.get(i..i + 8) {
        let word = u64::from_le_bytes(chunk.try_into().unwrap_or([0; 8]));
        let quote = word ^ (ONES * u64::from(b'"'));
        let backslash = word ^ (ONES * u64::from(b'\\'));
        // A byte's high bit is set in each term when it is zero (a match), for the
        // control test when it is below 0x20, and in `word` itself when it is non-ASCII.
        // Borrows can only mark bytes after the first match, so the lowest marked byte is
        // exact.
        let marked = (quote.wrapping_sub(ONES) & !quote)
            | (backslash.wrapping_sub(ONES) & !backslash)
            | (word.wrapping_sub(ONES * 0x20) & !word)
            | word;
        let marked = marked & HIGH;
        if marked != 0 {
            return i + (marked.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    i + input[i..]
        .iter()
        .position(|&b| ends_plain_run(b))
        .unwrap_or(input.len() - i)
}

/// The index of the first byte at or after `from` that is not an ASCII digit (or the
/// end): eight bytes at a time (SWAR), so that the usual short number costs one round.
#[inline]
pub(crate) fn digits_end(input: &[u8], from: usize) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let mut i = from.min(input.len());
    while let Some(chunk) = input.get(i..i + 8) {
        let word = u64::from_le_bytes(chunk.try_into().unwrap_or([0; 8]));
        // A byte's high bit is set when it is above '9' (adding 0x46 reaches 0x80), below
        // '0' (subtracting 0x30 wraps) or non-ASCII. Digits neither carry nor borrow, so
        // the lowest marked byte is exact.
        let marked =
            (word.wrapping_add(ONES * 0x46) | word.wrapping_sub(ONES * 0x30) | word) & HIGH;
        if marked != 0 {
            return i + (marked.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    i + input[i..]
        .iter()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(input.len() - i)
}

/// Whether `b` ends a run of plain ASCII string content (see [`plain_run_end`]).
fn ends_plain_run(b: u8) -> bool {
    STRING_SPECIAL[b as usize] || !b.is_ascii()
}

#[inline]
fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\n' | b'\r' | b'\t')
}

impl<'a> Scanner<'a> {
    pub fn new(input: &'a [u8]) -> Self {
        Self { input, pos: 0 }
    }

    #[inline]
    pub fn skip_ws(&mut self) {
        while self.pos < self.input.len() && is_ws(self.input[self.pos]) {
            self.pos += 1;
        }
    }

    #[inline]
    pub fn peek(&self) -> Option<u8> {
        self.input.get(self.pos).copied()
    }

    pub fn at_end(&mut self) -> bool {
        self.skip_ws();
        self.pos >= self.input.len()
    }

    pub fn error(&self, expected: &'static str) -> Box<FlattenError> {
        Box::new(FlattenError::Syntax {
            offset: self.pos,
            expected,
            found: self.peek().map(|b| b as char),
        })
    }

    #[inline]
    pub fn expect(&mut self, byte: u8, expected: &'static str) -> Fallible<()> {
        self.skip_ws();
        if self.peek() == Some(byte) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.error(expected))
        }
    }

    /// After an element of an object (`close` = `}`) or array (`]`): `true` after a `,`
    /// (another element follows), `false` after the closing bracket (consumed).
    #[inline]
    pub fn more_elements(&mut self, close: u8) -> Fallible<bool> {
        self.skip_ws();
        match self.peek() {
            Some(b',') => {
                self.pos += 1;
                Ok(true)
            }
            Some(b) if b == close => {
                self.pos += 1;
                Ok(false)
            }
            _ => Err(self.error(if close == b'}' {
                "',' or '}'"
            } else {
                "',' or ']'"
            })),
        }
    }

    /// A string at `pos` (which must be `"`): returns the span of its content (without
    /// quotes) and whether it contains escapes. Validates escapes and control characters.
    #[inline(always)]
    pub fn string(&mut self) -> Fallible<(usize, usize, bool)> {
        if self.peek() != Some(b'"') {
            return Err(self.error("a string"));
        }
        self.pos += 1;
        let start = self.pos;
        let input = self.input;
        let mut escaped = false;
        let mut i = self.pos;
        loop {
            // Fast path: skip plain content in one pass.
            i = plain_run_end(input, i);
            let Some(&b) = input.get(i) else {
                self.pos = i;
                return Err(self.error("the end of a string"));
            };
            match b {
                b'"' => {
                    self.pos = i + 1;
                    return Ok((start, i, escaped));
                }
                b'\\' => {
                    escaped = true;
                    match input.get(i + 1) {
                        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => i += 2,
                        Some(b'u') => {
                            let hex = input.get(i + 2..i + 6);
                            if !hex.is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit)) {
                                self.pos = i;
                                return Err(self.error("four hex digits after \\u"));
                            }
                            i += 6;
                        }
                        _ => {
                            self.pos = i;
                            return Err(self.error("a valid escape"));
                        }
                    }
                }
                0x00..=0x1f => {
                    self.pos = i;
                    return Err(self.error("no raw control characters in a string"));
                }
                0x80..=0xff => {
                    // A character's bytes are all non-ASCII, so the input is UTF-8 exactly
                    // when each run of non-ASCII bytes is.
                    let run = input[i..].iter().position(u8::is_ascii);
                    let end = run.map_or(input.len(), |n| i + n);
                    if let Err(e) = std::str::from_utf8(&input[i..end]) {
                        return Err(Box::new(FlattenError::NotUtf8 {
                            offset: i + e.valid_up_to(),
                        }));
                    }
                    i = end;
                }
                _ => i += 1,
            }
        }
    }

    /// A number at `pos`, validated against JSON's grammar; returns its span.
    #[inline]
    pub fn number(&mut self) -> Fallible<(usize, usize)> {
        let input = self.input;
        let start = self.pos;
        let mut i = self.pos;
        if input.get(i) == Some(&b'-') {
            i += 1;
        }
        match input.get(i) {
            Some(b'0') => i += 1,
            Some(b'1'..=b'9') => i = digits_end(input, i + 1),
            _ => {
                self.pos = i;
                return Err(self.error("a digit"));
            }
        }
        if input.get(i) == Some(&b'.') {
            i += 1;
            if !input.get(i).is_some_and(u8::is_ascii_digit) {
                self.pos = i;
                return Err(self.error("a digit after the decimal point"));
            }
            i = digits_end(input, i + 1);
        }
        if matches!(input.get(i), Some(b'e' | b'E')) {
            i += 1;
            if matches!(input.get(i), Some(b'+' | b'-')) {
                i += 1;
            }
            if !input.get(i).is_some_and(u8::is_ascii_digit) {
                self.pos = i;
                return Err(self.error("a digit in the exponent"));
            }
            i = digits_end(input, i + 1);
        }
        self.pos = i;
        Ok((start, i))
    }

    /// `true`, `false` or `null` at `pos`; returns the span.
    #[inline]
    pub fn literal(&mut self) -> Fallible<(usize, usize)> {
        let start = self.pos;
        for word in [&b"true"[..], b"false", b"null"] {
            if self.input[self.pos..].starts_with(word) {
                self.pos += word.len();
                return Ok((start, self.pos));
            }
        }
        Err(self.error("a JSON value"))
    }

    /// Copy the value at `pos` to `out` as compact JSON (whitespace outside strings removed),
    /// validating it. Iterative: nesting up to `max_depth` (counted from `base_depth`),
    /// beyond which the input is rejected rather than overflowing anything.
    pub fn minify_value(
        &mut self,
        out: &mut Vec<u8>,
        base_depth: usize,
        max_depth: usize,
    ) -> Fallible<()> {
        // Each open container: expecting a key (object) or a value (array).
        let mut stack: Vec<bool> = Vec::new(); // true = object
        self.skip_ws();
        loop {
            // A value.
            self.skip_ws();
            match self.peek() {
                Some(b'{') | Some(b'[') => {
                    let is_object = self.peek() == Some(b'{');
                    if base_depth + stack.len() + 1 > max_depth {
                        return Err(Box::new(FlattenError::TooDeep { limit: max_depth }));
                    }
                    out.push(if is_object { b'{' } else { b'[' });
                    self.pos += 1;
                    self.skip_ws();
                    let close = if is_object { b'}' } else { b']' };
                    if self.peek() == Some(close) {
                        self.pos += 1;
                        out.push(close);
                    } else {
                        stack.push(is_object);
                        if is_object {
                            self.minify_key(out)?;
                        }
                        continue;
                    }
                }
                Some(b'"') => {
                    let (s, e, _) = self.string()?;
                    out.extend_from_slice(&self.input[s - 1..=e]);
                }
                Some(b'-' | b'0'..=b'9') => {
                    let (s, e) = self.number()?;
                    out.extend_from_slice(&self.input[s..e]);
                }
                _ => {
                    let (s, e) = self.literal()?;
                    out.extend_from_slice(&self.input[s..e]);
                }
            }
            // After a value: close containers or continue with the next member.
            loop {
                let Some(&is_object) = stack.last() else {
                    return Ok(());
                };
                self.skip_ws();
                match self.peek() {
                    Some(b',') => {
                        self.pos += 1;
                        out.push(b',');
                        if is_object {
                            self.minify_key(out)?;
                        }
                        break;
                    }
                    Some(b'}') if is_object => {
                        self.pos += 1;
                        out.push(b'}');
                        stack.pop();
                    }
                    Some(b']') if !is_object => {
                        self.pos += 1;
                        out.push(b']');
                        stack.pop();
                    }
                    _ => {
                        return Err(self.error(if is_object {
                            "',' or '}'"
                        } else {
                            "',' or ']'"
                        }))
                    }
                }
            }
        }
    }

    fn minify_key(&mut self, out: &mut Vec<u8>) -> Fallible<()> {
        self.skip_ws();
        let (s, e, _) = self.string()?;
        out.extend_from_slice(&self.input[s - 1..=e]);
        self.expect(b':', "':' after an object key")?;
        out.push(b':');
        Ok(())
    }
}

/// Decode the content of a JSON string (between the quotes) into UTF-8 bytes.
pub(crate) fn unescape(raw: &[u8], out: &mut Vec<u8>) {
    let mut i = 0;
    while i < raw.len() {
        let b = raw[i];
        if b != b'\\' {
            out.push(b);
            i += 1;
            continue;
        }
        let esc = raw.get(i + 1).copied().unwrap_or(b'\\');
        i += 2;
        let simple = match esc {
            b'"' => Some(b'"'),
            b'\\' => Some(b'\\'),
            b'/' => Some(b'/'),
            b'b' => Some(0x08),
            b'f' => Some(0x0c),
            b'n' => Some(b'\n'),
            b'r' => Some(b'\r'),
            b't' => Some(b'\t'),
            _ => None,
        };
        if let Some(c) = simple {
            out.push(c);
            continue;
        }
        // \uXXXX, possibly a surrogate pair (validated by the scanner: 4 hex digits).
        let hex = |at: usize| -> u32 {
            std::str::from_utf8(raw.get(at..at + 4).unwrap_or(b"fffd"))
                .ok()
                .and_then(|h| u32::from_str_radix(h, 16).ok())
                .unwrap_or(0xfffd)
        };
        let mut code = hex(i);
        i += 4;
        if (0xd800..0xdc00).contains(&code) && raw.get(i..i + 2) == Some(b"\\u") {
            let low = hex(i + 2);
            if (0xdc00..0xe000).contains(&low) {
                code = 0x10000 + ((code - 0xd800) << 10) + (low - 0xdc00);
                i += 6;
            }
        }
        let c = char::from_u32(code).unwrap_or('\u{fffd}');
        let mut buf = [0u8; 4];
        out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
    }
}

/// Append `bytes` to `out` as a JSON string (quoted, escaped).
pub(crate) fn write_json_string(out: &mut Vec<u8>, bytes: &[u8]) {
    if !bytes.iter().any(|&b| STRING_SPECIAL[b as usize]) {
        // Nothing to escape (every normalised key): one copy.
        out.reserve(bytes.len() + 2);
        out.push(b'"');
        out.extend_from_slice(bytes);
        out.push(b'"');
        return;
    }
    out.push(b'"');
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escape: Option<&[u8]> = match b {
            b'"' => Some(b"\\\""),
            b'\\' => Some(b"\\\\"),
            b'\n' => Some(b"\\n"),
            b'\r' => Some(b"\\r"),
            b'\t' => Some(b"\\t"),
            0x00..=0x1f => None,
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        match escape {
            Some(e) => out.extend_from_slice(e),
            None => out.extend_from_slice(format!("\\u{b:04x}").as_bytes()),
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}
