//! A resumable JSON minifier for the common case of a large reply: fed the
//! bytes of one message as they arrive, it writes the message compact
//! (whitespace between tokens dropped) and notes where each top-level
//! member's value is, so that when the last byte comes almost nothing is
//! left to do (QEMU sends a large reply in bursts, tens of milliseconds
//! apart).
//!
//! It takes only a strict subset of JSON whose compact form is exactly
//! what serde_json writes ([`crate::output::compact`]): printable ASCII in
//! strings and no escapes, integers of at most 18 digits without a leading
//! zero or `-0`, the three literals. Anything else (a float, an escape,
//! invalid JSON) makes it give up, and the caller parses the message as
//! before: it never decides that a message is invalid, it only declines.

/// A top-level member: its key, and its value's span in the compact text.
pub(crate) type Member = (String, usize, usize);

/// Where a minifier is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Before the message's `{` (leading whitespace is skipped).
    Start,
    /// After `{`: a key or `}`.
    KeyOrClose,
    /// After `,` in an object: a key.
    Key,
    /// After a key: `:`.
    Colon,
    /// After `[`: a value or `]`.
    ValueOrClose,
    /// A value.
    Value,
    /// Inside a string (a key when `key`).
    Str { key: bool },
    /// Inside an integer: digits so far, whether the first is 0.
    Num { digits: u8, zero: bool, minus: bool },
    /// Inside `true`, `false` or `null`: the rest to match.
    Lit { rest: &'static [u8] },
    /// After a value: `,` or the container's close.
    After,
    /// The message is complete.
    Done,
    /// Declined: the caller parses the message itself.
    Declined,
}

/// The minifier of one message (see the module's documentation).
#[derive(Debug)]
pub(crate) struct Minifier {
    out: Vec<u8>,
    /// Open containers: `{` or `[`.
    stack: Vec<u8>,
    state: State,
    /// Bytes of the message taken so far, and how many of them led it
    /// (whitespace before the `{`).
    fed: usize,
    leading: usize,
    /// The top-level members: the key, and the value's span in `out`.
    members: Vec<Member>,
    key_start: usize,
    value_start: usize,
}

/// The deepest nesting the minifier takes.
const MAX_DEPTH: usize = 64;

/// The most digits an integer may have (so that it fits in 64 bits, as
/// serde_json keeps integers).
const MAX_DIGITS: u8 = 18;

impl Minifier {
    pub(crate) fn new() -> Self {
        Minifier {
            out: Vec::new(),
            stack: Vec::new(),
            state: State::Start,
            fed: 0,
            leading: 0,
            members: Vec::new(),
            key_start: 0,
            value_start: 0,
        }
    }

    /// Takes the bytes of `message` (the buffer from the message's start,
    /// growing between calls) that it has not seen yet, up to the end of
    /// the message.
    pub(crate) fn feed_from(&mut self, message: &[u8]) {
        if self.fed >= message.len() {
            return;
        }
        let new = &message[self.fed..];
        // The body of a string is copied in one go up to its end.
        self.out.reserve(new.len());
        let mut i = 0;
        while i < new.len() {
            if matches!(self.state, State::Done | State::Declined) {
                break;
            }
            if let State::Str { key } = self.state {
                let rest = &new[i..];
                let n = rest
                    .iter()
                    .position(|&c| c == b'"' || c == b'\\' || !(0x20..0x7f).contains(&c))
                    .unwrap_or(rest.len());
                self.out.extend_from_slice(&rest[..n]);
                i += n;
                let Some(&c) = new.get(i) else { break };
                if c != b'"' {
                    self.state = State::Declined;
                    break;
                }
                self.out.push(b'"');
                i += 1;
                self.end_string(key);
                continue;
            }
            if self.step(new[i]) {
                i += 1;
            }
        }
        self.fed += i;
    }

    /// A string ended.
    fn end_string(&mut self, key: bool) {
        if key {
            self.state = State::Colon;
        } else {
            self.end_value();
        }
    }

    /// A value ended (a scalar, or a container closed).
    fn end_value(&mut self) {
        if self.stack.len() == 1 {
            // A top-level member's value: its key is out[key_start..] up to
            // the quote before the ':'.
            let key_end = self.value_start - 2;
            let key = String::from_utf8_lossy(&self.out[self.key_start + 1..key_end]).into_owned();
            self.members.push((key, self.value_start, self.out.len()));
        }
        self.state = State::After;
    }

    fn open(&mut self, c: u8) {
        // Deep nesting is for serde_json to refuse (its recursion limit is
        // 128): the minifier declines well before it.
        if self.stack.len() >= MAX_DEPTH {
            self.state = State::Declined;
            return;
        }
        self.stack.push(c);
        self.out.push(c);
        self.state = if c == b'{' {
            State::KeyOrClose
        } else {
            State::ValueOrClose
        };
    }

    fn close(&mut self, c: u8) {
        let want = if c == b'}' { b'{' } else { b'[' };
        if self.stack.pop() != Some(want) {
            self.state = State::Declined;
            return;
        }
        self.out.push(c);
        if self.stack.is_empty() {
            self.state = State::Done;
        } else {
            self.end_value();
        }
    }

    /// The start of a value at `c`.
    fn value(&mut self, c: u8) {
        if self.stack.len() == 1 {
            self.value_start = self.out.len();
        }
        match c {
            b'{' | b'[' => self.open(c),
            b'"' => {
                self.out.push(c);
                self.state = State::Str { key: false };
            }
            b'-' => {
                self.out.push(c);
                self.state = State::Num {
                    digits: 0,
                    zero: false,
                    minus: true,
                };
            }
            b'0'..=b'9' => {
                self.out.push(c);
                self.state = State::Num {
                    digits: 1,
                    zero: c == b'0',
                    minus: false,
                };
            }
            b't' | b'f' | b'n' => {
                self.out.push(c);
                let rest: &'static [u8] = match c {
                    b't' => b"rue",
                    b'f' => b"alse",
                    _ => b"ull",
                };
                self.state = State::Lit { rest };
            }
            _ => self.state = State::Declined,
        }
    }

    /// One byte outside a string body; `false` when the byte must be seen
    /// again in the new state (the end of a number).
    fn step(&mut self, c: u8) -> bool {
        let ws = matches!(c, b' ' | b'\t' | b'\n' | b'\r');
        match self.state {
            State::Start if ws => self.leading += 1,
            State::Start if c == b'{' => self.open(c),
            State::KeyOrClose
            | State::Key
            | State::Colon
            | State::ValueOrClose
            | State::Value
            | State::After
                if ws => {}
            State::KeyOrClose if c == b'}' => self.close(c),
            State::KeyOrClose | State::Key if c == b'"' => {
                if self.stack.len() == 1 {
                    self.key_start = self.out.len();
                }
                self.out.push(c);
                self.state = State::Str { key: true };
            }
            State::Colon if c == b':' => {
                self.out.push(c);
                self.state = State::Value;
            }
            State::ValueOrClose if c == b']' => self.close(c),
            State::ValueOrClose | State::Value => self.value(c),
            State::Num {
                digits,
                zero,
                minus,
            } => {
                if c.is_ascii_digit() {
                    if zero || digits >= MAX_DIGITS {
                        self.state = State::Declined; // 01, -0..., too long
                    } else {
                        self.out.push(c);
                        self.state = State::Num {
                            digits: digits + 1,
                            zero: digits == 0 && c == b'0',
                            minus,
                        };
                    }
                    return true;
                }
                // -0 is 0 to serde_json; fractions and exponents are floats.
                if digits == 0 || (minus && zero) || matches!(c, b'.' | b'e' | b'E') {
                    self.state = State::Declined;
                    return true;
                }
                self.end_value();
                return false;
            }
            State::Lit { rest } => match rest.split_first() {
                Some((&want, more)) if want == c => {
                    self.out.push(c);
                    if more.is_empty() {
                        self.end_value();
                    } else {
                        self.state = State::Lit { rest: more };
                    }
                }
                _ => self.state = State::Declined,
            },
            State::After if c == b',' => {
                self.out.push(c);
                self.state = if self.stack.last() == Some(&b'{') {
                    State::Key
                } else {
                    State::Value
                };
            }
            State::After if c == b'}' || c == b']' => self.close(c),
            _ => self.state = State::Declined,
        }
        true
    }

    /// The compact message and its top-level members (key, value span in
    /// the text), when the message is complete, in the subset, and exactly
    /// `len` bytes long after its leading whitespace (what the framing
    /// found); else `None`.
    pub(crate) fn finish(&mut self, len: usize) -> Option<(Vec<u8>, Vec<Member>)> {
        (self.state == State::Done && self.fed - self.leading == len).then(|| {
            (
                std::mem::take(&mut self.out),
                std::mem::take(&mut self.members),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn minify(text: &str) -> Option<String> {
        let mut m = Minifier::new();
        // In pieces of every size, as the socket may give them.
        for cut in [1, 2, 7, 4096] {
            let mut m2 = Minifier::new();
            let mut end = 0;
            while end < text.len() {
                end = (end + cut).min(text.len());
                m2.feed_from(&text.as_bytes()[..end]);
            }
            let whole = {
                m.feed_from(text.as_bytes());
                m.out.clone()
            };
            assert_eq!(m2.out, whole, "pieces of {cut}: {text}");
        }
        let len = text.trim_start().len();
        m.finish(len)
            .map(|(out, _)| String::from_utf8(out).unwrap())
    }

    #[test]
    fn the_subset_comes_out_as_serde_json_writes_it() {
        for text in [
            r#"{"return": {}}"#,
            r#"  {"return": [], "id": 3}"#,
            r#"{"return": [{"name": "x", "meta-type": "object", "members": [{"name": "a", "default": null}]}]}"#,
            r#"{ "a" : [ 1 , -2 , 0 , 123456789012345678 , true , false , null , "s p a c e" ] }"#,
            r#"{"return": {"nested": {"deep": [[[], {}], [{"k": "v"}]]}}}"#,
        ] {
            let want = crate::output::compact(text).unwrap();
            assert_eq!(minify(text).as_deref(), Some(want.as_str()), "{text}");
        }
    }

    #[test]
    fn it_declines_what_serde_json_might_write_otherwise() {
        for text in [
            r#"{"a": "\u00e9"}"#,
            r#"{"a": "\n"}"#,
            "{\"a\": \"é\"}",
            r#"{"a": 1.5}"#,
            r#"{"a": 1e3}"#,
            r#"{"a": -0}"#,
            r#"{"a": 01}"#,
            r#"{"a": 1234567890123456789}"#,
            r#"{"a": tru}"#,
            r#"{"a" 1}"#,
            r#"{"a": [1,]}"#,
            r#"{"a": [1 2]}"#,
            r#"{"a": {]}"#,
            r#"{"a": -}"#,
            r#"["a"]"#,
            r#"{"a": 1}}"#,
            &format!("{{\"a\": {}{}}}", "[".repeat(200), "]".repeat(200)),
        ] {
            // (The last one is a whole message and then more: the framing
            // would end it earlier, so the length does not match.)
            assert_eq!(minify(text), None, "{text}");
        }
    }

    #[test]
    fn it_notes_the_top_level_members() {
        let text = r#"{"return": [1, {"a": 2}], "id": "x", "return": 5}"#;
        let mut m = Minifier::new();
        m.feed_from(text.as_bytes());
        let (out, members) = m.finish(text.len()).unwrap();
        let got: Vec<(String, &str)> = members
            .iter()
            .map(|(k, a, b)| (k.clone(), std::str::from_utf8(&out[*a..*b]).unwrap()))
            .collect();
        assert_eq!(
            got,
            [
                ("return".to_string(), "[1,{\"a\":2}]"),
                ("id".to_string(), "\"x\""),
                ("return".to_string(), "5"),
            ]
        );
    }

    #[test]
    fn it_stops_at_the_end_of_the_message() {
        let text = "{\"a\": 1}\r\n{\"event\": \"X\"}";
        let mut m = Minifier::new();
        m.feed_from(text.as_bytes());
        assert_eq!(m.fed, 8);
        assert_eq!(m.finish(8).map(|(o, _)| o), Some(b"{\"a\":1}".to_vec()));
    }

    /// Random documents in QEMU's spacing: where the minifier takes one,
    /// its output is serde_json's compact text; it takes every one without
    /// floats, escapes and non-ASCII.
    #[test]
    fn random_documents_agree_with_serde_json() {
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        fn doc(next: &mut dyn FnMut(u64) -> u64, depth: u32, plain: &mut bool) -> String {
            let pick = if depth > 3 { next(6) } else { next(8) };
            match pick {
                0 => "null".into(),
                1 => ["true", "false"][next(2) as usize].into(),
                2 => {
                    let v = next(1 << 40) as i64 - (1 << 39);
                    v.to_string()
                }
                3 => {
                    *plain = false;
                    format!("{}.{}", next(100), next(100) + 1)
                }
                4 => {
                    let words = ["a", "b c", "\\n", "\\u00e9", "x-y", ""];
                    let w = words[next(words.len() as u64) as usize];
                    if w.contains('\\') {
                        *plain = false;
                    }
                    format!("\"{w}\"")
                }
                5 => "{}".into(),
                6 => {
                    let n = next(4);
                    let items: Vec<String> = (0..n).map(|_| doc(next, depth + 1, plain)).collect();
                    format!("[{}]", items.join(", "))
                }
                _ => {
                    let n = next(4);
                    let items: Vec<String> = (0..n)
                        .map(|i| format!("\"k{i}\": {}", doc(next, depth + 1, plain)))
                        .collect();
                    format!("{{{}}}", items.join(", "))
                }
            }
        }
        for _ in 0..2000 {
            let mut plain = true;
            let text = format!(
                "{{\"return\": {}, \"id\": 1}}",
                doc(&mut next, 0, &mut plain)
            );
            let want = crate::output::compact(&text).unwrap();
            let got = minify(&text);
            if plain {
                assert_eq!(got.as_deref(), Some(want.as_str()), "{text}");
            } else if let Some(got) = got {
                assert_eq!(got, want, "{text}");
            }
        }
    }
}
