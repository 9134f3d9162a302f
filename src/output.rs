//! Rendering values for stdout: plain text for people and `read`, JSON for jq.

use serde_json::Value;

/// How values are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Strings raw, `{}` as nothing, anything else as JSON (indented on a
    /// terminal, compact otherwise).
    Plain,
    /// One line of compact JSON.
    Json,
    /// Indented JSON.
    Pretty,
}

/// Renders `value` in `format`, ending in a newline; `None` when there is
/// nothing to print (`{}` in plain mode). `terminal` says whether stdout is a
/// terminal: plain JSON is indented there. (Making the text safe for a
/// terminal is [`terminal_safe`]'s job.)
pub fn render(value: &Value, format: Format, terminal: bool) -> Option<String> {
    let mut s = match (format, value) {
        (Format::Plain, Value::Object(o)) if o.is_empty() => return None,
        (Format::Plain, Value::String(s)) => s.replace("\r\n", "\n"),
        (Format::Plain, v) if terminal => pretty(v),
        (Format::Pretty, v) => pretty(v),
        (_, v) => v.to_string(),
    };
    if !s.ends_with('\n') {
        s.push('\n');
    }
    Some(s)
}

/// The compact JSON of the raw JSON text `raw`, byte for byte what
/// `serde_json::from_str::<Value>(raw)?.to_string()` gives (the same string
/// escaping and number formatting), without building the `Value`: a large
/// reply costs no allocation per member. (Duplicate keys, which QEMU never
/// sends, are all kept, where a `Value` keeps the last.)
///
/// # Errors
/// The parser's error for text that is not JSON.
pub fn compact(raw: &str) -> Result<String, serde_json::Error> {
    use serde::de::DeserializeSeed;
    let mut out = Vec::with_capacity(raw.len());
    let mut de = serde_json::Deserializer::from_str(raw);
    Transcode(&mut out).deserialize(&mut de)?;
    de.end()?;
    // Only whole UTF-8 strings and ASCII punctuation were written.
    Ok(String::from_utf8(out).unwrap_or_default())
}

/// Writes what it deserializes as compact JSON.
pub(crate) struct Transcode<'a>(pub(crate) &'a mut Vec<u8>);

impl<'de> serde::de::DeserializeSeed<'de> for Transcode<'_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl Transcode<'_> {
    /// Writes a scalar as serde_json writes it (writing to a Vec cannot fail).
    fn scalar<T: serde::Serialize + ?Sized>(self, v: &T) {
        let _ = serde_json::to_writer(&mut *self.0, v);
    }
}

impl<'de> serde::de::Visitor<'de> for Transcode<'_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<(), E> {
        self.scalar(&v);
        Ok(())
    }
    fn visit_i64<E>(self, v: i64) -> Result<(), E> {
        self.scalar(&v);
        Ok(())
    }
    fn visit_u64<E>(self, v: u64) -> Result<(), E> {
        self.scalar(&v);
        Ok(())
    }
    fn visit_f64<E>(self, v: f64) -> Result<(), E> {
        // As a Value holds it: a Number (non-finite ones cannot be parsed).
        self.scalar(&serde_json::Number::from_f64(v));
        Ok(())
    }
    fn visit_str<E>(self, v: &str) -> Result<(), E> {
        self.scalar(v);
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        self.0.extend_from_slice(b"null");
        Ok(())
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        self.0.push(b'[');
        let mut first = true;
        loop {
            let before = self.0.len();
            if !first {
                self.0.push(b',');
            }
            if seq.next_element_seed(Transcode(&mut *self.0))?.is_none() {
                // No element after all: take back its comma.
                self.0.truncate(before);
                break;
            }
            first = false;
        }
        self.0.push(b']');
        Ok(())
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        self.0.push(b'{');
        let mut first = true;
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            if !first {
                self.0.push(b',');
            }
            first = false;
            let _ = serde_json::to_writer(&mut *self.0, &*key);
            self.0.push(b':');
            map.next_value_seed(Transcode(&mut *self.0))?;
        }
        self.0.push(b'}');
        Ok(())
    }
}

fn pretty(v: &Value) -> String {
    // Serializing a Value to a String cannot fail.
    serde_json::to_string_pretty(v).unwrap_or_default()
}

/// Text as it may go to a terminal: escape sequences from the server are
/// shown, not obeyed. Plain text gets [`sanitize`]; JSON text keeps its
/// meaning: the DEL and C1 characters JSON allows raw in strings become
/// `\u00XX` escapes (C0 controls are escaped by JSON already).
pub fn terminal_safe(text: &str, json: bool) -> std::borrow::Cow<'_, str> {
    let risky = |c: char| c == '\u{7f}' || ('\u{80}'..='\u{9f}').contains(&c);
    if !json {
        let bad = |c: char| risky(c) || (c.is_control() && c != '\n' && c != '\t');
        return if text.contains(bad) {
            sanitize(text).into()
        } else {
            text.into()
        };
    }
    if !text.contains(risky) {
        return text.into();
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if risky(c) {
            out.push_str(&format!("\\u{:04x}", c as u32));
        } else {
            out.push(c);
        }
    }
    out.into()
}

/// Escapes C0 controls (except tab and newline), DEL and C1 controls as
/// `\u{..}`, so that terminal escape sequences are shown, not obeyed.
pub fn sanitize(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        let bad = (c.is_control() && c != '\n' && c != '\t') || c == '\u{7f}';
        if bad {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn table() {
        let cases: &[(Value, Format, bool, Option<&str>)] = &[
            (json!({}), Format::Plain, false, None),
            (json!({}), Format::Json, false, Some("{}\n")),
            (json!({}), Format::Pretty, false, Some("{}\n")),
            (json!("text"), Format::Plain, false, Some("text\n")),
            (json!("a\r\nb\r\n"), Format::Plain, false, Some("a\nb\n")),
            (json!(""), Format::Plain, false, Some("\n")),
            (json!("text"), Format::Json, false, Some("\"text\"\n")),
            (json!({"a": 1}), Format::Plain, false, Some("{\"a\":1}\n")),
            (
                json!({"a": 1}),
                Format::Plain,
                true,
                Some("{\n  \"a\": 1\n}\n"),
            ),
            (json!([1, 2]), Format::Json, true, Some("[1,2]\n")),
            (
                json!(u64::MAX),
                Format::Json,
                false,
                Some("18446744073709551615\n"),
            ),
            (json!(true), Format::Plain, false, Some("true\n")),
            (json!(null), Format::Plain, false, Some("null\n")),
            (json!("\u{1b}"), Format::Json, true, Some("\"\\u001b\"\n")),
        ];
        for (v, f, tty, want) in cases {
            assert_eq!(render(v, *f, *tty).as_deref(), *want, "{v} {f:?} tty={tty}");
        }
    }

    #[test]
    fn compact_is_what_a_value_prints() {
        let cases = [
            r#"{"a": 1, "b": [1, 2.5, -3, 1e300, 0.1, 1.0, -0.0, 18446744073709551615, -9223372036854775808], "c": {"d": null, "e": true, "f": false}}"#,
            r#"[]"#,
            r#"{}"#,
            r#"[[], {}, [[]], {"": ""}]"#,
            r#""plain""#,
            r#""\u00e9\u0000\n\t\"\\\/\ud83e\udd80 ü""#,
            r#"{"k\u00e9y\n": "v", "z": 1, "a": 2}"#,
            r#"  [ 1 ,  { "x" : [ ] } ]  "#,
            r#"123456789012345678901234567890"#,
            r#"[1.5e-7, 5e-324, 1.7976931348623157e308, 3.0e2]"#,
        ];
        for raw in cases {
            let want = serde_json::from_str::<Value>(raw).unwrap().to_string();
            assert_eq!(compact(raw).unwrap(), want, "{raw}");
        }
        assert!(compact("[1,").is_err());
        assert!(compact("{} x").is_err());
    }

    #[test]
    fn terminal_safety() {
        let cases: &[(&str, bool, &str)] = &[
            ("plain\ttext\n", false, "plain\ttext\n"),
            (
                "\u{1b}[31mred\u{9b}\u{7f}\r\u{7}é",
                false,
                "\\u{1b}[31mred\\u{9b}\\u{7f}\\u{d}\\u{7}é",
            ),
            (
                "{\"a\":\"\u{9b}2J\u{7f}\"}\n",
                true,
                "{\"a\":\"\\u009b2J\\u007f\"}\n",
            ),
            ("{\"a\":\"\\u001b é\"}", true, "{\"a\":\"\\u001b é\"}"),
        ];
        for (input, json, want) in cases {
            let got = terminal_safe(input, *json);
            assert_eq!(got, *want, "{input:?}");
            if *json {
                let v: Value = serde_json::from_str(&got).unwrap();
                assert_eq!(
                    v,
                    serde_json::from_str::<Value>(input).unwrap(),
                    "same JSON value"
                );
            }
        }
    }
}
