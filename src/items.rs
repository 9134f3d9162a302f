//! Command arguments from the command line, in the item grammar of httpie/xh.
//!
//! | item | sends |
//! |---|---|
//! | `key=value` | the JSON string `"value"` |
//! | `key:=json` | the JSON value `json` (`size:=1048576`, `ro:=true`, `l:='[1]'`) |
//! | `key=@file` | the contents of `file` as a string |
//! | `key:=@file` | the JSON value in `file` |
//! | `a.b.c=x` | nested objects: `{"a": {"b": {"c": "x"}}}` |
//!
//! In keys, `\` escapes `=`, `:`, `.` and itself; before any other character
//! it stands for itself. A key part written `""` is the empty string
//! (`a."".b=x`). A text value that starts with `@` is written `\@`
//! (`key=\@home` sends `"@home"`). Integers in JSON values must fit in 64
//! bits, as QEMU's do.

use std::str::FromStr;

use serde_json::{Map, Value};

use crate::error::Error;

/// One `key=value` / `key:=json` argument.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    /// The item as written, for error messages.
    pub raw: String,
    /// The key as written (before `=` or `:=`), for hints.
    pub key: String,
    /// The key, split at unescaped dots.
    pub path: Vec<String>,
    /// The value to send, or the file it is in.
    pub value: ItemValue,
    /// Written `key:=...` (JSON), not `key=...` (text): a schema types
    /// only text ([`crate::schema::typing`]).
    pub json: bool,
}

/// An item's value: given on the command line, or in a file that is read
/// when the arguments are built ([`build_arguments`]), not when the item is
/// parsed (so parsing is pure: completion can parse as the user types).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ItemValue {
    /// The value itself.
    Given(Value),
    /// `key=@FILE` (`json: false`, the file's text) or `key:=@FILE` (the
    /// JSON value in the file).
    File {
        /// The file's path as written.
        path: String,
        /// Whether the file holds JSON.
        json: bool,
    },
}

impl Item {
    /// The value to send: the given one, or the file's contents.
    ///
    /// # Errors
    /// [`Error::Item`] quoting the item for an unreadable file, one over
    /// 64 MiB, or invalid JSON in it.
    pub fn resolve(&self) -> Result<Value, Error> {
        match &self.value {
            ItemValue::Given(v) => Ok(v.clone()),
            ItemValue::File { path, json: false } => Ok(Value::String(read_file(&self.raw, path)?)),
            ItemValue::File { path, json: true } => json_value(&read_file(&self.raw, path)?)
                .map_err(|e| {
                    bad(
                        &self.raw,
                        e.replacen("invalid JSON", "invalid JSON after ':='", 1),
                    )
                }),
        }
    }
}

fn bad(item: &str, reason: impl Into<String>) -> Error {
    let reason = format!(
        "{} (forms: key=text, key:=json, key=@file, key:=@file; a.b=x nests)",
        reason.into()
    );
    Error::Item {
        item: item.to_string(),
        reason,
    }
}

fn read_file(item: &str, path: &str) -> Result<String, Error> {
    use std::io::Read;
    let cannot = |e: std::io::Error| bad(item, format!("cannot read '{path}': {e}"));
    let mut text = String::new();
    // Bounded: `x=@/dev/zero` must be an error, not an exhausted memory.
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_FILE + 1).read_to_string(&mut text))
        .map_err(cannot)?;
    if text.len() as u64 > MAX_FILE {
        return Err(bad(
            item,
            format!("'{path}' is larger than {MAX_FILE} bytes"),
        ));
    }
    Ok(text)
}

/// The largest file an `@file` item may read (as the default message cap).
const MAX_FILE: u64 = crate::wire::DEFAULT_MAX_MESSAGE as u64;

impl FromStr for Item {
    type Err = Error;

    /// Parses one item (the `@file` forms are read later, by
    /// [`Item::resolve`]).
    ///
    /// # Errors
    /// [`Error::Item`] quoting the item: no separator, an empty key or key
    /// part, a trailing backslash, invalid JSON after `:=`, an unreadable file.
    fn from_str(s: &str) -> Result<Self, Error> {
        let mut path = Vec::new();
        let mut part = String::new();
        // The part as written: `""` stands for an empty part.
        let mut written = String::new();
        let mut chars = s.char_indices().peekable();
        let (json, rest) = loop {
            let Some((i, c)) = chars.next() else {
                return Err(bad(s, "missing '=' (text) or ':=' (JSON) after the key"));
            };
            let end = match c {
                '\\' => {
                    written.push('\\');
                    match chars.next() {
                        None => return Err(bad(s, "trailing backslash in the key")),
                        Some((_, e @ ('=' | ':' | '.' | '\\'))) => part.push(e),
                        Some((_, e)) => {
                            part.push('\\');
                            part.push(e);
                        }
                    }
                    None
                }
                '.' => Some(None),
                ':' if chars.peek().map(|&(_, c)| c) == Some('=') => {
                    Some(Some((true, &s[i + 2..])))
                }
                '=' => Some(Some((false, &s[i + 1..]))),
                c => {
                    written.push(c);
                    part.push(c);
                    None
                }
            };
            let Some(then) = end else { continue };
            if written == "\"\"" {
                part.clear();
            } else if part.is_empty() {
                let what = if path.is_empty() && then.is_some() {
                    "empty key (write \"\" for an empty key part)"
                } else {
                    "empty part in a dotted key (write \"\" for an empty part)"
                };
                return Err(bad(s, what));
            }
            path.push(std::mem::take(&mut part));
            written.clear();
            if let Some(found) = then {
                break found;
            }
        };
        let value =
            match (json, rest.strip_prefix('@')) {
                (_, Some("")) => return Err(bad(s, "empty file name after '@'")),
                (_, Some(file)) => ItemValue::File {
                    path: file.to_string(),
                    json,
                },
                (false, None) => ItemValue::Given(Value::String(match rest.strip_prefix("\\@") {
                    Some(text) => format!("@{text}"),
                    None => rest.to_string(),
                })),
                (true, None) => ItemValue::Given(json_value(rest).map_err(|e| {
                    bad(s, e.replacen("invalid JSON", "invalid JSON after ':='", 1))
                })?),
            };
        let key = &s[..s.len() - rest.len() - if json { 2 } else { 1 }];
        Ok(Item {
            raw: s.to_string(),
            key: key.to_string(),
            path,
            value,
            json,
        })
    }
}

/// Parses a JSON value, refusing integers beyond 64 bits: QEMU's integers
/// are `int64` or `uint64` (its parser would turn a larger one into a
/// float), and serde_json would round them the same way.
///
/// # Errors
/// A message for invalid JSON or an integer out of range.
pub fn json_value(text: &str) -> Result<Value, String> {
    let value = serde_json::from_str(text).map_err(|e| format!("invalid JSON: {e}"))?;
    if let Some(big) = big_integer(text) {
        return Err(format!(
            "integer {big} does not fit in 64 bits (QMP integers go from {} to {})",
            i64::MIN,
            u64::MAX
        ));
    }
    Ok(value)
}

/// The first integer literal of the JSON `text` that fits neither `i64` nor
/// `u64` (outside strings; `text` is valid JSON).
fn big_integer(text: &str) -> Option<&str> {
    let bytes = text.as_bytes();
    let (mut i, mut in_string) = (0, false);
    while i < bytes.len() {
        let b = bytes[i];
        if in_string {
            match b {
                b'\\' => i += 1,
                b'"' => in_string = false,
                _ => {}
            }
            i += 1;
            continue;
        }
        if b == b'"' {
            in_string = true;
            i += 1;
            continue;
        }
        if b == b'-' || b.is_ascii_digit() {
            let start = i;
            while i < bytes.len()
                && matches!(bytes[i], b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')
            {
                i += 1;
            }
            let token = &text[start..i];
            let integer = !token.contains(['.', 'e', 'E']);
            if integer && token.parse::<i64>().is_err() && token.parse::<u64>().is_err() {
                return Some(token);
            }
            continue;
        }
        i += 1;
    }
    None
}

/// Builds the arguments object: `base` (from `--args`, or empty) plus
/// `items`, which override what `base` holds (so `--args` is a template).
///
/// `@file` items are read here.
///
/// # Errors
/// [`Error::Item`] when two items set the same key, an item nests under a
/// key that an item set to something other than an object, or a file
/// cannot be read.
pub fn build_arguments(
    base: Map<String, Value>,
    items: &[Item],
) -> Result<Map<String, Value>, Error> {
    let mut args = base;
    // Every key path an item set, and every prefix of one.
    let mut by_items: std::collections::HashSet<&[String]> = std::collections::HashSet::new();
    for item in items {
        let (leaf, parents) = item
            .path
            .split_last()
            .ok_or_else(|| bad(&item.raw, "empty key"))?;
        let mut obj = &mut args;
        for (depth, key) in parents.iter().enumerate() {
            let slot = obj
                .entry(key.clone())
                .or_insert_with(|| Value::Object(Map::new()));
            if !slot.is_object() {
                if by_items.contains(&item.path[..=depth]) {
                    let at = item.path[..=depth].join(".");
                    return Err(bad(
                        &item.raw,
                        format!("'{at}' is already set to a non-object"),
                    ));
                }
                // A value of --args: the item replaces it.
                *slot = Value::Object(Map::new());
            }
            let Value::Object(o) = slot else {
                return Err(bad(&item.raw, "cannot nest here")); // made an object above
            };
            obj = o;
        }
        if by_items.contains(item.path.as_slice()) {
            return Err(bad(
                &item.raw,
                format!("'{}' is already set", item.path.join(".")),
            ));
        }
        obj.insert(leaf.clone(), item.resolve()?);
        for depth in 1..=item.path.len() {
            by_items.insert(&item.path[..depth]);
        }
    }
    Ok(args)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(s: &str) -> Result<(Vec<String>, Value), String> {
        s.parse::<Item>()
            .and_then(|i| Ok((i.path.clone(), i.resolve()?)))
            .map_err(|e| e.to_string())
    }

    #[test]
    fn table() {
        let ok: &[(&str, &[&str], Value)] = &[
            ("id=io0", &["id"], json!("io0")),
            ("id=", &["id"], json!("")),
            ("size:=1048576", &["size"], json!(1048576)),
            ("big:=18446744073709551615", &["big"], json!(u64::MAX)),
            ("neg:=-1", &["neg"], json!(-1)),
            ("ro:=true", &["ro"], json!(true)),
            ("n:=null", &["n"], json!(null)),
            ("props:={\"a\":1}", &["props"], json!({"a": 1})),
            ("l:= [1, \"x\"] ", &["l"], json!([1, "x"])),
            ("s:=\"text\"", &["s"], json!("text")),
            ("file.driver=file", &["file", "driver"], json!("file")),
            ("a.b.c:=1", &["a", "b", "c"], json!(1)),
            ("v=a=b", &["v"], json!("a=b")),
            ("v=a:=b", &["v"], json!("a:=b")),
            ("v:=\"a=b\"", &["v"], json!("a=b")),
            (r"a\.b=1", &["a.b"], json!("1")),
            (r"a\=b=1", &["a=b"], json!("1")),
            (r"a\:=b=1", &["a:"], json!("b=1")),
            (r"a\:\=b=1", &["a:=b"], json!("1")),
            (r"a\\=1", &["a\\"], json!("1")),
            (r"a\x=1", &["a\\x"], json!("1")),
            ("a:b=1", &["a:b"], json!("1")),
            ("ключ=значение", &["ключ"], json!("значение")),
            ("emoji=🦀", &["emoji"], json!("🦀")),
            ("u:=\"\\u00e9\"", &["u"], json!("é")),
            // An empty key part, and a text starting with '@'.
            ("\"\"=x", &[""], json!("x")),
            ("a.\"\".b=x", &["a", "", "b"], json!("x")),
            ("\\\"\\\"=x", &["\\\"\\\""], json!("x")),
            ("q\"\"=x", &["q\"\""], json!("x")),
            ("at=\\@home", &["at"], json!("@home")),
            ("at=\\@", &["at"], json!("@")),
            ("at=\\x", &["at"], json!("\\x")),
            ("at=a@b", &["at"], json!("a@b")),
            ("max:=18446744073709551615", &["max"], json!(u64::MAX)),
            ("min:=-9223372036854775808", &["min"], json!(i64::MIN)),
            (
                "s:=\"99999999999999999999\"",
                &["s"],
                json!("99999999999999999999"),
            ),
            ("s:=[\"\\\"\", 1e30]", &["s"], json!(["\"", 1e30])),
        ];
        for (input, path, value) in ok {
            let got = parse(input);
            let want: Vec<String> = path.iter().map(|s| s.to_string()).collect();
            assert_eq!(got, Ok((want, value.clone())), "{input:?}");
        }
        let bad: &[(&str, &str)] = &[
            ("", "missing '='"),
            ("novalue", "missing '='"),
            ("a:b", "missing '='"),
            ("=x", "empty key"),
            (":=1", "empty key"),
            (".a=1", "empty part"),
            ("a.=1", "empty part"),
            ("a..b=1", "empty part"),
            ("a\\", "trailing backslash"),
            ("x:=", "invalid JSON after ':='"),
            ("x:=tru", "invalid JSON after ':='"),
            ("x:={", "invalid JSON after ':='"),
            ("x:=1 2", "invalid JSON after ':='"),
            ("x:='a'", "invalid JSON after ':='"),
            ("x=@", "empty file name"),
            ("x=@/nonexistent/file", "cannot read '/nonexistent/file'"),
            ("x:=@/nonexistent/file", "cannot read"),
            ("x=@/dev/zero", "is larger than 67108864 bytes"),
            (
                "x:=18446744073709551616",
                "integer 18446744073709551616 does not fit in 64 bits",
            ),
            ("x:=-9223372036854775809", "does not fit in 64 bits"),
            (
                "x:=[1,{\"a\":100000000000000000000}]",
                "integer 100000000000000000000",
            ),
            ("x:=1e400", "number out of range"),
        ];
        for (input, want) in bad {
            let err = parse(input).expect_err(input);
            assert!(err.contains(want), "{input:?}: {err}");
            assert!(
                err.starts_with(&format!("bad argument '{}'", input.escape_debug())),
                "{err}"
            );
        }
    }

    #[test]
    fn files() {
        let dir = std::env::temp_dir().join(format!("qmp-items-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("v.json");
        std::fs::write(&f, "{\"a\": [1, 2]}\n").unwrap();
        let p = f.display();
        assert_eq!(parse(&format!("x:=@{p}")).unwrap().1, json!({"a": [1, 2]}));
        assert_eq!(
            parse(&format!("x=@{p}")).unwrap().1,
            json!("{\"a\": [1, 2]}\n")
        );
        std::fs::write(&f, "not json").unwrap();
        assert!(
            parse(&format!("x:=@{p}"))
                .unwrap_err()
                .contains("invalid JSON")
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn build(base: Value, items: &[&str]) -> Result<Value, String> {
        let items: Vec<Item> = items.iter().map(|s| s.parse().unwrap()).collect();
        let Value::Object(base) = base else { panic!() };
        build_arguments(base, &items)
            .map(Value::Object)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn nesting_and_conflicts() {
        assert_eq!(
            build(
                json!({}),
                &[
                    "driver=raw",
                    "file.driver=file",
                    "file.filename=/x",
                    "ro:=true"
                ]
            ),
            Ok(json!({"driver": "raw", "file": {"driver": "file", "filename": "/x"}, "ro": true}))
        );
        assert_eq!(
            build(json!({"a": {"x": 1}}), &["a.y:=2"]),
            Ok(json!({"a": {"x": 1, "y": 2}}))
        );
        // Items override --args: a template.
        let overrides: &[(Value, &[&str], Value)] = &[
            (json!({"a": 1}), &["a=2"], json!({"a": "2"})),
            (json!({"a": [1]}), &["a.b=1"], json!({"a": {"b": "1"}})),
            (
                json!({"a": {"b": 1, "c": 2}}),
                &["a.b:=3"],
                json!({"a": {"b": 3, "c": 2}}),
            ),
            (json!({"a": {"b": 1}}), &["a:=5"], json!({"a": 5})),
            (
                json!({"id": "t1", "x": 1}),
                &["id=t2"],
                json!({"id": "t2", "x": 1}),
            ),
        ];
        for (base, items, want) in overrides {
            assert_eq!(build(base.clone(), items).as_ref(), Ok(want), "{items:?}");
        }
        let conflicts: &[(Value, &[&str], &str)] = &[
            (json!({}), &["a=1", "a=2"], "'a' is already set"),
            (
                json!({}),
                &["a=1", "a.b=2"],
                "'a' is already set to a non-object",
            ),
            (json!({}), &["a.b=1", "a=2"], "'a' is already set"),
            (json!({}), &["a.b.c=1", "a.b=2"], "'a.b' is already set"),
        ];
        for (base, items, want) in conflicts {
            let err = build(base.clone(), items).expect_err(want);
            assert!(err.contains(want), "{items:?}: {err}");
        }
    }
}
