//! Python's `str()` and `repr()` of JSON values, byte for byte.
//!
//! QEMU's Python QOM tools (`qom-get`, `qom-tree`, ...) print the values they
//! get from QMP, which Python's `json` module parsed, with `print()`: `str()`
//! at top level (a string bare, `True`, `None`, `1.5`) and `repr()` inside
//! lists and dicts (`['a', "it's", 1e-05]`, `{'k': None}`). The functions
//! here reproduce that output for a [`Value`] exactly as CPython 3.11 does,
//! so that our tools and scripts written against QEMU's stay interchangeable.
//!
//! What CPython prints depends on the object `json.loads` builds, and a few
//! JSON texts build different objects in Python and in serde_json: integers
//! beyond the `u64`/`i64` range (exact `int` in Python, `f64` here), `-0`
//! (`int` 0 in Python, `-0.0` here), and `NaN`/`Infinity` (accepted by Python
//! only). Everything that parses to the same value prints the same; note
//! that without serde_json's `float_roundtrip` feature its float parser can
//! be one ULP off for long inputs (`9.120000000000001` becomes `9.12`), and
//! then the digits printed here differ from Python's, which parses exactly.
//!
//! Rendering is iterative: no input, however deeply nested, can overflow the
//! stack, and nothing here panics.

use serde_json::{Map, Number, Value};

/// Python's `str()` of the object that `json.loads` makes of `v`.
///
/// A string is returned as it is; anything else as [`py_repr`] would render
/// it (`True`, `False`, `None`, `42`, `0.1`, `['a', 1]`, `{'k': 'v'}`).
pub fn py_str(v: &Value) -> String {
    let mut out = String::new();
    push_py_str(&mut out, v);
    out
}

/// Python's `repr()` of the object that `json.loads` makes of `v`.
///
/// Strings are quoted and escaped as CPython 3.11 does it, lists render as
/// `[a, b]`, objects as `{'k': v}` in member order, floats as
/// `float.__repr__` (`1.0`, `1e-05`, `1e+16`), integers exactly.
pub fn py_repr(v: &Value) -> String {
    let mut out = String::new();
    push_py_repr(&mut out, v);
    out
}

/// Appends [`py_str`] of `v` to `out`.
pub fn push_py_str(out: &mut String, v: &Value) {
    match v {
        Value::String(s) => out.push_str(s),
        v => push_py_repr(out, v),
    }
}

/// Appends [`py_repr`] of `v` to `out`.
pub fn push_py_repr(out: &mut String, v: &Value) {
    /// Pending output: a value still to render, or fixed text.
    enum Work<'a> {
        Value(&'a Value),
        Key(&'a str),
        Text(&'static str),
    }
    let mut stack = vec![Work::Value(v)];
    while let Some(work) = stack.pop() {
        match work {
            Work::Text(t) => out.push_str(t),
            Work::Key(k) => push_repr_str(out, k),
            Work::Value(Value::Null) => out.push_str("None"),
            Work::Value(Value::Bool(true)) => out.push_str("True"),
            Work::Value(Value::Bool(false)) => out.push_str("False"),
            Work::Value(Value::Number(n)) => push_repr_number(out, n),
            Work::Value(Value::String(s)) => push_repr_str(out, s),
            Work::Value(Value::Array(items)) => {
                out.push('[');
                stack.push(Work::Text("]"));
                for (i, item) in items.iter().enumerate().rev() {
                    stack.push(Work::Value(item));
                    if i > 0 {
                        stack.push(Work::Text(", "));
                    }
                }
            }
            Work::Value(Value::Object(members)) => {
                out.push('{');
                stack.push(Work::Text("}"));
                for (i, (key, value)) in members.iter().enumerate().rev() {
                    stack.push(Work::Value(value));
                    stack.push(Work::Text(": "));
                    stack.push(Work::Key(key));
                    if i > 0 {
                        stack.push(Work::Text(", "));
                    }
                }
            }
        }
    }
}

/// What QEMU's `qom-get` prints for the value a `qom-get` command returned.
///
/// An object prints one `key: value` line per member, in member order, the
/// key bare and the value as [`py_str`] (so `{}` prints nothing at all);
/// anything else prints one line of [`py_str`]. Every line ends in `\n`.
/// This is Python's `for key, value in rsp.items(): print(f"{key}: {value}")`
/// for a dict and `print(rsp)` otherwise.
pub fn qom_get_text(v: &Value) -> String {
    let mut out = String::new();
    match v {
        Value::Object(members) => push_members(&mut out, members),
        v => {
            push_py_str(&mut out, v);
            out.push('\n');
        }
    }
    out
}

/// Appends one `key: str(value)` line per member.
fn push_members(out: &mut String, members: &Map<String, Value>) {
    for (key, value) in members {
        out.push_str(key);
        out.push_str(": ");
        push_py_str(out, value);
        out.push('\n');
    }
}

/// Appends Python's repr of a JSON number: an `int` for integers, else a
/// `float`.
fn push_repr_number(out: &mut String, n: &Number) {
    if let Some(u) = n.as_u64() {
        out.push_str(&u.to_string());
    } else if let Some(i) = n.as_i64() {
        out.push_str(&i.to_string());
    } else if let Some(f) = n.as_f64() {
        push_repr_float(out, f);
    } else {
        // Not reachable with serde_json's features as this crate uses them;
        // the number's own text is the best guess otherwise.
        out.push_str(&n.to_string());
    }
}

/// Appends Python's `float.__repr__` of `f`: the shortest digits that round
/// trip, in positional notation when the decimal exponent is in `-4..16`
/// (always with a fractional part, `1.0`), else as `d.ddde±XX`.
fn push_repr_float(out: &mut String, f: f64) {
    if f.is_nan() {
        out.push_str("nan");
        return;
    }
    if f.is_infinite() {
        out.push_str(if f < 0.0 { "-inf" } else { "inf" });
        return;
    }
    // Rust's `{:e}` without a precision gives the shortest digits that
    // round-trip, as Python's repr does: "-1.2345e-7", "1e16", "0e0". When
    // two such strings are equally near the exact value (1353410483388284.25
    // has 17 digits either way), Rust rounds the last digit up and Python to
    // even ("...84.2"). Rust's fixed-precision form is correctly rounded with
    // ties to even, so with the same digit count it is Python's answer
    // whenever it too reads back as `f`.
    let mut sci = format!("{f:e}");
    let count = sci
        .bytes()
        .take_while(|b| *b != b'e')
        .filter(u8::is_ascii_digit)
        .count();
    let even = format!("{f:.prec$e}", prec = count.saturating_sub(1));
    if even != sci && even.parse::<f64>().map(f64::to_bits) == Ok(f.to_bits()) {
        sci = even;
    }
    let (mantissa, exp) = match sci.split_once('e') {
        Some((m, e)) => (m, e.parse::<i32>().unwrap_or(0)),
        None => (sci.as_str(), 0),
    };
    let (negative, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => (true, m),
        None => (false, mantissa),
    };
    if negative {
        out.push('-');
    }
    if !(-4..16).contains(&exp) {
        out.push_str(mantissa);
        out.push('e');
        out.push(if exp < 0 { '-' } else { '+' });
        let abs = exp.unsigned_abs();
        if abs < 10 {
            out.push('0');
        }
        out.push_str(&abs.to_string());
        return;
    }
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    // Digits before the decimal point; `exp` is in -4..16 here.
    let point = exp + 1;
    if point <= 0 {
        out.push_str("0.");
        for _ in point..0 {
            out.push('0');
        }
        out.push_str(&digits);
    } else {
        let point = point.unsigned_abs() as usize;
        if point < digits.len() {
            let (int, frac) = digits.split_at(point);
            out.push_str(int);
            out.push('.');
            out.push_str(frac);
        } else {
            out.push_str(&digits);
            for _ in digits.len()..point {
                out.push('0');
            }
            out.push_str(".0");
        }
    }
}

/// Appends CPython's `str.__repr__` of `s`.
///
/// The quote is `'` unless `s` contains `'` and no `"`. The quote itself and
/// `\` are escaped with a backslash; tab, newline and carriage return as
/// `\t`, `\n`, `\r`; other characters that `str.isprintable()` rejects as
/// `\xNN`, `\uNNNN` or `\UNNNNNNNN` (lower-case hex); everything else, ASCII
/// or not, is kept.
fn push_repr_str(out: &mut String, s: &str) {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    out.reserve(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        let code = u32::from(c);
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            ' '..='~' => out.push(c),
            c if code >= 0x80 && is_printable(c) => out.push(c),
            _ if code <= 0xff => push_hex_escape(out, 'x', code, 2),
            _ if code <= 0xffff => push_hex_escape(out, 'u', code, 4),
            _ => push_hex_escape(out, 'U', code, 8),
        }
    }
    out.push(quote);
}

/// Appends `\` `kind` and `width` lower-case hex digits of `code`.
fn push_hex_escape(out: &mut String, kind: char, code: u32, width: u32) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push('\\');
    out.push(kind);
    for i in (0..width).rev() {
        let nibble = (code >> (4 * i)) & 0xf;
        out.push(char::from(HEX[nibble as usize]));
    }
}

/// Whether CPython 3.11's `str.isprintable()` accepts the non-ASCII `c`:
/// it rejects Unicode 14.0 categories Cc, Cf, Cs, Co, Cn, Zl, Zp and Zs.
fn is_printable(c: char) -> bool {
    let code = u32::from(c);
    NON_PRINTABLE
        .binary_search_by(|&(lo, hi)| {
            if hi < code {
                std::cmp::Ordering::Less
            } else if lo > code {
                std::cmp::Ordering::Greater
            } else {
                std::cmp::Ordering::Equal
            }
        })
        .is_err()
}

/// The non-ASCII code points CPython 3.11 (Unicode 14.0.0) considers not
/// printable, as sorted, disjoint, inclusive ranges. Generated with
/// `not chr(c).isprintable()` for every code point from U+0080 up
/// (surrogates included, though a `char` never is one).
#[rustfmt::skip]
const NON_PRINTABLE: &[(u32, u32)] = &[
    (0x0080, 0x00a0), (0x00ad, 0x00ad), (0x0378, 0x0379), (0x0380, 0x0383), (0x038b, 0x038b),
    (0x038d, 0x038d), (0x03a2, 0x03a2), (0x0530, 0x0530), (0x0557, 0x0558), (0x058b, 0x058c),
    (0x0590, 0x0590), (0x05c8, 0x05cf), (0x05eb, 0x05ee), (0x05f5, 0x0605), (0x061c, 0x061c),
    (0x06dd, 0x06dd), (0x070e, 0x070f), (0x074b, 0x074c), (0x07b2, 0x07bf), (0x07fb, 0x07fc),
    (0x082e, 0x082f), (0x083f, 0x083f), (0x085c, 0x085d), (0x085f, 0x085f), (0x086b, 0x086f),
    (0x088f, 0x0897), (0x08e2, 0x08e2), (0x0984, 0x0984), (0x098d, 0x098e), (0x0991, 0x0992),
    (0x09a9, 0x09a9), (0x09b1, 0x09b1), (0x09b3, 0x09b5), (0x09ba, 0x09bb), (0x09c5, 0x09c6),
    (0x09c9, 0x09ca), (0x09cf, 0x09d6), (0x09d8, 0x09db), (0x09de, 0x09de), (0x09e4, 0x09e5),
    (0x09ff, 0x0a00), (0x0a04, 0x0a04), (0x0a0b, 0x0a0e), (0x0a11, 0x0a12), (0x0a29, 0x0a29),
    (0x0a31, 0x0a31), (0x0a34, 0x0a34), (0x0a37, 0x0a37), (0x0a3a, 0x0a3b), (0x0a3d, 0x0a3d),
    (0x0a43, 0x0a46), (0x0a49, 0x0a4a), (0x0a4e, 0x0a50), (0x0a52, 0x0a58), (0x0a5d, 0x0a5d),
    (0x0a5f, 0x0a65), (0x0a77, 0x0a80), (0x0a84, 0x0a84), (0x0a8e, 0x0a8e), (0x0a92, 0x0a92),
    (0x0aa9, 0x0aa9), (0x0ab1, 0x0ab1), (0x0ab4, 0x0ab4), (0x0aba, 0x0abb), (0x0ac6, 0x0ac6),
    (0x0aca, 0x0aca), (0x0ace, 0x0acf), (0x0ad1, 0x0adf), (0x0ae4, 0x0ae5), (0x0af2, 0x0af8),
    (0x0b00, 0x0b00), (0x0b04, 0x0b04), (0x0b0d, 0x0b0e), (0x0b11, 0x0b12), (0x0b29, 0x0b29),
    (0x0b31, 0x0b31), (0x0b34, 0x0b34), (0x0b3a, 0x0b3b), (0x0b45, 0x0b46), (0x0b49, 0x0b4a),
    (0x0b4e, 0x0b54), (0x0b58, 0x0b5b), (0x0b5e, 0x0b5e), (0x0b64, 0x0b65), (0x0b78, 0x0b81),
    (0x0b84, 0x0b84), (0x0b8b, 0x0b8d), (0x0b91, 0x0b91), (0x0b96, 0x0b98), (0x0b9b, 0x0b9b),
    (0x0b9d, 0x0b9d), (0x0ba0, 0x0ba2), (0x0ba5, 0x0ba7), (0x0bab, 0x0bad), (0x0bba, 0x0bbd),
    (0x0bc3, 0x0bc5), (0x0bc9, 0x0bc9), (0x0bce, 0x0bcf), (0x0bd1, 0x0bd6), (0x0bd8, 0x0be5),
    (0x0bfb, 0x0bff), (0x0c0d, 0x0c0d), (0x0c11, 0x0c11), (0x0c29, 0x0c29), (0x0c3a, 0x0c3b),
    (0x0c45, 0x0c45), (0x0c49, 0x0c49), (0x0c4e, 0x0c54), (0x0c57, 0x0c57), (0x0c5b, 0x0c5c),
    (0x0c5e, 0x0c5f), (0x0c64, 0x0c65), (0x0c70, 0x0c76), (0x0c8d, 0x0c8d), (0x0c91, 0x0c91),
    (0x0ca9, 0x0ca9), (0x0cb4, 0x0cb4), (0x0cba, 0x0cbb), (0x0cc5, 0x0cc5), (0x0cc9, 0x0cc9),
    (0x0cce, 0x0cd4), (0x0cd7, 0x0cdc), (0x0cdf, 0x0cdf), (0x0ce4, 0x0ce5), (0x0cf0, 0x0cf0),
    (0x0cf3, 0x0cff), (0x0d0d, 0x0d0d), (0x0d11, 0x0d11), (0x0d45, 0x0d45), (0x0d49, 0x0d49),
    (0x0d50, 0x0d53), (0x0d64, 0x0d65), (0x0d80, 0x0d80), (0x0d84, 0x0d84), (0x0d97, 0x0d99),
    (0x0db2, 0x0db2), (0x0dbc, 0x0dbc), (0x0dbe, 0x0dbf), (0x0dc7, 0x0dc9), (0x0dcb, 0x0dce),
    (0x0dd5, 0x0dd5), (0x0dd7, 0x0dd7), (0x0de0, 0x0de5), (0x0df0, 0x0df1), (0x0df5, 0x0e00),
    (0x0e3b, 0x0e3e), (0x0e5c, 0x0e80), (0x0e83, 0x0e83), (0x0e85, 0x0e85), (0x0e8b, 0x0e8b),
    (0x0ea4, 0x0ea4), (0x0ea6, 0x0ea6), (0x0ebe, 0x0ebf), (0x0ec5, 0x0ec5), (0x0ec7, 0x0ec7),
    (0x0ece, 0x0ecf), (0x0eda, 0x0edb), (0x0ee0, 0x0eff), (0x0f48, 0x0f48), (0x0f6d, 0x0f70),
    (0x0f98, 0x0f98), (0x0fbd, 0x0fbd), (0x0fcd, 0x0fcd), (0x0fdb, 0x0fff), (0x10c6, 0x10c6),
    (0x10c8, 0x10cc), (0x10ce, 0x10cf), (0x1249, 0x1249), (0x124e, 0x124f), (0x1257, 0x1257),
    (0x1259, 0x1259), (0x125e, 0x125f), (0x1289, 0x1289), (0x128e, 0x128f), (0x12b1, 0x12b1),
    (0x12b6, 0x12b7), (0x12bf, 0x12bf), (0x12c1, 0x12c1), (0x12c6, 0x12c7), (0x12d7, 0x12d7),
    (0x1311, 0x1311), (0x1316, 0x1317), (0x135b, 0x135c), (0x137d, 0x137f), (0x139a, 0x139f),
    (0x13f6, 0x13f7), (0x13fe, 0x13ff), (0x1680, 0x1680), (0x169d, 0x169f), (0x16f9, 0x16ff),
    (0x1716, 0x171e), (0x1737, 0x173f), (0x1754, 0x175f), (0x176d, 0x176d), (0x1771, 0x1771),
    (0x1774, 0x177f), (0x17de, 0x17df), (0x17ea, 0x17ef), (0x17fa, 0x17ff), (0x180e, 0x180e),
    (0x181a, 0x181f), (0x1879, 0x187f), (0x18ab, 0x18af), (0x18f6, 0x18ff), (0x191f, 0x191f),
    (0x192c, 0x192f), (0x193c, 0x193f), (0x1941, 0x1943), (0x196e, 0x196f), (0x1975, 0x197f),
    (0x19ac, 0x19af), (0x19ca, 0x19cf), (0x19db, 0x19dd), (0x1a1c, 0x1a1d), (0x1a5f, 0x1a5f),
    (0x1a7d, 0x1a7e), (0x1a8a, 0x1a8f), (0x1a9a, 0x1a9f), (0x1aae, 0x1aaf), (0x1acf, 0x1aff),
    (0x1b4d, 0x1b4f), (0x1b7f, 0x1b7f), (0x1bf4, 0x1bfb), (0x1c38, 0x1c3a), (0x1c4a, 0x1c4c),
    (0x1c89, 0x1c8f), (0x1cbb, 0x1cbc), (0x1cc8, 0x1ccf), (0x1cfb, 0x1cff), (0x1f16, 0x1f17),
    (0x1f1e, 0x1f1f), (0x1f46, 0x1f47), (0x1f4e, 0x1f4f), (0x1f58, 0x1f58), (0x1f5a, 0x1f5a),
    (0x1f5c, 0x1f5c), (0x1f5e, 0x1f5e), (0x1f7e, 0x1f7f), (0x1fb5, 0x1fb5), (0x1fc5, 0x1fc5),
    (0x1fd4, 0x1fd5), (0x1fdc, 0x1fdc), (0x1ff0, 0x1ff1), (0x1ff5, 0x1ff5), (0x1fff, 0x200f),
    (0x2028, 0x202f), (0x205f, 0x206f), (0x2072, 0x2073), (0x208f, 0x208f), (0x209d, 0x209f),
    (0x20c1, 0x20cf), (0x20f1, 0x20ff), (0x218c, 0x218f), (0x2427, 0x243f), (0x244b, 0x245f),
    (0x2b74, 0x2b75), (0x2b96, 0x2b96), (0x2cf4, 0x2cf8), (0x2d26, 0x2d26), (0x2d28, 0x2d2c),
    (0x2d2e, 0x2d2f), (0x2d68, 0x2d6e), (0x2d71, 0x2d7e), (0x2d97, 0x2d9f), (0x2da7, 0x2da7),
    (0x2daf, 0x2daf), (0x2db7, 0x2db7), (0x2dbf, 0x2dbf), (0x2dc7, 0x2dc7), (0x2dcf, 0x2dcf),
    (0x2dd7, 0x2dd7), (0x2ddf, 0x2ddf), (0x2e5e, 0x2e7f), (0x2e9a, 0x2e9a), (0x2ef4, 0x2eff),
    (0x2fd6, 0x2fef), (0x2ffc, 0x3000), (0x3040, 0x3040), (0x3097, 0x3098), (0x3100, 0x3104),
    (0x3130, 0x3130), (0x318f, 0x318f), (0x31e4, 0x31ef), (0x321f, 0x321f), (0xa48d, 0xa48f),
    (0xa4c7, 0xa4cf), (0xa62c, 0xa63f), (0xa6f8, 0xa6ff), (0xa7cb, 0xa7cf), (0xa7d2, 0xa7d2),
    (0xa7d4, 0xa7d4), (0xa7da, 0xa7f1), (0xa82d, 0xa82f), (0xa83a, 0xa83f), (0xa878, 0xa87f),
    (0xa8c6, 0xa8cd), (0xa8da, 0xa8df), (0xa954, 0xa95e), (0xa97d, 0xa97f), (0xa9ce, 0xa9ce),
    (0xa9da, 0xa9dd), (0xa9ff, 0xa9ff), (0xaa37, 0xaa3f), (0xaa4e, 0xaa4f), (0xaa5a, 0xaa5b),
    (0xaac3, 0xaada), (0xaaf7, 0xab00), (0xab07, 0xab08), (0xab0f, 0xab10), (0xab17, 0xab1f),
    (0xab27, 0xab27), (0xab2f, 0xab2f), (0xab6c, 0xab6f), (0xabee, 0xabef), (0xabfa, 0xabff),
    (0xd7a4, 0xd7af), (0xd7c7, 0xd7ca), (0xd7fc, 0xf8ff), (0xfa6e, 0xfa6f), (0xfada, 0xfaff),
    (0xfb07, 0xfb12), (0xfb18, 0xfb1c), (0xfb37, 0xfb37), (0xfb3d, 0xfb3d), (0xfb3f, 0xfb3f),
    (0xfb42, 0xfb42), (0xfb45, 0xfb45), (0xfbc3, 0xfbd2), (0xfd90, 0xfd91), (0xfdc8, 0xfdce),
    (0xfdd0, 0xfdef), (0xfe1a, 0xfe1f), (0xfe53, 0xfe53), (0xfe67, 0xfe67), (0xfe6c, 0xfe6f),
    (0xfe75, 0xfe75), (0xfefd, 0xff00), (0xffbf, 0xffc1), (0xffc8, 0xffc9), (0xffd0, 0xffd1),
    (0xffd8, 0xffd9), (0xffdd, 0xffdf), (0xffe7, 0xffe7), (0xffef, 0xfffb), (0xfffe, 0xffff),
    (0x1000c, 0x1000c), (0x10027, 0x10027), (0x1003b, 0x1003b), (0x1003e, 0x1003e),
    (0x1004e, 0x1004f), (0x1005e, 0x1007f), (0x100fb, 0x100ff), (0x10103, 0x10106),
    (0x10134, 0x10136), (0x1018f, 0x1018f), (0x1019d, 0x1019f), (0x101a1, 0x101cf),
    (0x101fe, 0x1027f), (0x1029d, 0x1029f), (0x102d1, 0x102df), (0x102fc, 0x102ff),
    (0x10324, 0x1032c), (0x1034b, 0x1034f), (0x1037b, 0x1037f), (0x1039e, 0x1039e),
    (0x103c4, 0x103c7), (0x103d6, 0x103ff), (0x1049e, 0x1049f), (0x104aa, 0x104af),
    (0x104d4, 0x104d7), (0x104fc, 0x104ff), (0x10528, 0x1052f), (0x10564, 0x1056e),
    (0x1057b, 0x1057b), (0x1058b, 0x1058b), (0x10593, 0x10593), (0x10596, 0x10596),
    (0x105a2, 0x105a2), (0x105b2, 0x105b2), (0x105ba, 0x105ba), (0x105bd, 0x105ff),
    (0x10737, 0x1073f), (0x10756, 0x1075f), (0x10768, 0x1077f), (0x10786, 0x10786),
    (0x107b1, 0x107b1), (0x107bb, 0x107ff), (0x10806, 0x10807), (0x10809, 0x10809),
    (0x10836, 0x10836), (0x10839, 0x1083b), (0x1083d, 0x1083e), (0x10856, 0x10856),
    (0x1089f, 0x108a6), (0x108b0, 0x108df), (0x108f3, 0x108f3), (0x108f6, 0x108fa),
    (0x1091c, 0x1091e), (0x1093a, 0x1093e), (0x10940, 0x1097f), (0x109b8, 0x109bb),
    (0x109d0, 0x109d1), (0x10a04, 0x10a04), (0x10a07, 0x10a0b), (0x10a14, 0x10a14),
    (0x10a18, 0x10a18), (0x10a36, 0x10a37), (0x10a3b, 0x10a3e), (0x10a49, 0x10a4f),
    (0x10a59, 0x10a5f), (0x10aa0, 0x10abf), (0x10ae7, 0x10aea), (0x10af7, 0x10aff),
    (0x10b36, 0x10b38), (0x10b56, 0x10b57), (0x10b73, 0x10b77), (0x10b92, 0x10b98),
    (0x10b9d, 0x10ba8), (0x10bb0, 0x10bff), (0x10c49, 0x10c7f), (0x10cb3, 0x10cbf),
    (0x10cf3, 0x10cf9), (0x10d28, 0x10d2f), (0x10d3a, 0x10e5f), (0x10e7f, 0x10e7f),
    (0x10eaa, 0x10eaa), (0x10eae, 0x10eaf), (0x10eb2, 0x10eff), (0x10f28, 0x10f2f),
    (0x10f5a, 0x10f6f), (0x10f8a, 0x10faf), (0x10fcc, 0x10fdf), (0x10ff7, 0x10fff),
    (0x1104e, 0x11051), (0x11076, 0x1107e), (0x110bd, 0x110bd), (0x110c3, 0x110cf),
    (0x110e9, 0x110ef), (0x110fa, 0x110ff), (0x11135, 0x11135), (0x11148, 0x1114f),
    (0x11177, 0x1117f), (0x111e0, 0x111e0), (0x111f5, 0x111ff), (0x11212, 0x11212),
    (0x1123f, 0x1127f), (0x11287, 0x11287), (0x11289, 0x11289), (0x1128e, 0x1128e),
    (0x1129e, 0x1129e), (0x112aa, 0x112af), (0x112eb, 0x112ef), (0x112fa, 0x112ff),
    (0x11304, 0x11304), (0x1130d, 0x1130e), (0x11311, 0x11312), (0x11329, 0x11329),
    (0x11331, 0x11331), (0x11334, 0x11334), (0x1133a, 0x1133a), (0x11345, 0x11346),
    (0x11349, 0x1134a), (0x1134e, 0x1134f), (0x11351, 0x11356), (0x11358, 0x1135c),
    (0x11364, 0x11365), (0x1136d, 0x1136f), (0x11375, 0x113ff), (0x1145c, 0x1145c),
    (0x11462, 0x1147f), (0x114c8, 0x114cf), (0x114da, 0x1157f), (0x115b6, 0x115b7),
    (0x115de, 0x115ff), (0x11645, 0x1164f), (0x1165a, 0x1165f), (0x1166d, 0x1167f),
    (0x116ba, 0x116bf), (0x116ca, 0x116ff), (0x1171b, 0x1171c), (0x1172c, 0x1172f),
    (0x11747, 0x117ff), (0x1183c, 0x1189f), (0x118f3, 0x118fe), (0x11907, 0x11908),
    (0x1190a, 0x1190b), (0x11914, 0x11914), (0x11917, 0x11917), (0x11936, 0x11936),
    (0x11939, 0x1193a), (0x11947, 0x1194f), (0x1195a, 0x1199f), (0x119a8, 0x119a9),
    (0x119d8, 0x119d9), (0x119e5, 0x119ff), (0x11a48, 0x11a4f), (0x11aa3, 0x11aaf),
    (0x11af9, 0x11bff), (0x11c09, 0x11c09), (0x11c37, 0x11c37), (0x11c46, 0x11c4f),
    (0x11c6d, 0x11c6f), (0x11c90, 0x11c91), (0x11ca8, 0x11ca8), (0x11cb7, 0x11cff),
    (0x11d07, 0x11d07), (0x11d0a, 0x11d0a), (0x11d37, 0x11d39), (0x11d3b, 0x11d3b),
    (0x11d3e, 0x11d3e), (0x11d48, 0x11d4f), (0x11d5a, 0x11d5f), (0x11d66, 0x11d66),
    (0x11d69, 0x11d69), (0x11d8f, 0x11d8f), (0x11d92, 0x11d92), (0x11d99, 0x11d9f),
    (0x11daa, 0x11edf), (0x11ef9, 0x11faf), (0x11fb1, 0x11fbf), (0x11ff2, 0x11ffe),
    (0x1239a, 0x123ff), (0x1246f, 0x1246f), (0x12475, 0x1247f), (0x12544, 0x12f8f),
    (0x12ff3, 0x12fff), (0x1342f, 0x143ff), (0x14647, 0x167ff), (0x16a39, 0x16a3f),
    (0x16a5f, 0x16a5f), (0x16a6a, 0x16a6d), (0x16abf, 0x16abf), (0x16aca, 0x16acf),
    (0x16aee, 0x16aef), (0x16af6, 0x16aff), (0x16b46, 0x16b4f), (0x16b5a, 0x16b5a),
    (0x16b62, 0x16b62), (0x16b78, 0x16b7c), (0x16b90, 0x16e3f), (0x16e9b, 0x16eff),
    (0x16f4b, 0x16f4e), (0x16f88, 0x16f8e), (0x16fa0, 0x16fdf), (0x16fe5, 0x16fef),
    (0x16ff2, 0x16fff), (0x187f8, 0x187ff), (0x18cd6, 0x18cff), (0x18d09, 0x1afef),
    (0x1aff4, 0x1aff4), (0x1affc, 0x1affc), (0x1afff, 0x1afff), (0x1b123, 0x1b14f),
    (0x1b153, 0x1b163), (0x1b168, 0x1b16f), (0x1b2fc, 0x1bbff), (0x1bc6b, 0x1bc6f),
    (0x1bc7d, 0x1bc7f), (0x1bc89, 0x1bc8f), (0x1bc9a, 0x1bc9b), (0x1bca0, 0x1ceff),
    (0x1cf2e, 0x1cf2f), (0x1cf47, 0x1cf4f), (0x1cfc4, 0x1cfff), (0x1d0f6, 0x1d0ff),
    (0x1d127, 0x1d128), (0x1d173, 0x1d17a), (0x1d1eb, 0x1d1ff), (0x1d246, 0x1d2df),
    (0x1d2f4, 0x1d2ff), (0x1d357, 0x1d35f), (0x1d379, 0x1d3ff), (0x1d455, 0x1d455),
    (0x1d49d, 0x1d49d), (0x1d4a0, 0x1d4a1), (0x1d4a3, 0x1d4a4), (0x1d4a7, 0x1d4a8),
    (0x1d4ad, 0x1d4ad), (0x1d4ba, 0x1d4ba), (0x1d4bc, 0x1d4bc), (0x1d4c4, 0x1d4c4),
    (0x1d506, 0x1d506), (0x1d50b, 0x1d50c), (0x1d515, 0x1d515), (0x1d51d, 0x1d51d),
    (0x1d53a, 0x1d53a), (0x1d53f, 0x1d53f), (0x1d545, 0x1d545), (0x1d547, 0x1d549),
    (0x1d551, 0x1d551), (0x1d6a6, 0x1d6a7), (0x1d7cc, 0x1d7cd), (0x1da8c, 0x1da9a),
    (0x1daa0, 0x1daa0), (0x1dab0, 0x1deff), (0x1df1f, 0x1dfff), (0x1e007, 0x1e007),
    (0x1e019, 0x1e01a), (0x1e022, 0x1e022), (0x1e025, 0x1e025), (0x1e02b, 0x1e0ff),
    (0x1e12d, 0x1e12f), (0x1e13e, 0x1e13f), (0x1e14a, 0x1e14d), (0x1e150, 0x1e28f),
    (0x1e2af, 0x1e2bf), (0x1e2fa, 0x1e2fe), (0x1e300, 0x1e7df), (0x1e7e7, 0x1e7e7),
    (0x1e7ec, 0x1e7ec), (0x1e7ef, 0x1e7ef), (0x1e7ff, 0x1e7ff), (0x1e8c5, 0x1e8c6),
    (0x1e8d7, 0x1e8ff), (0x1e94c, 0x1e94f), (0x1e95a, 0x1e95d), (0x1e960, 0x1ec70),
    (0x1ecb5, 0x1ed00), (0x1ed3e, 0x1edff), (0x1ee04, 0x1ee04), (0x1ee20, 0x1ee20),
    (0x1ee23, 0x1ee23), (0x1ee25, 0x1ee26), (0x1ee28, 0x1ee28), (0x1ee33, 0x1ee33),
    (0x1ee38, 0x1ee38), (0x1ee3a, 0x1ee3a), (0x1ee3c, 0x1ee41), (0x1ee43, 0x1ee46),
    (0x1ee48, 0x1ee48), (0x1ee4a, 0x1ee4a), (0x1ee4c, 0x1ee4c), (0x1ee50, 0x1ee50),
    (0x1ee53, 0x1ee53), (0x1ee55, 0x1ee56), (0x1ee58, 0x1ee58), (0x1ee5a, 0x1ee5a),
    (0x1ee5c, 0x1ee5c), (0x1ee5e, 0x1ee5e), (0x1ee60, 0x1ee60), (0x1ee63, 0x1ee63),
    (0x1ee65, 0x1ee66), (0x1ee6b, 0x1ee6b), (0x1ee73, 0x1ee73), (0x1ee78, 0x1ee78),
    (0x1ee7d, 0x1ee7d), (0x1ee7f, 0x1ee7f), (0x1ee8a, 0x1ee8a), (0x1ee9c, 0x1eea0),
    (0x1eea4, 0x1eea4), (0x1eeaa, 0x1eeaa), (0x1eebc, 0x1eeef), (0x1eef2, 0x1efff),
    (0x1f02c, 0x1f02f), (0x1f094, 0x1f09f), (0x1f0af, 0x1f0b0), (0x1f0c0, 0x1f0c0),
    (0x1f0d0, 0x1f0d0), (0x1f0f6, 0x1f0ff), (0x1f1ae, 0x1f1e5), (0x1f203, 0x1f20f),
    (0x1f23c, 0x1f23f), (0x1f249, 0x1f24f), (0x1f252, 0x1f25f), (0x1f266, 0x1f2ff),
    (0x1f6d8, 0x1f6dc), (0x1f6ed, 0x1f6ef), (0x1f6fd, 0x1f6ff), (0x1f774, 0x1f77f),
    (0x1f7d9, 0x1f7df), (0x1f7ec, 0x1f7ef), (0x1f7f1, 0x1f7ff), (0x1f80c, 0x1f80f),
    (0x1f848, 0x1f84f), (0x1f85a, 0x1f85f), (0x1f888, 0x1f88f), (0x1f8ae, 0x1f8af),
    (0x1f8b2, 0x1f8ff), (0x1fa54, 0x1fa5f), (0x1fa6e, 0x1fa6f), (0x1fa75, 0x1fa77),
    (0x1fa7d, 0x1fa7f), (0x1fa87, 0x1fa8f), (0x1faad, 0x1faaf), (0x1fabb, 0x1fabf),
    (0x1fac6, 0x1facf), (0x1fada, 0x1fadf), (0x1fae8, 0x1faef), (0x1faf7, 0x1faff),
    (0x1fb93, 0x1fb93), (0x1fbcb, 0x1fbef), (0x1fbfa, 0x1ffff), (0x2a6e0, 0x2a6ff),
    (0x2b739, 0x2b73f), (0x2b81e, 0x2b81f), (0x2cea2, 0x2ceaf), (0x2ebe1, 0x2f7ff),
    (0x2fa1e, 0x2ffff), (0x3134b, 0xe00ff), (0xe01f0, 0x10ffff),
];

#[cfg(test)]
mod tests {
    use super::*;

    /// (JSON text, Python `str(json.loads(text))`, Python `repr(...)`),
    /// generated with CPython 3.11.7.
    #[rustfmt::skip]
    const VALUES: &[(&str, &str, &str)] = &[
            (r#"null"#, "None", "None"),
            (r#"true"#, "True", "True"),
            (r#"false"#, "False", "False"),
            (r#"0"#, "0", "0"),
            (r#"1"#, "1", "1"),
            (r#"-1"#, "-1", "-1"),
            (r#"42"#, "42", "42"),
            (r#"9223372036854775807"#, "9223372036854775807", "9223372036854775807"),
            (r#"9223372036854775808"#, "9223372036854775808", "9223372036854775808"),
            (r#"-9223372036854775808"#, "-9223372036854775808", "-9223372036854775808"),
            (r#"18446744073709551615"#, "18446744073709551615", "18446744073709551615"),
            (r#"-4611686018427387904"#, "-4611686018427387904", "-4611686018427387904"),
            (r#"0.0"#, "0.0", "0.0"),
            (r#"-0.0"#, "-0.0", "-0.0"),
            (r#"1.0"#, "1.0", "1.0"),
            (r#"-2.5"#, "-2.5", "-2.5"),
            (r#"0.1"#, "0.1", "0.1"),
            (r#"0.30000000000000004"#, "0.30000000000000004", "0.30000000000000004"),
            (r#"3.141592653589793"#, "3.141592653589793", "3.141592653589793"),
            (r#"100.0"#, "100.0", "100.0"),
            (r#"1e-5"#, "1e-05", "1e-05"),
            (r#"-1e-7"#, "-1e-07", "-1e-07"),
            (r#"0.0001"#, "0.0001", "0.0001"),
            (r#"0.00012345"#, "0.00012345", "0.00012345"),
            (r#"123.456e-7"#, "1.23456e-05", "1.23456e-05"),
            (r#"1E+2"#, "100.0", "100.0"),
            (r#"1e15"#, "1000000000000000.0", "1000000000000000.0"),
            (r#"1e16"#, "1e+16", "1e+16"),
            (r#"9999999999999998.0"#, "9999999999999998.0", "9999999999999998.0"),
            (r#"123456789012345.0"#, "123456789012345.0", "123456789012345.0"),
            (r#"1234567890123456.0"#, "1234567890123456.0", "1234567890123456.0"),
            (r#"1e21"#, "1e+21", "1e+21"),
            (r#"1e22"#, "1e+22", "1e+22"),
            (r#"1.5e300"#, "1.5e+300", "1.5e+300"),
            (r#"-1.5e300"#, "-1.5e+300", "-1.5e+300"),
            (r#"5e-324"#, "5e-324", "5e-324"),
            (r#"2.2250738585072014e-308"#, "2.2250738585072014e-308", "2.2250738585072014e-308"),
            (r#"1.7976931348623157e308"#, "1.7976931348623157e+308", "1.7976931348623157e+308"),
            (r#"0.5"#, "0.5", "0.5"),
            (r#"1234.5678"#, "1234.5678", "1234.5678"),
            (r#""""#, "", "''"),
            (r#""hello""#, "hello", "'hello'"),
            (r#""it's""#, "it's", "\"it's\""),
            (r#""say \"hi\"""#, "say \"hi\"", "'say \"hi\"'"),
            (r#""both ' and \"""#, "both ' and \"", "'both \\' and \"'"),
            (r#""'""#, "'", "\"'\""),
            (r#""\"""#, "\"", "'\"'"),
            (r#""'\"'""#, "'\"'", "'\\'\"\\''"),
            (r#""back\\slash""#, "back\\slash", "'back\\\\slash'"),
            (r#""\\'""#, "\\'", "\"\\\\'\""),
            (r#""\n\r\t""#, "\n\r\t", "'\\n\\r\\t'"),
            (r#""line1\nline2""#, "line1\nline2", "'line1\\nline2'"),
            (r#""\u0000\u0001\u001f""#, "\u{0}\u{1}\u{1f}", "'\\x00\\x01\\x1f'"),
            (r#""\u001b[31mred\u001b[0m""#, "\u{1b}[31mred\u{1b}[0m", "'\\x1b[31mred\\x1b[0m'"),
            (r#""\u007f""#, "\u{7f}", "'\\x7f'"),
            (r#""\u0080\u0085\u009f""#, "\u{80}\u{85}\u{9f}", "'\\x80\\x85\\x9f'"),
            (r#""\u00a0""#, "\u{a0}", "'\\xa0'"),
            (r#""\u00ad""#, "\u{ad}", "'\\xad'"),
            (r#""\u00e9t\u00e9""#, "été", "'été'"),
            (r#""\u00ff\u0100""#, "ÿĀ", "'ÿĀ'"),
            (r#""\u6f22\u5b57""#, "漢字", "'漢字'"),
            (r#""\u2028\u2029""#, "\u{2028}\u{2029}", "'\\u2028\\u2029'"),
            (r#""\u200b\u200c\u200d\u2060\ufeff""#, "\u{200b}\u{200c}\u{200d}\u{2060}\u{feff}", "'\\u200b\\u200c\\u200d\\u2060\\ufeff'"),
            (r#""\u3000""#, "\u{3000}", "'\\u3000'"),
            (r#""e\u0301""#, "e\u{301}", "'e\u{301}'"),
            (r#""\ue000""#, "\u{e000}", "'\\ue000'"),
            (r#""\u0378""#, "\u{378}", "'\\u0378'"),
            (r#""\ufffd""#, "�", "'�'"),
            (r#""\uffff""#, "\u{ffff}", "'\\uffff'"),
            (r#""\ud83d\ude00""#, "😀", "'😀'"),
            (r#""\ud83c\uddeb\ud83c\uddf7""#, "🇫🇷", "'🇫🇷'"),
            (r#""\udb40\udc01""#, "\u{e0001}", "'\\U000e0001'"),
            (r#""\ud83f\udfff""#, "\u{1ffff}", "'\\U0001ffff'"),
            (r#""\udbff\udfff""#, "\u{10ffff}", "'\\U0010ffff'"),
            (r#""\ud800\udc00""#, "𐀀", "'𐀀'"),
            (r#""mixed '\u00e9' \"\u6f22\" \u0007 \\ \ud83d\ude00""#, "mixed 'é' \"漢\" \u{7} \\ 😀", "'mixed \\'é\\' \"漢\" \\x07 \\\\ 😀'"),
            (r#"[]"#, "[]", "[]"),
            (r#"{}"#, "{}", "{}"),
            (r#"[[]]"#, "[[]]", "[[]]"),
            (r#"[{}]"#, "[{}]", "[{}]"),
            (r#"{"": {}}"#, "{'': {}}", "{'': {}}"),
            (r#"{"": ""}"#, "{'': ''}", "{'': ''}"),
            (r#"[1, "a", null, true, false, 1.5, -0.0]"#, "[1, 'a', None, True, False, 1.5, -0.0]", "[1, 'a', None, True, False, 1.5, -0.0]"),
            (r#"{"a": 1, "b": [1, {"c": "it's"}]}"#, "{'a': 1, 'b': [1, {'c': \"it's\"}]}", "{'a': 1, 'b': [1, {'c': \"it's\"}]}"),
            (r#"{"z": 1, "a": 2, "m": 3}"#, "{'z': 1, 'a': 2, 'm': 3}", "{'z': 1, 'a': 2, 'm': 3}"),
            (r#"[[[[["deep"]]]]]"#, "[[[[['deep']]]]]", "[[[[['deep']]]]]"),
            (r#"{"k'ey": "v\"al", "q\"": "'"}"#, "{\"k'ey\": 'v\"al', 'q\"': \"'\"}", "{\"k'ey\": 'v\"al', 'q\"': \"'\"}"),
            (r#"{"nested": {"list": [1e-05, 1e+16, 123456789012345.0], "none": null}}"#, "{'nested': {'list': [1e-05, 1e+16, 123456789012345.0], 'none': None}}", "{'nested': {'list': [1e-05, 1e+16, 123456789012345.0], 'none': None}}"),
            (r#"["\u00e9", "\n", "\u2028", "\ud83d\ude00"]"#, "['é', '\\n', '\\u2028', '😀']", "['é', '\\n', '\\u2028', '😀']"),
            (r#"{"\u0000": "\u007f"}"#, "{'\\x00': '\\x7f'}", "{'\\x00': '\\x7f'}"),
            (r#"[18446744073709551615, -9223372036854775808, 0.1]"#, "[18446744073709551615, -9223372036854775808, 0.1]", "[18446744073709551615, -9223372036854775808, 0.1]"),
    ];

    /// (JSON text, what QEMU's `qom-get` prints for it as the reply's
    /// return value), generated with CPython 3.11.7.
    #[rustfmt::skip]
    const QOM_GET: &[(&str, &str)] = &[
            (r#"{"a": 1, "b": "x"}"#, "a: 1\nb: x\n"),
            (r#"{}"#, ""),
            (r#""plain string""#, "plain string\n"),
            (r#""""#, "\n"),
            (r#""multi\nline""#, "multi\nline\n"),
            (r#"42"#, "42\n"),
            (r#"-0.5"#, "-0.5\n"),
            (r#"null"#, "None\n"),
            (r#"true"#, "True\n"),
            (r#"[1, "a", null]"#, "[1, 'a', None]\n"),
            (r#"[]"#, "[]\n"),
            (r#"{"k": {"n": "it's"}, "l": [1.0, "\u00e9"], "s": "it's", "e": ""}"#, "k: {'n': \"it's\"}\nl: [1.0, 'é']\ns: it's\ne: \n"),
            (r#"{"multi\nline key": "a\nb", "\u00e9": null}"#, "multi\nline key: a\nb\né: None\n"),
            (r#"{"": 1e-05}"#, ": 1e-05\n"),
    ];

    fn parse(text: &str) -> Value {
        match serde_json::from_str(text) {
            Ok(v) => v,
            Err(e) => panic!("bad test JSON {text}: {e}"),
        }
    }

    #[test]
    fn str_and_repr_match_python() {
        for (text, want_str, want_repr) in VALUES {
            let v = parse(text);
            assert_eq!(py_str(&v), *want_str, "str() of {text}");
            assert_eq!(py_repr(&v), *want_repr, "repr() of {text}");
        }
    }

    #[test]
    fn qom_get_text_matches_python() {
        for (text, want) in QOM_GET {
            assert_eq!(qom_get_text(&parse(text)), *want, "qom-get of {text}");
        }
    }

    #[test]
    fn push_appends() {
        let mut out = String::from("  x: ");
        push_py_str(&mut out, &parse(r#""it's""#));
        push_py_repr(&mut out, &parse(r#""it's""#));
        assert_eq!(out, "  x: it's\"it's\"");
    }

    #[test]
    fn non_finite_floats() {
        // serde_json cannot hold these, but Python's names are the answer.
        for (f, want) in [
            (f64::INFINITY, "inf"),
            (f64::NEG_INFINITY, "-inf"),
            (f64::NAN, "nan"),
        ] {
            let mut out = String::new();
            push_repr_float(&mut out, f);
            assert_eq!(out, want);
        }
    }

    #[test]
    // The tie cases below are exact binary values, written out in full.
    #[allow(clippy::excessive_precision)]
    fn float_exponent_boundaries() {
        // Python: repr(x) for x in these.
        for (f, want) in [
            (1e-4, "0.0001"),
            (9.999e-5, "9.999e-05"),
            (1e-100, "1e-100"),
            (9999999999999999.0, "1e+16"),
            (999999999999999.9, "999999999999999.9"),
            (1.2e15, "1200000000000000.0"),
            (-1.2e-5, "-1.2e-05"),
            (2.5e-10, "2.5e-10"),
            (1e100, "1e+100"),
            (12345678901234567.0, "1.2345678901234568e+16"),
            // Ties between two shortest candidates go to the even digit.
            (1353410483388284.25, "1353410483388284.2"),
            (1353410483388284.75, "1353410483388284.8"),
            (-1046264590697418.25, "-1046264590697418.2"),
        ] {
            let mut out = String::new();
            push_repr_float(&mut out, f);
            assert_eq!(out, want, "{f:e}");
        }
    }

    #[test]
    fn deep_nesting_does_not_overflow() {
        let depth = 5000;
        let mut v = Value::Null;
        for _ in 0..depth {
            v = Value::Array(vec![v]);
        }
        let want = format!("{}None{}", "[".repeat(depth), "]".repeat(depth));
        assert_eq!(py_repr(&v), want);
        // Take it apart iteratively: dropping it recursively could overflow.
        while let Value::Array(mut items) = v {
            v = items.pop().unwrap_or(Value::Null);
        }
    }

    #[test]
    fn table_is_sorted_and_disjoint() {
        let mut prev: Option<u32> = None;
        for &(lo, hi) in NON_PRINTABLE {
            assert!(lo <= hi, "{lo:x}..{hi:x}");
            if let Some(p) = prev {
                assert!(p + 1 < lo, "{p:x} then {lo:x}");
            }
            prev = Some(hi);
        }
        assert!(!is_printable('\u{80}'));
        assert!(!is_printable('\u{10ffff}'));
        assert!(is_printable('\u{e9}'));
    }
}
