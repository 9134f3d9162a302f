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
//! it stands for itself.

use std::str::FromStr;

use serde_json::{Map, Value};

use crate::error::Error;

/// One `key=value` / `key:=json` argument.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    /// The item as written, for error messages.
    pub raw: String,
    /// The key, split at unescaped dots.
    pub path: Vec<String>,
    /// The value to send.
    pub value: Value,
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
    if path.is_empty() {
        return Err(bad(item, "empty file name after '@'"));
    }
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

    /// Parses one item; reads the file for the `@file` forms.
    ///
    /// # Errors
    /// [`Error::Item`] quoting the item: no separator, an empty key or key
    /// part, a trailing backslash, invalid JSON after `:=`, an unreadable file.
    fn from_str(s: &str) -> Result<Self, Error> {
        let mut path = Vec::new();
        let mut part = String::new();
        let mut chars = s.char_indices().peekable();
        let (json, rest) = loop {
            let Some((i, c)) = chars.next() else {
                return Err(bad(s, "missing '=' (text) or ':=' (JSON) after the key"));
            };
            match c {
                '\\' => match chars.next() {
                    None => return Err(bad(s, "trailing backslash in the key")),
                    Some((_, e @ ('=' | ':' | '.' | '\\'))) => part.push(e),
                    Some((_, e)) => {
                        part.push('\\');
                        part.push(e);
                    }
                },
                '.' => {
                    if part.is_empty() {
                        return Err(bad(s, "empty part in a dotted key"));
                    }
                    path.push(std::mem::take(&mut part));
                }
                ':' if chars.peek().map(|&(_, c)| c) == Some('=') => break (true, &s[i + 2..]),
                '=' => break (false, &s[i + 1..]),
                c => part.push(c),
            }
        };
        if part.is_empty() {
            let what = if path.is_empty() {
                "empty key"
            } else {
                "empty part in a dotted key"
            };
            return Err(bad(s, what));
        }
        path.push(part);
        let value = match (json, rest.strip_prefix('@')) {
            (false, None) => Value::String(rest.to_string()),
            (false, Some(file)) => Value::String(read_file(s, file)?),
            (true, file) => {
                let text = match file {
                    Some(file) => read_file(s, file)?,
                    None => rest.to_string(),
                };
                serde_json::from_str(&text)
                    .map_err(|e| bad(s, format!("invalid JSON after ':=': {e}")))?
            }
        };
        Ok(Item {
            raw: s.to_string(),
            path,
            value,
        })
    }
}

/// Builds the arguments object: `base` (from `--args`, or empty) plus `items`.
///
/// # Errors
/// [`Error::Item`] when an item sets a key twice, or nests under a key that
/// holds something other than an object.
pub fn build_arguments(
    base: Map<String, Value>,
    items: &[Item],
) -> Result<Map<String, Value>, Error> {
    let mut args = base;
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
            obj = match slot {
                Value::Object(o) => o,
                _ => {
                    let at = item.path[..=depth].join(".");
                    return Err(bad(
                        &item.raw,
                        format!("'{at}' is already set to a non-object"),
                    ));
                }
            };
        }
        if obj.contains_key(leaf) {
            return Err(bad(
                &item.raw,
                format!("'{}' is already set", item.path.join(".")),
            ));
        }
        obj.insert(leaf.clone(), item.value.clone());
    }
    Ok(args)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(s: &str) -> Result<(Vec<String>, Value), String> {
        s.parse::<Item>()
            .map(|i| (i.path, i.value))
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
        let conflicts: &[(Value, &[&str], &str)] = &[
            (json!({}), &["a=1", "a=2"], "'a' is already set"),
            (
                json!({}),
                &["a=1", "a.b=2"],
                "'a' is already set to a non-object",
            ),
            (json!({}), &["a.b=1", "a=2"], "'a' is already set"),
            (json!({}), &["a.b.c=1", "a.b=2"], "'a.b' is already set"),
            (json!({"a": 1}), &["a=1"], "'a' is already set"),
            (json!({"a": [1]}), &["a.b=1"], "non-object"),
        ];
        for (base, items, want) in conflicts {
            let err = build(base.clone(), items).expect_err(want);
            assert!(err.contains(want), "{items:?}: {err}");
        }
    }
}
