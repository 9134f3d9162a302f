//! A reader of the common case of JSON text, for the reply that is read
//! most and is largest: `query-qmp-schema` (some 45,000 strings on q35).
//!
//! It takes strings without escapes (borrowed from the text), `true` and
//! `false`, and skips any other value by its structure. It never reports
//! an error: on anything it does not take (an escape, a control character,
//! a float, deep nesting, or text that is not JSON) it gives up with
//! `None`, and the caller parses the text with serde_json, which takes or
//! rejects everything. What it takes it must therefore read exactly as
//! serde_json would; what it gives up on costs one parse more.

/// Nesting it follows when skipping a value (serde_json's limit is 128).
const MAX_DEPTH: usize = 64;

/// A position in JSON text.
pub(crate) struct Reader<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(text: &'a str) -> Self {
        Reader { text, pos: 0 }
    }

    /// Where it is in the text.
    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    fn bytes(&self) -> &'a [u8] {
        self.text.as_bytes()
    }

    #[inline]
    fn ws(&mut self) {
        // Whitespace is below '!': most bytes leave at the first test.
        while let Some(&b) = self.bytes().get(self.pos)
            && b <= b' '
            && matches!(b, b' ' | b'\t' | b'\n' | b'\r')
        {
            self.pos += 1;
        }
    }

    /// Takes `byte` (after any whitespace) if it comes next.
    #[inline]
    pub(crate) fn eat(&mut self, byte: u8) -> bool {
        self.ws();
        if self.bytes().get(self.pos) == Some(&byte) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    /// Takes `byte`, which must come next.
    pub(crate) fn expect(&mut self, byte: u8) -> Option<()> {
        self.eat(byte).then_some(())
    }

    /// Whether only whitespace is left.
    #[cfg(test)]
    pub(crate) fn at_end(&mut self) -> bool {
        self.ws();
        self.pos == self.text.len()
    }

    /// A string without escapes or control characters.
    #[inline]
    pub(crate) fn str(&mut self) -> Option<&'a str> {
        if !self.eat(b'"') {
            return None;
        }
        let start = self.pos;
        let len = string_end(&self.bytes()[start..])?;
        if self.bytes()[start + len] != b'"' {
            return None;
        }
        self.pos = start + len + 1;
        // Both ends are next to an ASCII quote: character boundaries.
        self.text.get(start..start + len)
    }

    /// `true` or `false`.
    pub(crate) fn bool(&mut self) -> Option<bool> {
        self.ws();
        let rest = &self.bytes()[self.pos..];
        if rest.starts_with(b"true") {
            self.pos += 4;
            Some(true)
        } else if rest.starts_with(b"false") {
            self.pos += 5;
            Some(false)
        } else {
            None
        }
    }

    /// Reads a list: `each` reads one element; `None` when an element or
    /// the list's punctuation is not taken.
    pub(crate) fn list(&mut self, mut each: impl FnMut(&mut Self) -> Option<()>) -> Option<()> {
        self.expect(b'[')?;
        if self.eat(b']') {
            return Some(());
        }
        loop {
            each(self)?;
            if !self.eat(b',') {
                return self.expect(b']');
            }
        }
    }

    /// Reads an object: `each` reads the value of the member named by its
    /// key.
    pub(crate) fn object(
        &mut self,
        mut each: impl FnMut(&mut Self, &'a str) -> Option<()>,
    ) -> Option<()> {
        self.expect(b'{')?;
        if self.eat(b'}') {
            return Some(());
        }
        loop {
            let key = self.str()?;
            self.expect(b':')?;
            each(self, key)?;
            if !self.eat(b',') {
                return self.expect(b'}');
            }
        }
    }

    /// A list of strings, each made a `T` (`String`, a schema's name).
    pub(crate) fn strings<T: From<&'a str>>(&mut self) -> Option<Vec<T>> {
        let mut out = Vec::new();
        self.list(|r| {
            out.push(T::from(r.str()?));
            Some(())
        })?;
        Some(out)
    }

    /// Skips one value; its text.
    pub(crate) fn skip(&mut self) -> Option<&'a str> {
        self.ws();
        let start = self.pos;
        self.skip_at(0)?;
        self.text.get(start..self.pos)
    }

    fn skip_at(&mut self, depth: usize) -> Option<()> {
        if depth >= MAX_DEPTH {
            return None;
        }
        self.ws();
        match *self.bytes().get(self.pos)? {
            b'"' => self.str().map(drop),
            b'[' => self.list(|r| r.skip_at(depth + 1)),
            b'{' => self.object(|r, _| r.skip_at(depth + 1)),
            b't' | b'f' => self.bool().map(drop),
            b'n' if self.bytes()[self.pos..].starts_with(b"null") => {
                self.pos += 4;
                Some(())
            }
            b'-' | b'0'..=b'9' => self.integer(),
            _ => None,
        }
    }

    /// An integer of at most 18 digits (any JSON number serde_json takes
    /// exactly; fractions and exponents are left to it).
    fn integer(&mut self) -> Option<()> {
        let bytes = self.bytes();
        let mut at = self.pos + usize::from(bytes[self.pos] == b'-');
        let digits = bytes[at..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count();
        if digits == 0 || digits > 18 || (digits > 1 && bytes[at] == b'0') {
            return None;
        }
        at += digits;
        if let Some(b'.' | b'e' | b'E') = bytes.get(at) {
            return None;
        }
        self.pos = at;
        Some(())
    }
}

const ONES: u64 = u64::from_ne_bytes([1; 8]);
const HIGH: u64 = u64::from_ne_bytes([0x80; 8]);

/// The high bit of each byte of `v` that is zero (the lowest one flagged is
/// always a true zero; those above it may not be).
fn zero_bytes(v: u64) -> u64 {
    v.wrapping_sub(ONES) & !v & HIGH
}

/// The high bit of each byte of `v` below 0x20 (the same caveat).
fn control_bytes(v: u64) -> u64 {
    v.wrapping_sub(ONES * 0x20) & !v & HIGH
}

/// Where the first of the bytes that `flag` flags in a word is, eight bytes
/// at a time, the tail one by one with `is`.
fn find(s: &[u8], flag: impl Fn(u64) -> u64, is: impl Fn(u8) -> bool) -> Option<usize> {
    let mut chunks = s.chunks_exact(8);
    let mut at = 0;
    for chunk in &mut chunks {
        let w = u64::from_le_bytes(chunk.try_into().unwrap_or([0; 8]));
        let found = flag(w);
        if found != 0 {
            return Some(at + (found.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    chunks
        .remainder()
        .iter()
        .position(|&c| is(c))
        .map(|i| at + i)
}

/// Where the first '"' or '\\' of `s` is (the scanner's search in a
/// string's body).
pub(crate) fn quote_or_backslash(s: &[u8]) -> Option<usize> {
    find(
        s,
        |w| zero_bytes(w ^ (ONES * u64::from(b'"'))) | zero_bytes(w ^ (ONES * u64::from(b'\\'))),
        |c| c == b'"' || c == b'\\',
    )
}

/// Where a string's body ends: the first '"', '\\' or control character.
#[inline]
fn string_end(s: &[u8]) -> Option<usize> {
    find(
        s,
        |w| {
            zero_bytes(w ^ (ONES * u64::from(b'"')))
                | zero_bytes(w ^ (ONES * u64::from(b'\\')))
                | control_bytes(w)
        },
        |c| c == b'"' || c == b'\\' || c < 0x20,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    #[test]
    fn searches_find_the_first_of_their_bytes() {
        // Every place and mix, in and across words, against the plain search.
        let mut text = Vec::new();
        for i in 0..40u8 {
            text.push(match i % 7 {
                0 if i % 3 == 0 => b'"',
                3 => b'\\',
                5 if i % 2 == 0 => i % 0x20,
                _ => b'a' + i % 26,
            });
        }
        text.extend_from_slice(&[0x80, 0xff, 0x22 ^ 0x80, 0x5c ^ 0x80, 0x9f, 0x21, 0x23, 0x20]);
        for from in 0..text.len() {
            for to in from..=text.len() {
                let s = &text[from..to];
                let want = s.iter().position(|&c| c == b'"' || c == b'\\');
                assert_eq!(quote_or_backslash(s), want, "{from}..{to}");
                let want = s.iter().position(|&c| c == b'"' || c == b'\\' || c < 0x20);
                assert_eq!(string_end(s), want, "{from}..{to}");
            }
        }
    }

    /// What the reader skips as a value: its text, when it takes it.
    fn skipped(text: &str) -> Option<&str> {
        let mut r = Reader::new(text);
        let v = r.skip()?;
        r.at_end().then_some(v)
    }

    #[test]
    fn takes_only_what_serde_json_takes() {
        for text in [
            r#"{"a": [1, -2, 0, true, false, null, "x"], "b": {}, "c": []}"#,
            " [ {\"k\" :\t\"v\"\r\n} ] ",
            "123456789012345678",
            r#""é and ü""#,
        ] {
            let got = skipped(text).unwrap_or_else(|| panic!("gave up on {text}"));
            assert!(serde_json::from_str::<Value>(text).is_ok(), "{text}");
            assert_eq!(got, text.trim());
        }
        // Given up on: left to serde_json (valid or not).
        for text in [
            r#""a\"b""#,
            "\"tab\tin\"",
            "1.5",
            "1e3",
            "1234567890123456789",
            "01",
            "-",
            "[1,]",
            "[1 2]",
            r#"{"a" 1}"#,
            r#"{"a": 1,}"#,
            "nul",
            "tru",
            "[",
            "",
            "{\"a\": 1} x",
            &"[".repeat(70),
        ] {
            assert_eq!(skipped(text), None, "{text:?}");
        }
    }

    #[test]
    fn reads_lists_objects_and_strings() {
        let mut r = Reader::new(r#" {"l": ["a", "b"], "t": true, "x": {"y": [null]}} "#);
        let mut got = Vec::new();
        r.object(|r, key| {
            match key {
                "l" => got.extend(r.strings()?),
                "t" => got.push(r.bool()?.to_string()),
                _ => got.push(r.skip()?.to_owned()),
            }
            Some(())
        })
        .unwrap();
        assert!(r.at_end());
        assert_eq!(got, ["a", "b", "true", r#"{"y": [null]}"#]);
    }
}
