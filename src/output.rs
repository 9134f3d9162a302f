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
